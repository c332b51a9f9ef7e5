"""Callbacks of `distill.Distiller.fit`: code that runs at the start of a fit and after every epoch.

Each epoch's `logs` hold the training loss (`loss`), the learning rate (`lr`) and, with a validation
loader, `val_<metric>` for every metric of `Distiller.evaluate` (`val_loss`, `val_accuracy`, `val_mse`...).
A callback's `on_epoch_end` returns True to stop training; `on_fit_end` runs once after the last epoch,
however training ended. Under several processes every rank runs the
callbacks on the same logs (so all stop together); only rank 0 writes files.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from distill.core.early_stopping import EarlyStopping as Stopper
from distill.errors import DistillError
from distill.io.atomic import atomic_open


class Distiller(Protocol):
    """What a callback may use of the `distill.Distiller` running it."""

    student: nn.Module
    optimizer_: torch.optim.Optimizer
    rank_: int


class Callback:
    """Override what you need; the defaults do nothing."""

    def on_fit_start(self, distiller: Distiller) -> None:
        return None

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> bool | None:
        return None

    def on_fit_end(self, distiller: Distiller) -> None:
        return None


def _monitored(logs: dict[str, float], monitor: str) -> float:
    if monitor not in logs:
        raise DistillError(f"callback monitors {monitor!r}, which the logs do not hold; available: "
                           f"{', '.join(logs)} (val_* needs a val_loader)")
    return logs[monitor]


class EpochEnd(Callback):
    """Call `function(epoch, logs)` after every epoch (logging, plotting, custom stopping rules)."""

    def __init__(self, function: Callable[[int, dict[str, float]], bool | None]) -> None:
        self.function = function

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> bool | None:
        return self.function(epoch, logs)


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs; with
    `restore_best`, the student ends the fit with the weights of its best epoch (whether patience ran out
    or the epochs did). `best_epoch_` is that epoch, numbered from 1 as `logs["epoch"]`. The rule is the
    recipes' own (`distill.core.early_stopping.EarlyStopping`); `state_dict` saves it."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "min", min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.restore_best = restore_best
        self.stopper = Stopper(patience, mode=mode, min_delta=min_delta, restore_best=restore_best)
        self.best_epoch_: int | None = None

    def on_fit_start(self, distiller: Distiller) -> None:
        self.stopper.reset()
        self.best_epoch_ = None

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> bool:
        stop = self.stopper.update(epoch + 1, _monitored(logs, self.monitor), distiller.student)
        self.best_epoch_ = self.stopper.best_epoch or None
        return stop

    def on_fit_end(self, distiller: Distiller) -> None:
        self.stopper.restore(distiller.student)

    def state_dict(self) -> dict[str, Any]:
        return self.stopper.state_dict()

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.stopper.load_state_dict(saved)
        self.best_epoch_ = self.stopper.best_epoch or None


class LRScheduler(Callback):
    """A torch learning-rate scheduler built on the fit's optimiser, stepped after every epoch.

    `factory(optimizer)` builds it, e.g. `lambda opt: torch.optim.lr_scheduler.StepLR(opt, 10, 0.5)`; a
    `ReduceLROnPlateau` is stepped with `logs[monitor]`.
    """

    def __init__(self, factory: Callable[[torch.optim.Optimizer], Any], monitor: str = "val_loss") -> None:
        self.factory, self.monitor = factory, monitor

    def on_fit_start(self, distiller: Distiller) -> None:
        self.scheduler_ = self.factory(distiller.optimizer_)

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
        if isinstance(self.scheduler_, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler_.step(_monitored(logs, self.monitor))
        else:
            self.scheduler_.step()


class GradientClipping(Callback):
    """Clip the global L2 norm of the gradients to `max_norm` before every optimiser step."""

    def __init__(self, max_norm: float) -> None:
        if not max_norm > 0:
            raise DistillError(f"GradientClipping max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm


class Checkpoint(Callback):
    """Save the student's state dict to `path` (atomically, rank 0 only): after every epoch, or with
    `monitor` only when it improves. Load it with `torch.load(path, weights_only=True)`."""

    def __init__(self, path: str | Path, monitor: str | None = None, mode: str = "min") -> None:
        self.path, self.monitor, self.sign = Path(path), monitor, 1.0 if mode == "min" else -1.0

    def on_fit_start(self, distiller: Distiller) -> None:
        self.best_ = math.inf

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor is not None:
            score = self.sign * _monitored(logs, self.monitor)
            if score >= self.best_:
                return
            self.best_ = score
        if distiller.rank_ == 0:
            state = {key: value.detach().cpu() for key, value in distiller.student.state_dict().items()}
            with atomic_open(self.path, "wb") as handle:
                torch.save(state, handle)

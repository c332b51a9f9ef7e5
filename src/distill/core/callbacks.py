"""Callbacks of `distill.Distiller.fit`: code that runs at the start of a fit, after optimiser steps and after
every epoch.

Each epoch's `logs` hold its number (`epoch`, from 1, the number callbacks receive too), the training loss
(`loss`) and its terms, the learning rate (`lr`) and, with a validation loader, `val_<metric>` for every metric
of `Distiller.evaluate` (`val_loss`, `val_accuracy`, `val_mse`...). A callback's `on_epoch_end` returns True
to stop training; `on_fit_end` runs once after the last epoch, however training ended. A callback with state
(`state_dict` / `load_state_dict`) has it saved by `Checkpoint` and restored by `fit(resume=...)`. Under
several processes every rank runs the callbacks on the same logs (so all stop together); only rank 0 writes
files. The loggers (`CSVLogger`, `TensorBoardLogger`, the progress display) are in `distill.core.loggers`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from distill.core.early_stopping import EarlyStopping as Stopper
from distill.core.resume import Unit
from distill.errors import DistillError


class Distiller(Protocol):
    """What a callback may use of the `distill.Distiller` running it."""

    student: nn.Module
    optimizer_: torch.optim.Optimizer
    rank_: int
    history_: dict[str, list[float]]


class Callback:
    """Override what you need; the defaults do nothing."""

    def on_fit_start(self, distiller: Distiller) -> None:
        return None

    def on_step_end(self, distiller: Distiller) -> None:
        """After every optimiser step (with `accumulate=N`, after every N batches)."""
        return None

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> bool | None:
        """After epoch `epoch` (from 1); True stops training."""
        return None

    def on_fit_end(self, distiller: Distiller) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        """What `fit(resume=...)` needs to go on exactly (tensors and plain containers only)."""
        return {}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        return None


def _monitored(logs: dict[str, float], monitor: str) -> float:
    if monitor not in logs:
        raise DistillError(f"callback monitors {monitor!r}, which the logs do not hold; available: "
                           f"{', '.join(logs)} (val_* needs a val_loader)")
    return logs[monitor]


class EpochEnd(Callback):
    """Call `function(epoch, logs)` after every epoch (from 1, as `logs["epoch"]`): logging, plotting, custom
    stopping rules."""

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
        stop = self.stopper.update(epoch, _monitored(logs, self.monitor), distiller.student)
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
    """A torch learning-rate scheduler built on the fit's optimiser, stepped after every epoch
    (`interval="epoch"`) or after every optimiser step (`interval="step"`: warm-up, one-cycle, cosine per step).

    `factory(optimizer)` builds it, e.g. `lambda opt: torch.optim.lr_scheduler.StepLR(opt, 10, 0.5)`; a
    `ReduceLROnPlateau` is stepped with `logs[monitor]` (per epoch only). Its state resumes with the fit.
    """

    def __init__(self, factory: Callable[[torch.optim.Optimizer], Any], monitor: str = "val_loss",
                 interval: str = "epoch") -> None:
        if interval not in ("epoch", "step"):
            raise DistillError(f"LRScheduler interval must be 'epoch' or 'step', got {interval!r}")
        self.factory, self.monitor, self.interval = factory, monitor, interval

    def on_fit_start(self, distiller: Distiller) -> None:
        self.scheduler_ = self.factory(distiller.optimizer_)
        if self.interval == "step" and isinstance(self.scheduler_, torch.optim.lr_scheduler.ReduceLROnPlateau):
            raise DistillError("ReduceLROnPlateau reads an epoch's logs; use LRScheduler(..., interval='epoch')")

    def on_step_end(self, distiller: Distiller) -> None:
        if self.interval == "step":
            self.scheduler_.step()

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
        if self.interval == "step":
            return
        if isinstance(self.scheduler_, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler_.step(_monitored(logs, self.monitor))
        else:
            self.scheduler_.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler_.state_dict()

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.scheduler_.load_state_dict(saved)


class GradientClipping(Callback):
    """Clip the global L2 norm of the gradients to `max_norm` before every optimiser step."""

    def __init__(self, max_norm: float) -> None:
        if not max_norm > 0:
            raise DistillError(f"GradientClipping max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm


class Checkpoint(Callback):
    """Save everything a fit needs to go on to `path` (atomically, rank 0 only): after every epoch, or with
    `monitor` only when it improves. `Distiller.fit(..., resume=path)` continues from it with the same
    numbers as an uninterrupted fit: the student (and adapter), the optimiser, the gradient scaler, torch's
    RNG, every callback's state (early stopping, LR scheduler), the history and the epoch. The file holds
    tensors and plain containers only (read with `weights_only=True`); `Checkpoint.student_state(path)` is the
    student's state dict in it."""

    def __init__(self, path: str | Path, monitor: str | None = None, mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise DistillError(f"Checkpoint mode must be 'min' or 'max', got {mode!r}")
        self.path, self.monitor, self.sign = Path(path), monitor, 1.0 if mode == "min" else -1.0
        self.best_, self.due_ = math.inf, False

    def on_fit_start(self, distiller: Distiller) -> None:
        self.best_ = math.inf

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
        self.due_ = distiller.rank_ == 0
        if self.monitor is not None:
            score = self.sign * _monitored(logs, self.monitor)
            self.due_ = self.due_ and score < self.best_
            self.best_ = min(self.best_, score)

    @staticmethod
    def student_state(path: str | Path) -> dict[str, torch.Tensor]:
        """The student's weights in a Checkpoint file, for `student.load_state_dict`."""
        saved = FitCheckpoint(Path(path)).load()
        if saved is None:
            raise DistillError(f"no checkpoint at {path}")
        prefix = "student."
        return {key[len(prefix):]: value for key, value in saved["model"].items() if key.startswith(prefix)}

    def unit(self) -> Unit:
        """The file as the training loop saves it (`distill.core.train.run_epochs`), when `due_`."""
        return _CheckpointFile(self)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best_}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.best_ = saved["best"]


class FitCheckpoint(Unit):
    """A fit's checkpoint file, as `fit(resume=path)` reads it."""

    prefix = "resume: "

    def advice(self) -> str:
        return "Pass a file a Checkpoint callback wrote, or resume=None to start again"


class _CheckpointFile(FitCheckpoint):
    """A `Checkpoint`'s file: saved (atomically) at the epoch ends its callback marks due."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(checkpoint.path)
        self.checkpoint = checkpoint

    def due(self, final: bool) -> bool:
        return self.checkpoint.due_

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().save(state)

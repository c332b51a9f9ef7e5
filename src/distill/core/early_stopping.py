"""Early stopping: ONE object, `EarlyStopping`, for the recipes' inner validation (`BestEpoch`) and for
`distill.Distiller`'s callback of the same name (`distill.core.callbacks.EarlyStopping`).

Stopping and restoring are separate decisions (as in Lightning's callback): `update` keeps the best epoch's
weights and says whether patience has run out; `restore` puts the best weights back, whenever asked - at a
stop or when the epochs run out. Its state (`state_dict`) is saved with a run's checkpoints and resumes.
Epochs are numbered from 1, as in the curves and the Distiller's logs.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from distill.config import TrainSection
from distill.core.task import FoldData, Task
from distill.core.train import predict
from distill.errors import DistillError


class EarlyStopping:
    """Keep the weights of the epoch with the best score (lowest; `mode="max"`: highest) and stop after
    `patience` epochs without an improvement of more than `min_delta` (Prechelt 1998, "Early stopping - but
    when?"); `patience` None never stops. `restore_best` False keeps no weights (stopping only)."""

    def __init__(self, patience: int | None, *, mode: str = "min", min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        if mode not in ("min", "max"):
            raise DistillError(f"EarlyStopping mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.mode, self.min_delta, self.restore_best = patience, mode, min_delta, restore_best
        self.reset()

    def reset(self) -> None:
        self.best, self.best_epoch, self.waited = math.inf, 0, 0
        self.scores: list[float] = []
        self.state: dict[str, torch.Tensor] = {}

    def update(self, epoch: int, value: float, model: nn.Module) -> bool:
        """Record epoch `epoch`'s (1-based) `value`; True when training should stop."""
        self.scores.append(value)
        score = value if self.mode == "min" else -value
        if score < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = score, epoch, 0
            if self.restore_best:
                self.state = {key: tensor.detach().clone() for key, tensor in model.state_dict().items()}
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    @property
    def best_value(self) -> float:
        """The best score as given (not negated in mode "max")."""
        return self.best if self.mode == "min" else -self.best

    def restore(self, model: nn.Module) -> None:
        """Put the best epoch's weights back (nothing kept: nothing done)."""
        if self.state:
            model.load_state_dict(self.state)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to go on exactly (`distill.core.resume`)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited, "scores": list(self.scores),
                "state": self.state}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.waited = saved["best"], saved["best_epoch"], saved["waited"]
        self.scores, self.state = list(saved["scores"]), dict(saved["state"])


class BestEpoch(EarlyStopping):
    """Early stopping on a fold's inner validation windows: after every epoch the model is scored on its role's
    inputs of them (`FoldData.val_inputs`: a privileged teacher's `teacher_x_val`, else `x_val`) with the task's
    curve metric (lower is better); `restore` puts the best epoch's weights back and records the validation curve
    beside the others. With `patience` None the model trains every epoch and still ends on its best one."""

    def __init__(self, model: nn.Module, fold: FoldData, task: Task, patience: int | None,
                 role: str = "student") -> None:
        x_val = fold.val_inputs(role)
        if x_val is None or fold.y_val is None:
            raise DistillError("early stopping on inner validation needs the fold's validation windows")
        super().__init__(patience)
        self.model, self.fold, self.task = model, fold, task
        self.x_val, self.y_val = x_val, fold.y_val

    def __call__(self, epoch: int) -> bool:
        """After 0-based epoch `epoch`: score it; True (stop) when patience has run out."""
        outputs = predict(self.model, self.x_val)
        score = self.task.metrics(outputs, self.y_val, self.fold)[self.task.curve_metric]
        return self.update(epoch + 1, score, self.model)

    def restore_into(self, curves: dict[str, Any]) -> None:
        """Put the best epoch's weights back and record the validation curve beside the others."""
        self.restore(self.model)
        curves.update(val=self.scores, best_epoch=self.best_epoch, best_val=self.best)


def best_epoch_stoppers(models: list[nn.Module], folds: list[FoldData], task: Task, train: TrainSection,
                        role: str = "student") -> list[BestEpoch]:
    """One early stopper per fold model (of `role`: "teacher" or a student's name) when the folds carry inner
    validation windows, else none."""
    if folds[0].x_val is None:
        return []
    return [BestEpoch(model, fold, task, train.patience, role) for model, fold in zip(models, folds)]

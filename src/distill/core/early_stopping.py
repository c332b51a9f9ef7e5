"""Early stopping on a fold's inner validation windows: keep every model's best epoch, stop when it stalls."""
from __future__ import annotations

import torch
from torch import nn

from distill.config import TrainSection
from distill.core.task import FoldData, Task
from distill.core.train import predict


class BestEpoch:
    """Early stopping on the fold's inner validation windows (Prechelt 1998, "Early stopping - but when?").

    After every epoch the model is scored on `x_val` with the task's curve metric (lower is better); the best
    epoch's weights are kept and put back by `restore`. Returns True (stop) after `patience` epochs without
    improvement; with `patience` None the model trains every epoch and still ends on its best one.
    """

    def __init__(self, model: nn.Module, fold: FoldData, task: Task, patience: int | None) -> None:
        self.model, self.fold, self.task, self.patience = model, fold, task, patience
        self.best, self.best_epoch, self.waited, self.scores = float("inf"), 0, 0, []
        self.state: dict[str, torch.Tensor] = {}

    def __call__(self, epoch: int) -> bool:
        outputs = predict(self.model, self.fold.x_val)
        score = self.task.metrics(outputs, self.fold.y_val, self.fold)[self.task.curve_metric]
        self.scores.append(score)
        if score < self.best:
            self.best, self.best_epoch, self.waited = score, epoch + 1, 0
            self.state = {key: value.detach().clone() for key, value in self.model.state_dict().items()}
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def state_dict(self) -> dict:
        """What a resumed run needs to go on exactly (`distill.core.resume`)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited, "scores": list(self.scores),
                "state": self.state}

    def load_state_dict(self, saved: dict) -> None:
        self.best, self.best_epoch, self.waited = saved["best"], saved["best_epoch"], saved["waited"]
        self.scores, self.state = list(saved["scores"]), dict(saved["state"])

    def restore(self, curves: dict[str, list[float]]) -> None:
        """Put the best epoch's weights back and record the validation curve beside the others."""
        if self.state:
            self.model.load_state_dict(self.state)
        curves.update(val=self.scores, best_epoch=self.best_epoch, best_val=self.best)


def best_epoch_stoppers(models: list[nn.Module], folds: list[FoldData], task: Task, train: TrainSection) -> list[BestEpoch]:
    """One early stopper per fold model when the folds carry inner validation windows, else none."""
    if folds[0].x_val is None:
        return []
    return [BestEpoch(model, fold, task, train.patience) for model, fold in zip(models, folds)]

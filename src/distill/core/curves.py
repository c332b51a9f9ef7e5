"""A training loop's learning curves (the task's curve metric on train and test, every few epochs, and a distilled
student's named loss terms) and what its checkpoint keeps beside the weights (`loop_state`)."""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from distill.core.task import FoldData, Task
from distill.core.train import predict
from distill.losses import TermLog


class LearningCurves:
    """Train/test curves of the task's curve metric against the truth, in eval mode, every `every`
    epochs and after the last; `values["epoch"]` holds the (1-based) epochs scored."""

    def __init__(self, model: nn.Module, fold: FoldData, task: Task, role: str, epochs: int, every: int) -> None:
        self.model, self.fold, self.task = model, fold, task
        self.x_train, self.x_test = fold.inputs(role)
        self.epochs, self.every = epochs, every
        self.values: dict[str, list[float]] = {"train": [], "test": [], "epoch": []}

    def __call__(self, epoch: int) -> None:
        if (epoch + 1) % self.every and epoch + 1 != self.epochs:
            return
        self.values["epoch"].append(epoch + 1)
        for part, x, y in (("train", self.x_train, self.fold.y_train),
                           ("test", self.x_test, self.fold.y_test)):
            outputs = predict(self.model, x)
            for key, value in self.task.curve_scores(outputs, y, self.fold).items():
                self.values.setdefault(part if key == self.task.curve_metric else f"{part}_{key}", []).append(value)

    def log_terms(self, terms: TermLog | None) -> None:
        """Every epoch: a distilled student's named loss terms (loss_hard, loss_kd, ...), each the mean over the
        epoch's training steps, as the Distiller's history has them."""
        for name, value in ({} if terms is None else terms.epoch_means()).items():
            self.values.setdefault(name, []).append(value)


def loop_state(curves: list[LearningCurves], stoppers: list) -> tuple[Callable[[], dict], Callable[[dict], None]]:
    """What a training loop's checkpoint keeps beside the weights: its curves and early stoppers."""
    def save() -> dict:
        return {"curves": [{key: list(value) for key, value in curve.values.items()} for curve in curves],
                "stoppers": [stopper.state_dict() for stopper in stoppers]}

    def load(saved: dict) -> None:
        for curve, values in zip(curves, saved["curves"], strict=True):
            curve.values = values
        for stopper, state in zip(stoppers, saved["stoppers"], strict=True):
            stopper.load_state_dict(state)
    return save, load

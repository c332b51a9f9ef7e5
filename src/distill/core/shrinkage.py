"""Shrinking each fold's teacher towards ridge regression, the weight chosen on that fold's inner validation.

Per fold, with the teacher's inputs flattened (the windows as the teacher reads them, in model units; a privileged
teacher's on its own inputs `teacher_x_train` / `teacher_x_val`, so the ridge anchor is privileged too):
1. ridge on the fitting windows, its penalty chosen on the inner validation windows (`distill.core.ridge`,
   the forecasting recipes' `ridge` baseline);
2. w in {0, 0.1, ..., 1} minimising the mean squared error (the teacher's training loss) of
   w * teacher(x) + (1 - w) * ridge(x) on the inner validation windows;
3. the teacher becomes `Shrunk` (distill.models.shrunk): the students learn from, and the report scores, the mix.

A teacher that fails on a fold (a wave forecast three times too large) is pulled towards the linear anchor there,
and a good one is left alone; nothing is chosen on test windows. The final teacher, fitted on every window with
nothing left to validate on, takes the median of the folds' weights and penalties (as its epochs, the median of
their best epochs: `distill.core.final_fit`).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from distill.config import ModelSpec
from distill.core.ridge import fit_ridge
from distill.core.task import FoldData
from distill.core.train import predict
from distill.errors import DistillError
from distill.models.shrunk import Shrunk

WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)


@dataclass
class Shrinkage:
    """One fold's shrinkage: the teacher's weight, the ridge penalty, and the inner-validation MSE of each."""

    weight: float
    ridge_alpha: float
    validation_mse: dict[str, float]

    def describe(self) -> dict:
        return {"weight": self.weight, "ridge_alpha": self.ridge_alpha, "validation_mse": self.validation_mse}


def _rows(x) -> np.ndarray:
    """Every row of a tensor or window set as a (rows, features) array."""
    return x[torch.arange(len(x))].flatten(1).cpu().numpy() if len(x) else np.zeros((0, 0), dtype=np.float32)


def _anchor_tensors(ridge, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    coef = torch.as_tensor(np.atleast_2d(ridge.coef_), dtype=like.dtype)
    return coef, torch.as_tensor(np.atleast_1d(ridge.intercept_), dtype=like.dtype)


def shrink_spec(spec: ModelSpec) -> ModelSpec:
    """The spec a shrunk teacher rebuilds from."""
    return ModelSpec(model="shrunk", options={"base": spec.model, "base_options": dict(spec.options)}, lr=spec.lr,
                     weight_decay=spec.weight_decay, epochs=spec.epochs)


def base_spec(spec: ModelSpec) -> ModelSpec:
    """The trained model inside a shrunk teacher's spec."""
    options = spec.options
    return ModelSpec(model=options["base"], options=dict(options.get("base_options") or {}), lr=spec.lr,
                     weight_decay=spec.weight_decay, epochs=spec.epochs)


def check_before_training(shrink: str, task_name: str, folds: list[FoldData]) -> None:
    """Shrinking mixes point forecasts (a regression teacher) and chooses its weight on inner validation."""
    if shrink == "none":
        return
    if task_name != "regression":
        raise DistillError(f"teacher.shrink: {shrink} mixes point forecasts; this run's task is {task_name} "
                           "(use teacher.shrink: none)")
    for fold in folds:
        check_shrinkable(fold)


def check_shrinkable(fold: FoldData) -> None:
    """Shrinking needs inner validation windows to choose its weight on."""
    if fold.x_val is None or fold.y_val is None or len(fold.x_val) == 0:
        raise DistillError("teacher.shrink chooses its weight on inner validation windows; this run has none "
                           "(set cv.inner_validation > 0)")


def _check_outputs(outputs: torch.Tensor) -> None:
    if outputs.ndim != 2:
        raise DistillError("teacher.shrink mixes point forecasts; this teacher's outputs are "
                           f"{tuple(outputs.shape[1:])} per row (quantiles or classes): use teacher.shrink: none")


def shrink_teacher(teacher: nn.Module, spec: ModelSpec, fold: FoldData) -> tuple[Shrunk, Shrinkage]:
    """`teacher` (trained on `fold`, built from `spec`) shrunk towards ridge by the weight its inner validation
    windows prefer; see the module docstring."""
    x_train, _ = fold.inputs("teacher")
    check_shrinkable(fold)
    x_val = fold.val_inputs("teacher")
    assert x_val is not None and fold.y_val is not None  # checked above
    outputs = predict(teacher, x_val).cpu()
    _check_outputs(outputs)
    val_x, val_y = _rows(x_val), fold.y_val.cpu().numpy()
    ridge = fit_ridge(_rows(x_train), fold.y_train.cpu().numpy(), val_x, val_y)
    teacher_val, ridge_val = outputs.numpy(), ridge.predict(val_x)
    errors = [float(((w * teacher_val + (1 - w) * ridge_val - val_y) ** 2).mean()) for w in WEIGHTS]
    weight = float(WEIGHTS[int(np.argmin(errors))])
    coef, intercept = _anchor_tensors(ridge, outputs)
    shrunk = Shrunk.of(teacher, coef, intercept, weight, tuple(x_train.shape[1:]), spec.model, dict(spec.options))
    return shrunk.to(fold.y_train.device), Shrinkage(weight, float(ridge.alpha), {"teacher": errors[-1], "ridge": errors[0],
                                                           "shrunk": min(errors)})


def shrink_final(teacher: nn.Module, spec: ModelSpec, data: FoldData, folds: list[dict]) -> Shrunk:
    """The final teacher (fitted on every window of `data`) shrunk towards a ridge on every window, with the
    median of the folds' weights and penalties (`folds`: their `Shrinkage.describe()`)."""
    weight = float(statistics.median(entry["weight"] for entry in folds))
    alpha = float(statistics.median(entry["ridge_alpha"] for entry in folds))
    x = _rows(data.inputs("teacher")[0])
    y = data.y_train.cpu().numpy()
    ridge = fit_ridge(x, y, x, y, alphas=(alpha,))
    coef, intercept = _anchor_tensors(ridge, data.y_train.cpu())
    return Shrunk.of(teacher, coef, intercept, weight, tuple(data.inputs("teacher")[0].shape[1:]), spec.model,
                     dict(spec.options)).to(data.y_train.device)

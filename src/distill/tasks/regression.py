"""The regression task of the shared protocol: MSE losses, the teacher's outputs as guide (`Guide`), the
`regression` method's named terms for students, MSE / MAE scores."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.config import ModelSpec, StudentSpec
from distill.core.task import FoldData, Task
from distill.core.teacher_labels import with_teacher_labels
from distill.core.train import predict
from distill.errors import DistillError
from distill.losses import LossTerms, timedistill_terms, total
from distill.methods import Guide, Regression
from distill.tasks.specs import DistilledStudentSpec

RegressionStudent = StudentSpec | DistilledStudentSpec  # forecasting students; privileged ones


def student_terms(outputs: torch.Tensor, targets: torch.Tensor, guide: Guide, spec: RegressionStudent) -> LossTerms:
    """The `regression` method's `loss_hard` and `loss_kd`, then, for a forecasting student with `timedistill`
    weights, TimeDistill's `loss_multiscale` and `loss_spectral` on its forecasts against the teacher's
    (`distill.losses.timedistill`). Each term is a mean over every leading dimension of (..., horizon) tensors,
    so on K stacked folds it is the mean of the folds' own terms."""
    terms = Regression(spec.alpha).losses(outputs, targets, guide)
    extra = getattr(spec, "timedistill", None)
    if extra is None or not extra.used:
        return terms
    if guide.outputs is None:
        raise DistillError("timedistill's terms need the teacher's forecasts; this student was given none")
    return terms | timedistill_terms(outputs, guide.outputs, scales=extra.scales,
                                     multiscale_weight=extra.multiscale_weight,
                                     spectral_weight=extra.spectral_weight, temperature=extra.temperature)


class RegressionTask(Task[ModelSpec, RegressionStudent]):
    """Multi-output regression scored on scaled units (MSE, MAE) and original units (MAE x range).

    With `seed_sums`, also the seed study's figure: the SUM over samples of per-sample MSE.
    """

    name = "regression"
    curve_metric = "mse"
    stacks_folds = True

    def __init__(self, seed_sums: bool = False) -> None:
        self.seed_sums = seed_sums

    def output_dim(self, spec: ModelSpec, fold: FoldData | None) -> int:
        if fold is None:
            raise DistillError("a regression model's output count is the fold's horizon; no fold was given")
        return int(fold.y_train.shape[1])

    def teacher_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                     spec: ModelSpec) -> torch.Tensor:
        return F.mse_loss(model(x), targets)

    def student_fold(self, fold: FoldData, spec: RegressionStudent, teacher: nn.Module, seed: int) -> FoldData:
        """With `teacher_labelled` windows (forecasting students), the fold's rows plus those, the teacher's
        forecasts their targets (`distill.core.teacher_labels`)."""
        sources = getattr(spec, "teacher_labelled", None)
        if sources is None or not sources.used:
            return fold
        return with_teacher_labels(fold, teacher, sources, seed)

    def guide(self, teacher: nn.Module, x: torch.Tensor, spec: RegressionStudent) -> Guide:
        return Guide(predict(teacher, x))

    def student_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide,
                     spec: RegressionStudent) -> LossTerms:
        return student_terms(model(x), targets, guide, spec)

    def stacked_teacher_loss(self, outputs: torch.Tensor, targets: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
        """Fold-parallel training: the sum over folds of each fold's own loss; (K, batch, out) tensors.

        Every fold draws a batch of the same size, so the mean over all K * batch * out elements is the mean
        of the folds' means, and K times it is their sum: one vectorised loss instead of K.
        """
        return len(outputs) * F.mse_loss(outputs, targets)

    def stacked_student_loss(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
                             spec: RegressionStudent) -> torch.Tensor:
        """As `stacked_teacher_loss`, with the student's terms (each a mean over all folds' rows)."""
        return len(outputs) * total(student_terms(outputs, targets, guide, spec))

    def stacked_student_terms(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
                              spec: RegressionStudent) -> list[LossTerms]:
        """Fold k's terms on its own rows of the stacked (K, batch, horizon) outputs."""
        return [student_terms(outputs[k], targets[k], Guide(None if guide.outputs is None else guide.outputs[k]),
                              spec) for k in range(len(outputs))]

    def _errors(self, outputs: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
        error = outputs - reference  # (rows, horizon)
        scores = {"mse": float(error.pow(2).mean()), "mae": float(error.abs().mean())}
        if self.seed_sums:
            scores["mse_sum"] = float(error.pow(2).mean(dim=1).sum())
        return scores

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        scores = self._errors(outputs, targets)
        scores["mae_original"] = scores["mae"] * fold.units
        return scores

    def fidelity(self, outputs: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
        return self._errors(outputs, teacher)

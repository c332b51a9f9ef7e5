"""Distillation for regression: a convex mix of fitting the truth and fitting the teacher."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses.checks import check_weight
from distill.losses.terms import LossTerms, total


def regression_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, *,
                                 lam: float) -> torch.Tensor:
    """L = (1 - lambda) * MSE(student, truth) + lambda * MSE(student, teacher).

    lambda = 1 trains on the teacher's outputs only (the seed's S1, "student_kd"); lambda = 0 on the truth
    only (S2, "student_scratch"). Regression form of Hinton et al. 2015 / generalized distillation
    (Lopez-Paz et al. 2016), with squared error in place of cross-entropy. Terms with zero weight are skipped.
    The tensors come in the order of every loss here (student, teacher, truth); weights are keyword-only, so a
    swapped call cannot run silently with a weight in a tensor's place.
    """
    return total(regression_distillation_terms(student, teacher, targets, lam=lam))


def regression_distillation_terms(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, *,
                                  lam: float) -> LossTerms:
    """`regression_distillation_loss` as its named terms: `loss_hard` (1 - lambda) MSE(truth) and `loss_kd`
    lambda MSE(teacher)."""
    check_weight("lambda", lam)
    terms = {}
    if lam < 1.0:
        terms["loss_hard"] = (1.0 - lam) * F.mse_loss(student, targets)
    if lam > 0.0:
        terms["loss_kd"] = lam * F.mse_loss(student, teacher)
    return terms


class RegressionDistillationLoss(nn.Module):
    """Module form of `regression_distillation_loss` with a fixed lambda."""

    def __init__(self, lam: float) -> None:
        super().__init__()
        self.lam = check_weight("lambda", lam)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return regression_distillation_loss(student, teacher, targets, lam=self.lam)

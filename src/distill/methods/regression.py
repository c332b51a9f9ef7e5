"""`regression`: the lambda mix of the truth and the teacher for value targets (the seed study's S1/S2)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.losses import LossTerms, check_weight, regression_distillation_terms
from distill.methods.base import Guide, Method, teacher_outputs


@dataclass(frozen=True)
class Regression(Method):
    """loss_hard = (1 - alpha) MSE(student, truth), loss_kd = alpha MSE(student, teacher)
    (`distill.losses.regression`; Hinton et al. 2015 / Lopez-Paz et al. 2016 with squared error). alpha = 1
    learns from the teacher alone (the seed's "student_kd"), alpha = 0 from the truth alone."""

    name = "regression"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        check_weight("alpha", self.alpha)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        teacher = teacher_outputs(guide, self.name) if self.alpha > 0 else outputs
        return regression_distillation_terms(outputs, teacher, targets, lam=self.alpha)

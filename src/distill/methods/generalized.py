"""`generalized`: Lopez-Paz, Bottou, Schoelkopf, Vapnik 2016, "Unifying distillation and privileged information"."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.losses import (
    LossTerms,
    check_temperature,
    check_weight,
    generalized_distillation_terms,
    regression_distillation_terms,
)
from distill.methods.base import Guide, Method, teacher_outputs


@dataclass(frozen=True)
class Generalized(Method):
    """The teacher reads privileged inputs the student never sees. Classes: loss_hard = (1 - alpha) CE(y),
    loss_kd = alpha T^2 CE(softmax(z_t / T), softmax(z_s)) (`distill.losses.generalized`, eq. 4 and their code);
    `values` (regression targets): the lambda mix of `distill.losses.regression`, T unused. Defaults: their
    synthetic experiments' lambda = T = 1."""

    name = "generalized"
    privileged = True
    temperature: float = 1.0
    alpha: float = 1.0
    values: bool = False

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        check_weight("alpha", self.alpha)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        teacher = teacher_outputs(guide, self.name)
        if self.values:
            return regression_distillation_terms(outputs, teacher, targets, lam=self.alpha)
        return generalized_distillation_terms(outputs, teacher, targets, temperature=self.temperature, lam=self.alpha)

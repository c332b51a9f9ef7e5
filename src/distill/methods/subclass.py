"""`subclass`: Mueller, Kornblith, Hinton 2020, "Subclass distillation"."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.errors import DistillError
from distill.losses import LossTerms, check_temperature, check_weight, subclass_distillation_terms
from distill.methods.base import Guide, Method, teacher_outputs


@dataclass(frozen=True)
class Subclass(Method):
    """Match the teacher's classes x subclasses distribution: loss_kd = alpha T^2 CE(softmax(z_t / T),
    softmax(z_s / T)) over all subclass outputs, loss_hard = (1 - alpha) CE(y, p_s(class))
    (`distill.losses.subclass`). Defaults: seed 003's MNIST setting T = 4, alpha = 0.5."""

    name = "subclass"
    temperature: float = 4.0
    alpha: float = 0.5
    classes: int = 0
    subclasses: int = 1

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        check_weight("alpha", self.alpha)
        if self.classes < 1:
            raise DistillError("method 'subclass' needs classes (the head has classes x subclasses outputs)")

    def guide(self, outputs: torch.Tensor, features: torch.Tensor | None = None) -> Guide:
        if outputs.shape[-1] != self.classes * self.subclasses:
            raise DistillError(f"class count mismatch: the teacher head has {outputs.shape[-1]} outputs, the "
                               f"student's {self.classes * self.subclasses} ({self.classes} classes x "
                               f"{self.subclasses} subclasses)")
        return Guide(outputs, features)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        return subclass_distillation_terms(outputs, teacher_outputs(guide, self.name), targets, classes=self.classes,
                                           subclasses=self.subclasses, temperature=self.temperature,
                                           alpha=self.alpha)

"""`soft_target`: Hinton, Vinyals, Dean 2015, "Distilling the knowledge in a neural network"; with `standardise`,
Sun et al. 2024, "Logit standardization in knowledge distillation"."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.losses import LossTerms, check_temperature, check_weight, soft_target_terms
from distill.methods.base import Guide, Method, class_log_probs, teacher_outputs


@dataclass(frozen=True)
class SoftTarget(Method):
    """loss_hard = (1 - alpha) CE(y, p_s), loss_kd = alpha T^2 KL(p_t^T || p_s^T) on CLASS distributions
    (`distill.losses.soft_target`): a head of classes x subclasses outputs is first summed per class, so a
    subclass teacher can teach a plain student. `classes` None reads outputs as class logits. `standardise`
    compares z-scored logits in the KL term (`distill.losses.standardise`, Sun et al. 2024; the authors pair it
    with temperature 2 and CE : KD = 0.1 : 9, i.e. alpha 0.989)."""

    name = "soft_target"
    temperature: float = 4.0
    alpha: float = 0.9
    classes: int | None = None
    standardise: bool = False

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        check_weight("alpha", self.alpha)

    def guide(self, outputs: torch.Tensor, features: torch.Tensor | None = None) -> Guide:
        return Guide(class_log_probs(outputs, self.classes), features)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        return soft_target_terms(class_log_probs(outputs, self.classes), teacher_outputs(guide, self.name), targets,
                                 temperature=self.temperature, alpha=self.alpha, standardise=self.standardise)

"""`quantile`: the alpha mix of the truth and the teacher's quantiles for quantile forecasts (issue 22)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.losses import LossTerms, check_weight
from distill.losses.pinball import HUB_LEVELS, quantile_distillation_terms
from distill.methods.base import Guide, Method, teacher_outputs


@dataclass(frozen=True)
class Quantile(Method):
    """loss_hard = (1 - alpha) pinball(q_S, truth), loss_kd = alpha mean_j rho_tau_j(q_T - q_S)
    (`distill.losses.pinball.quantile_distillation_loss`; Koenker & Bassett 1978 for the pinball loss, the mix of
    Hinton et al. 2015 / Lopez-Paz et al. 2016). Outputs (batch, horizon, levels); alpha = 1 learns the teacher's
    distribution alone (student_kd), alpha = 0 the truth alone (student_scratch)."""

    name = "quantile"
    alpha: float = 1.0
    levels: tuple[float, ...] = HUB_LEVELS

    def __post_init__(self) -> None:
        check_weight("alpha", self.alpha)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        teacher = teacher_outputs(guide, self.name) if self.alpha > 0 else outputs
        return quantile_distillation_terms(outputs, teacher, targets, lam=self.alpha,
                                           levels=torch.tensor(self.levels))

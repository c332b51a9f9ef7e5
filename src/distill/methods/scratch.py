"""`none`: the student learns from the truth alone (the "from scratch" baseline beside every distilled student)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses import LossTerms
from distill.methods.base import Guide, Method, class_log_probs


@dataclass(frozen=True)
class Scratch(Method):
    """L = CE(y, p_s(class)) for class labels (a subclass head's probabilities summed per class), or
    MSE(student, truth) with `values` (regression). No teacher, so no paper: the control of every comparison."""

    name = "none"
    uses_teacher = False
    classes: int | None = None
    values: bool = False

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        if self.values:
            return {"loss_hard": F.mse_loss(outputs, targets)}
        return {"loss_hard": F.nll_loss(class_log_probs(outputs, self.classes), targets)}

"""Hint (FitNets) feature distillation: the student's hooked features, mapped to the teacher's channels by
a learned adapter (the regressor), should equal the teacher's hooked features."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError


def hint_loss(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """L = mean over elements of (r(f_s) - f_t)^2, with r(f_s) the adapted student features.

    Romero, Ballas, Kahou, Chassang, Gatta, Bengio 2015, "FitNets: hints for thin deep nets". The caller
    applies the regressor r (a learned 1x1 map when the channel counts differ, see
    `distill.core.features.make_adapter`); the shapes must then match exactly.
    """
    if student_features.shape != teacher_features.shape:
        raise DistillError(f"hint features differ in shape: student {tuple(student_features.shape)}, teacher "
                           f"{tuple(teacher_features.shape)}; an adapter maps channels, not spatial sizes")
    return F.mse_loss(student_features, teacher_features)


class HintLoss(nn.Module):
    """Module form of `hint_loss`."""

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return hint_loss(student_features, teacher_features)

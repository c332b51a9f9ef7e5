"""Variational information distillation: maximise a variational lower bound on the mutual information
between teacher and student features, a Gaussian whose mean a small regressor predicts from the student
and whose per-channel variance is learned."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses.attention import pool_to_common_size


def vid_loss(student_mean: torch.Tensor, teacher_features: torch.Tensor, *, log_scale: torch.Tensor,
             eps: float = 1e-5) -> torch.Tensor:
    """L = mean over batch, channels, positions of 0.5 * ((t - mu(s))^2 / sigma_c^2 + log sigma_c^2).

    Ahn, Hu, Damianou, Lawrence, Dai 2019, "Variational information distillation for knowledge transfer":
    the negative log-likelihood of the teacher's features t under N(mu(s), sigma_c^2), up to a constant.
    mu(s) is the regressor's prediction from the student (`student_mean`, shaped as t), and
    sigma_c^2 = softplus(log_scale_c) + eps per teacher channel c (dim 1). The paper's total is
    CE + lambda * sum over tapped layers of this (mdistiller: lambda = 1).
    """
    if student_mean.shape != teacher_features.shape:
        raise DistillError(f"VID: the predicted mean {tuple(student_mean.shape)} must have the teacher features' "
                           f"shape {tuple(teacher_features.shape)}")
    if log_scale.shape != (teacher_features.shape[1],):
        raise DistillError(f"VID: one variance per teacher channel needed ({teacher_features.shape[1]}), "
                           f"got {tuple(log_scale.shape)}")
    variance = F.softplus(log_scale) + eps
    variance = variance.view(1, -1, *([1] * (teacher_features.dim() - 2))).to(student_mean)
    return (0.5 * ((student_mean - teacher_features) ** 2 / variance + torch.log(variance))).mean()


def _pointwise(spatial_dims: int, channels_in: int, channels_out: int) -> nn.Module:
    """A 1x1 map on (batch, channels, *spatial): Linear for vectors, Conv1d / Conv2d for maps."""
    if spatial_dims == 0:
        return nn.Linear(channels_in, channels_out, bias=False)
    conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
    return conv(channels_in, channels_out, kernel_size=1, bias=False)


class VIDLoss(nn.Module):
    """Module form of `vid_loss`: holds the learnable regressor mu (1x1 maps s->t, ReLU, t->t, ReLU, t->t,
    as the authors') and the per-channel log_scale, initialised so that every variance starts at
    `initial_variance` (5, as mdistiller). Its parameters must be optimised with the student's."""

    def __init__(self, student_channels: int, teacher_channels: int, *, spatial_dims: int = 2,
                 initial_variance: float = 5.0, eps: float = 1e-5) -> None:
        super().__init__()
        if spatial_dims not in (0, 1, 2):
            raise DistillError(f"VID spatial_dims must be 0 (vectors), 1 (sequences) or 2 (images), got {spatial_dims}")
        if not initial_variance > eps:
            raise DistillError(f"VID initial_variance must be > eps ({eps}), got {initial_variance}")
        self.spatial_dims, self.eps = spatial_dims, eps
        self.regressor = nn.Sequential(_pointwise(spatial_dims, student_channels, teacher_channels), nn.ReLU(),
                                       _pointwise(spatial_dims, teacher_channels, teacher_channels), nn.ReLU(),
                                       _pointwise(spatial_dims, teacher_channels, teacher_channels))
        inverse_softplus = math.log(math.expm1(initial_variance - eps))
        self.log_scale = nn.Parameter(torch.full((teacher_channels,), inverse_softplus))

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        rank = 2 + self.spatial_dims
        if student_features.dim() != rank or teacher_features.dim() != rank:
            raise DistillError(f"VID was built for rank-{rank} features (spatial_dims={self.spatial_dims}), got "
                               f"student {tuple(student_features.shape)} and teacher {tuple(teacher_features.shape)}")
        if student_features.shape[0] != teacher_features.shape[0]:
            raise DistillError(f"batch size mismatch: student features have {student_features.shape[0]} examples, "
                               f"teacher {teacher_features.shape[0]}")
        if self.spatial_dims:
            student_features, teacher_features = pool_to_common_size(student_features, teacher_features)
        return vid_loss(self.regressor(student_features), teacher_features, log_scale=self.log_scale, eps=self.eps)

"""Attention transfer: the student's spatial attention maps (where its channels fire) should match the
teacher's. Channel counts may differ; the larger spatial size is pooled to the smaller."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError


def check_feature_maps(student: torch.Tensor, teacher: torch.Tensor, method: str) -> None:
    """Feature maps must be (batch, channels, length) or (batch, channels, H, W), of one rank and batch."""
    if student.dim() not in (3, 4) or teacher.dim() != student.dim():
        raise DistillError(f"{method} needs feature maps of one rank, (batch, channels, length) or "
                           f"(batch, channels, H, W), got student {tuple(student.shape)} and teacher "
                           f"{tuple(teacher.shape)}")
    if student.shape[0] != teacher.shape[0]:
        raise DistillError(f"batch size mismatch: student features have {student.shape[0]} examples, "
                           f"teacher {teacher.shape[0]}")


def pool_to_common_size(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive-average-pool the larger of two (batch, channels, *spatial) maps to the smaller, per dimension."""
    size = [min(s, t) for s, t in zip(student.shape[2:], teacher.shape[2:])]

    def pool(x: torch.Tensor) -> torch.Tensor:
        if list(x.shape[2:]) == size:
            return x
        return F.adaptive_avg_pool1d(x, size[0]) if len(size) == 1 else F.adaptive_avg_pool2d(x, (size[0], size[1]))

    return pool(student), pool(teacher)


def attention_map(features: torch.Tensor, p: float) -> torch.Tensor:
    """(batch, channels, *spatial) -> (batch, positions): mean_c |A_c|^p, flattened, of unit L2 norm."""
    return F.normalize(features.pow(p).mean(1).flatten(1))


def attention_transfer_loss(student_features: torch.Tensor, teacher_features: torch.Tensor, *,
                            p: float = 2.0) -> torch.Tensor:
    """L = mean over batch and positions of (Q_s - Q_t)^2, Q = vec(mean_c A_c^p) / ||vec(mean_c A_c^p)||_2.

    Zagoruyko & Komodakis 2017, "Paying more attention to attention: improving the performance of
    convolutional neural networks via attention transfer" (their code's `at_loss`, with p = 2). A_c is
    channel c's activation map; maps are (batch, channels, H, W) or (batch, channels, length) and the
    larger spatial size is adaptive-average-pooled to the smaller. The authors' code adds
    (beta / 2) * sum over tapped stages of this to the CE with beta = 1000; mdistiller weights it by 1000.
    """
    check_feature_maps(student_features, teacher_features, "attention transfer")
    student_features, teacher_features = pool_to_common_size(student_features, teacher_features)
    return (attention_map(student_features, p) - attention_map(teacher_features, p)).pow(2).mean()


class AttentionTransferLoss(nn.Module):
    """Module form of `attention_transfer_loss` with a fixed exponent p."""

    def __init__(self, *, p: float = 2.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return attention_transfer_loss(student_features, teacher_features, p=self.p)

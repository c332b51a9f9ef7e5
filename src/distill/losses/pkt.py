"""Probabilistic knowledge transfer: the student's conditional distribution over its batch neighbours
(from cosine similarities) should match the teacher's. Any (batch, features) outputs, of any widths:
penultimate features of a classifier or the forecasts of a regressor."""
from __future__ import annotations

import torch
from torch import nn

from distill.losses.relations import flatten_pair


def _neighbour_probabilities(x: torch.Tensor, eps: float) -> torch.Tensor:
    """(batch, features) -> (batch, batch): p_{j|i} = (1 + cos(x_i, x_j)) / 2, normalised over j."""
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    x = torch.nan_to_num(x, nan=0.0)
    similarity = (x @ x.t() + 1.0) / 2.0
    return similarity / similarity.sum(dim=1, keepdim=True)


def pkt_loss(student_features: torch.Tensor, teacher_features: torch.Tensor, *,
             eps: float = 1e-7) -> torch.Tensor:
    """L = mean_{i,j} p_{j|i}^t * log((p_{j|i}^t + eps) / (p_{j|i}^s + eps)), p_{j|i} = K_ij / sum_j K_ij.

    Passalis & Tefas 2018, "Learning deep representations with probabilistic knowledge transfer", with
    the cosine kernel K_ij = (1 + cos(x_i, x_j)) / 2 of the authors' code (mean over all batch^2 entries,
    as theirs). Inputs are (batch, ...) and flattened to (batch, features); the widths may differ.
    mdistiller weights it by 30000.
    """
    student, teacher = flatten_pair(student_features, teacher_features, "PKT")
    p_student = _neighbour_probabilities(student, eps)
    p_teacher = _neighbour_probabilities(teacher, eps)
    return (p_teacher * torch.log((p_teacher + eps) / (p_student + eps))).mean()


class PKTLoss(nn.Module):
    """Module form of `pkt_loss`."""

    def __init__(self, *, eps: float = 1e-7) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return pkt_loss(student_features, teacher_features, eps=self.eps)

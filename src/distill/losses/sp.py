"""Similarity-preserving distillation: examples the teacher finds alike, the student should find alike.
Any (batch, ...) representations of any widths, so a regression student can use it."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses.relations import flatten_pair


def _row_normalised_gram(x: torch.Tensor) -> torch.Tensor:
    """(batch, features) -> (batch, batch): G = x x^T with each row of unit L2 norm."""
    return F.normalize(x @ x.t())


def similarity_preserving_loss(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """L = ||G_t - G_s||_F^2 / b^2, G = row-L2-normalised (F F^T), F the (b, features) flattened activations.

    Tung & Mori 2019, "Similarity-preserving knowledge distillation". Inputs are (batch, ...) and
    flattened to (batch, features); the widths may differ. The paper's total is CE + gamma * sum over
    tapped layers of this; mdistiller uses gamma = 3000 on the last stage.
    """
    student, teacher = flatten_pair(student_features, teacher_features, "SP")
    batch = student.shape[0]
    return (_row_normalised_gram(teacher) - _row_normalised_gram(student)).pow(2).sum() / (batch * batch)


class SimilarityPreservingLoss(nn.Module):
    """Module form of `similarity_preserving_loss`."""

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return similarity_preserving_loss(student_features, teacher_features)

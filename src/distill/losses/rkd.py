"""Relational knowledge distillation: the student should reproduce the teacher's pairwise distances and
triplet angles among the examples of a batch. Any (batch, ...) outputs of any widths, so a regression
(forecasting) student can use it on its forecasts or its hidden state."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses.relations import flatten_pair


def _pairwise_distances(x: torch.Tensor, squared: bool, eps: float) -> torch.Tensor:
    """(batch, features) -> (batch, batch) Euclidean distances, floored at eps before the root, 0 on the diagonal."""
    squares = x.pow(2).sum(dim=1)
    distances = (squares.unsqueeze(1) + squares.unsqueeze(0) - 2.0 * x @ x.t()).clamp(min=eps)
    if not squared:
        distances = distances.sqrt()
    return distances * (1.0 - torch.eye(len(x), dtype=x.dtype, device=x.device))


def _mean_normalised_distances(x: torch.Tensor, squared: bool, eps: float) -> torch.Tensor:
    """Pairwise distances divided by their mean over the off-diagonal pairs (the paper's mu)."""
    distances = _pairwise_distances(x, squared, eps)
    off_diagonal = len(x) * (len(x) - 1)
    return distances / (distances.sum() / off_diagonal)


def _triplet_cosines(x: torch.Tensor) -> torch.Tensor:
    """(batch, features) -> (batch, batch, batch): cos of the angle at x_i between x_j and x_k."""
    differences = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), p=2, dim=2)  # [i, j] = unit(x_j - x_i)
    return differences @ differences.transpose(1, 2)


def rkd_distance_loss(student_features: torch.Tensor, teacher_features: torch.Tensor, *,
                      squared: bool = False, eps: float = 1e-12) -> torch.Tensor:
    """L_D = mean_{i,j} huber(||s_i - s_j|| / mu_s, ||t_i - t_j|| / mu_t), mu the mean off-diagonal distance.

    Park, Kim, Lu, Cho 2019, "Relational knowledge distillation" (distance-wise potential). huber is the
    smooth L1 with delta 1, averaged over all batch^2 entries; the teacher side carries no gradient. A
    batch of one example has no pairs and gives 0.
    """
    student, teacher = flatten_pair(student_features, teacher_features, "RKD")
    if len(student) < 2:
        return student.sum() * 0.0
    with torch.no_grad():
        teacher_distances = _mean_normalised_distances(teacher, squared, eps)
    return F.smooth_l1_loss(_mean_normalised_distances(student, squared, eps), teacher_distances)


def rkd_angle_loss(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """L_A = mean_{i,j,k} huber(cos angle_s(j, i, k), cos angle_t(j, i, k)), cos = <e_ij, e_ik>, e_ij = unit(x_j - x_i).

    Park, Kim, Lu, Cho 2019, "Relational knowledge distillation" (angle-wise potential), averaged over
    all batch^3 triplets as the authors' code does (degenerate ones, j = i or k = i, contribute 0 on
    both sides); the teacher side carries no gradient. Memory grows as batch^2 * features.
    """
    student, teacher = flatten_pair(student_features, teacher_features, "RKD")
    with torch.no_grad():
        teacher_cosines = _triplet_cosines(teacher)
    return F.smooth_l1_loss(_triplet_cosines(student), teacher_cosines)


def rkd_loss(student_features: torch.Tensor, teacher_features: torch.Tensor, *, distance_weight: float = 25.0,
             angle_weight: float = 50.0, squared: bool = False, eps: float = 1e-12) -> torch.Tensor:
    """L = distance_weight * L_D + angle_weight * L_A (see `rkd_distance_loss`, `rkd_angle_loss`).

    Park, Kim, Lu, Cho 2019, "Relational knowledge distillation"; the weights 25 and 50 are the paper's
    and mdistiller's. Inputs are (batch, ...) and flattened to (batch, features); widths may differ. A
    zero weight skips its term.
    """
    loss = student_features.new_zeros(())
    if distance_weight:
        loss = loss + distance_weight * rkd_distance_loss(student_features, teacher_features, squared=squared,
                                                          eps=eps)
    if angle_weight:
        loss = loss + angle_weight * rkd_angle_loss(student_features, teacher_features)
    return loss


class RKDLoss(nn.Module):
    """Module form of `rkd_loss` with fixed weights."""

    def __init__(self, *, distance_weight: float = 25.0, angle_weight: float = 50.0, squared: bool = False,
                 eps: float = 1e-12) -> None:
        super().__init__()
        self.distance_weight, self.angle_weight, self.squared, self.eps = distance_weight, angle_weight, squared, eps

    def forward(self, student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
        return rkd_loss(student_features, teacher_features, distance_weight=self.distance_weight,
                        angle_weight=self.angle_weight, squared=self.squared, eps=self.eps)

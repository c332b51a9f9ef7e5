"""DIST: distillation from a stronger teacher by matching *relations* (Pearson correlations) rather than
exact probabilities. The inter-relation term correlates each example's outputs, the intra-relation term
each output across the batch; on raw outputs (`probabilities=False`) both apply to regression, e.g. a
forecaster's (batch, horizon) forecasts."""
from __future__ import annotations

import torch
from torch import nn

from distill.errors import DistillError
from distill.losses.checks import check_temperature
from distill.losses.standardise import standardise_logits

PEARSON_EPS = 1e-8


def _mean_pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the Pearson correlation of a[i] and b[i], (batch, n) each."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + PEARSON_EPS)).mean()


def dist_loss(student_outputs: torch.Tensor, teacher_outputs: torch.Tensor, *, inter_weight: float = 1.0,
              intra_weight: float = 1.0, temperature: float = 1.0, probabilities: bool = True,
              standardise: bool = False) -> torch.Tensor:
    """L = T^2 * (inter_weight * (1 - mean_i rho(Ys_i., Yt_i.)) + intra_weight * (1 - mean_c rho(Ys_.c, Yt_.c))).

    Huang, You, Wang, Qian, Xu 2022, "Knowledge distillation from a stronger teacher" (beta =
    inter_weight, gamma = intra_weight, tau = temperature). rho is the Pearson correlation; Y =
    softmax(z / T) (classification) or z / T itself with `probabilities=False` (regression; a correlation
    ignores the scale). The total is CE + kd_weight * this: beta = gamma = 1, T = 1 on ImageNet; T = 4 and
    kd_weight 2 in the authors' CIFAR config (image_classification_sota dist_cifar.yaml).
    `standardise` applies `standardise_logits` first (Sun et al. 2024). Outputs are (batch, n) of one
    shape; the inter term needs n >= 2, the intra term a batch >= 2.
    """
    check_temperature(temperature)
    if student_outputs.dim() != 2 or student_outputs.shape != teacher_outputs.shape:
        raise DistillError(f"DIST needs student and teacher outputs of one (batch, outputs) shape, got student "
                           f"{tuple(student_outputs.shape)} and teacher {tuple(teacher_outputs.shape)}")
    if standardise:
        student_outputs, teacher_outputs = standardise_logits(student_outputs), standardise_logits(teacher_outputs)
    student_y, teacher_y = student_outputs / temperature, teacher_outputs / temperature
    if probabilities:
        student_y, teacher_y = student_y.softmax(dim=1), teacher_y.softmax(dim=1)
    loss = student_outputs.new_zeros(())
    if inter_weight:
        loss = loss + inter_weight * (1.0 - _mean_pearson(student_y, teacher_y))
    if intra_weight:
        loss = loss + intra_weight * (1.0 - _mean_pearson(student_y.t(), teacher_y.t()))
    return temperature ** 2 * loss


class DISTLoss(nn.Module):
    """Module form of `dist_loss` with fixed weights, temperature and output kind."""

    def __init__(self, *, inter_weight: float = 1.0, intra_weight: float = 1.0, temperature: float = 1.0,
                 probabilities: bool = True, standardise: bool = False) -> None:
        super().__init__()
        self.inter_weight, self.intra_weight = inter_weight, intra_weight
        self.temperature, self.probabilities, self.standardise = check_temperature(temperature), probabilities, standardise

    def forward(self, student_outputs: torch.Tensor, teacher_outputs: torch.Tensor) -> torch.Tensor:
        return dist_loss(student_outputs, teacher_outputs, inter_weight=self.inter_weight,
                         intra_weight=self.intra_weight, temperature=self.temperature,
                         probabilities=self.probabilities, standardise=self.standardise)

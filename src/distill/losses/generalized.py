"""Generalized distillation (learning using privileged information) for classification.

The teacher may have seen privileged inputs the student never gets; the student learns from the labels
and from the teacher's softened predictions on the same examples.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses.checks import check_logit_pair, check_temperature, check_weight


def generalized_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                                  targets: torch.Tensor, temperature: float, lam: float) -> torch.Tensor:
    """L = (1 - lambda) * CE(y, softmax(z_s)) + lambda * T^2 * CE(softmax(z_t / T), softmax(z_s / T)).

    Lopez-Paz, Bottou, Schoelkopf, Vapnik 2016, "Unifying distillation and privileged information". The
    soft term is a cross-entropy with soft labels, -sum_k p_t,k log p_s,k, averaged over the batch; it
    differs from the KL of `soft_target_loss` by the teacher's entropy, a constant for the student. The
    T^2 weight follows their code. `targets` are class indices (batch,). Terms with zero weight are skipped.
    """
    check_temperature(temperature)
    check_weight("lambda", lam)
    check_logit_pair(student_logits, teacher_logits)
    loss = student_logits.new_zeros(())
    if lam < 1.0:
        loss = loss + (1.0 - lam) * F.cross_entropy(student_logits, targets)
    if lam > 0.0:
        soft_labels = F.softmax(teacher_logits / temperature, dim=1)
        loss = loss + lam * temperature ** 2 * F.cross_entropy(student_logits / temperature, soft_labels)
    return loss


class GeneralizedDistillationLoss(nn.Module):
    """Module form of `generalized_distillation_loss` with a fixed temperature and lambda."""

    def __init__(self, temperature: float, lam: float) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.lam = check_weight("lambda", lam)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        return generalized_distillation_loss(student_logits, teacher_logits, targets, self.temperature,
                                             self.lam)

"""Soft-target distillation for classification: fit the labels and the teacher's softened distribution."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses.checks import check_logit_pair, check_temperature, check_weight
from distill.losses.standardise import standardise_logits
from distill.losses.terms import LossTerms, total


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, *,
                     temperature: float, alpha: float, standardise: bool = False) -> torch.Tensor:
    """L = (1 - alpha) * CE(y, softmax(z_s)) + alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)).

    Hinton, Vinyals, Dean 2015, "Distilling the knowledge in a neural network". The KL term is summed over
    classes and averaged over the batch ("batchmean"); the T^2 factor keeps its gradient at the same scale
    as T changes. `targets` are class indices (batch,). Terms with zero weight are skipped. `standardise`
    replaces z_s and z_t in the KL term (not the CE) by `standardise_logits` (Sun et al. 2024).
    """
    return total(soft_target_terms(student_logits, teacher_logits, targets, temperature=temperature, alpha=alpha,
                                   standardise=standardise))


def soft_target_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, *,
                      temperature: float, alpha: float, standardise: bool = False) -> LossTerms:
    """`soft_target_loss` as its named terms: `loss_hard` (1 - alpha) CE and `loss_kd` alpha T^2 KL."""
    check_temperature(temperature)
    check_weight("alpha", alpha)
    check_logit_pair(student_logits, teacher_logits)
    terms = {}
    if alpha < 1.0:
        terms["loss_hard"] = (1.0 - alpha) * F.cross_entropy(student_logits, targets)
    if alpha > 0.0:
        student_kd, teacher_kd = ((standardise_logits(student_logits), standardise_logits(teacher_logits))
                                  if standardise else (student_logits, teacher_logits))
        student_log_p = F.log_softmax(student_kd / temperature, dim=1)
        teacher_log_p = F.log_softmax(teacher_kd / temperature, dim=1)
        kl = F.kl_div(student_log_p, teacher_log_p, reduction="batchmean", log_target=True)
        terms["loss_kd"] = alpha * temperature ** 2 * kl
    return terms


class SoftTargetLoss(nn.Module):
    """Module form of `soft_target_loss` with a fixed temperature, alpha and standardisation."""

    def __init__(self, *, temperature: float, alpha: float, standardise: bool = False) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.alpha = check_weight("alpha", alpha)
        self.standardise = standardise

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        return soft_target_loss(student_logits, teacher_logits, targets, temperature=self.temperature,
                                alpha=self.alpha, standardise=self.standardise)

"""Decoupled knowledge distillation: the KD term split into the target-class part (TCKD: how sure the
teacher is of the true class) and the non-target part (NCKD: how it ranks the wrong classes), weighted
apart. Classification only: the split needs the true class."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses.checks import check_logit_pair, check_temperature
from distill.losses.standardise import standardise_logits


def _binary_log_probs(logits: torch.Tensor, true_class: torch.Tensor, temperature: float) -> torch.Tensor:
    """(batch, classes) -> (batch, 2): log [p_true, 1 - p_true] of softmax(z / T)."""
    log_p = F.log_softmax(logits / temperature, dim=1)
    log_p_true = log_p.gather(1, true_class.unsqueeze(1))
    log_p_rest = torch.logsumexp(log_p.masked_fill(F.one_hot(true_class, logits.shape[1]).bool(), float("-inf")),
                                 dim=1, keepdim=True)
    return torch.cat([log_p_true, log_p_rest], dim=1)


def _non_target_log_probs(logits: torch.Tensor, true_class: torch.Tensor, temperature: float) -> torch.Tensor:
    """(batch, classes) -> (batch, classes - 1): log softmax(z / T) over the classes other than the true one."""
    keep = ~F.one_hot(true_class, logits.shape[1]).bool()
    others = (logits / temperature)[keep].view(len(logits), -1)
    return F.log_softmax(others, dim=1)


def _kl(student_log_p: torch.Tensor, teacher_log_p: torch.Tensor) -> torch.Tensor:
    return F.kl_div(student_log_p, teacher_log_p, reduction="batchmean", log_target=True)


def dkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, *,
             tckd_weight: float = 1.0, nckd_weight: float = 8.0, temperature: float = 4.0,
             standardise: bool = False) -> torch.Tensor:
    """L = T^2 * (tckd_weight * KL(b_t || b_s) + nckd_weight * KL(q_t || q_s)), batch mean.

    Zhao, Cui, Song, Qiu, Liang 2022, "Decoupled knowledge distillation" (alpha = tckd_weight,
    beta = nckd_weight). b = [p_y, 1 - p_y] is the binary split of softmax(z / T) at the true class y;
    q = softmax over the non-target classes of z / T. The paper's total is CE + min(epoch / 20, 1) * this
    (a 20-epoch warm-up), with alpha 1, beta 8, T 4 on CIFAR-100. `standardise` replaces both logits by
    `standardise_logits` first (Sun et al. 2024). `targets` are class indices (batch,).
    """
    check_temperature(temperature)
    check_logit_pair(student_logits, teacher_logits)
    if student_logits.shape[1] < 2:
        raise DistillError(f"DKD needs at least 2 classes, got {student_logits.shape[1]}")
    if standardise:
        student_logits, teacher_logits = standardise_logits(student_logits), standardise_logits(teacher_logits)
    loss = student_logits.new_zeros(())
    if tckd_weight:
        loss = loss + tckd_weight * _kl(_binary_log_probs(student_logits, targets, temperature),
                                        _binary_log_probs(teacher_logits, targets, temperature))
    if nckd_weight:
        loss = loss + nckd_weight * _kl(_non_target_log_probs(student_logits, targets, temperature),
                                        _non_target_log_probs(teacher_logits, targets, temperature))
    return temperature ** 2 * loss


class DKDLoss(nn.Module):
    """Module form of `dkd_loss` with fixed weights and temperature."""

    def __init__(self, *, tckd_weight: float = 1.0, nckd_weight: float = 8.0, temperature: float = 4.0,
                 standardise: bool = False) -> None:
        super().__init__()
        self.tckd_weight, self.nckd_weight = tckd_weight, nckd_weight
        self.temperature, self.standardise = check_temperature(temperature), standardise

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        return dkd_loss(student_logits, teacher_logits, targets, tckd_weight=self.tckd_weight,
                        nckd_weight=self.nckd_weight, temperature=self.temperature, standardise=self.standardise)

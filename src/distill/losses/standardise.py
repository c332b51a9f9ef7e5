"""Logit standardisation (Sun et al. 2024): the option of every logit method that compares the *shape*
of the teacher's and the student's logits rather than their scale."""
from __future__ import annotations

import torch

STANDARDISE_EPS = 1e-7


def standardise_logits(logits: torch.Tensor) -> torch.Tensor:
    """Z(z) = (z - mean(z)) / (std(z) + 1e-7) per row, std the unbiased (n - 1) standard deviation.

    Sun, Ren, Li, Wang, Cao 2024, "Logit standardization in knowledge distillation". A student whose
    logits are a shifted and scaled copy of the teacher's then matches it exactly, so the temperature
    is a "base temperature" shared by both sides; the authors pair it with T = 2 and a KD weight of 9.
    Applied only inside the distillation term; the cross-entropy on the labels sees the raw logits.
    """
    mean = logits.mean(dim=-1, keepdim=True)
    std = logits.std(dim=-1, keepdim=True)
    return (logits - mean) / (STANDARDISE_EPS + std)

"""Checks shared by the relational losses (PKT, RKD, SP, CRD): any (batch, ...) representations,
flattened to (batch, features); the two sides may have different widths but one batch."""
from __future__ import annotations

import torch

from distill.errors import DistillError


def flatten_pair(student: torch.Tensor, teacher: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, ...) representations -> (batch, features) each; the batch sizes must agree."""
    if student.dim() < 2 or teacher.dim() < 2:
        raise DistillError(f"{method} needs (batch, features) representations, got student "
                           f"{tuple(student.shape)} and teacher {tuple(teacher.shape)}")
    if student.shape[0] != teacher.shape[0]:
        raise DistillError(f"batch size mismatch: student has {student.shape[0]} rows, "
                           f"teacher {teacher.shape[0]}")
    return student.flatten(1), teacher.flatten(1)

"""Checks every distillation objective shares: mixing weights, temperatures, pairs of logits."""
from __future__ import annotations

import torch

from distill.errors import DistillError


def check_weight(name: str, value: float) -> float:
    """Validate a mixing weight such as lambda or alpha: it must lie in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise DistillError(f"{name} must be in [0, 1], got {value}")
    return value


def check_temperature(temperature: float) -> float:
    """Validate a softmax temperature: it must be strictly positive."""
    if not temperature > 0.0:
        raise DistillError(f"temperature must be > 0, got {temperature}")
    return temperature


def check_logit_pair(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    """Student and teacher logits must both be (batch, classes) with the same batch size and class count."""
    if student_logits.dim() != 2 or teacher_logits.dim() != 2:
        raise DistillError(f"logits must be (batch, classes), got student {tuple(student_logits.shape)} "
                           f"and teacher {tuple(teacher_logits.shape)}")
    if student_logits.shape[1] != teacher_logits.shape[1]:
        raise DistillError(f"class count mismatch: student has {student_logits.shape[1]} classes, "
                           f"teacher {teacher_logits.shape[1]}")
    if student_logits.shape[0] != teacher_logits.shape[0]:
        raise DistillError(f"batch size mismatch: student has {student_logits.shape[0]} rows, "
                           f"teacher {teacher_logits.shape[0]}")

"""Named loss terms: a distillation objective as a dict of its weighted parts, summed in order.

Each two-part objective of this package (truth + teacher) is computed as named terms, `loss_hard` (the labels or
values) and `loss_kd` (the teacher's outputs), so a trainer can log every part (as mdistiller's distillers do);
the objective is their sum, in the order they were written. A term whose weight is zero is left out.
"""
from __future__ import annotations

import torch

LossTerms = dict[str, torch.Tensor]


def total(terms: LossTerms) -> torch.Tensor:
    """The objective: the terms summed in their order."""
    values = iter(terms.values())
    loss = next(values)
    for value in values:
        loss = loss + value
    return loss

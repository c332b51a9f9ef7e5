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


class TermLog:
    """A distilled student's named loss terms per epoch, for its curves: `add(terms)` keeps one training step's
    terms (detached), `epoch_means()` gives their mean over the epoch's steps and starts the next epoch.
    `record(terms)` adds them and returns the objective, so a loss function is logged by wrapping its terms."""

    def __init__(self) -> None:
        self.steps: list[LossTerms] = []

    def add(self, terms: LossTerms) -> None:
        self.steps.append({name: value.detach() for name, value in terms.items()})

    def record(self, terms: LossTerms) -> torch.Tensor:
        self.add(terms)
        return total(terms)

    def epoch_means(self) -> dict[str, float]:
        means = {name: float(torch.stack([step[name] for step in self.steps]).mean()) for name in self.steps[0]}
        self.steps = []
        return means

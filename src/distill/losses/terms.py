"""Named loss terms: a distillation objective as a dict of its weighted parts, summed in order.

Each two-part objective of this package (truth + teacher) is computed as named terms, `loss_hard` (the labels or
values) and `loss_kd` (the teacher's outputs), so a trainer can log every part (as mdistiller's distillers do);
the objective is their sum, in the order they were written. A term whose weight is zero is left out.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.distributed as dist

LossTerms = dict[str, torch.Tensor]
_STEP_WEIGHT: ContextVar[float] = ContextVar("step_weight", default=1.0)


@contextmanager
def weighted_step(weight: float) -> Iterator[None]:
    """Terms logged inside are scaled by `weight`: a DDP rank's share of the global batch (its rows x world size /
    the batch's rows), so that the mean over ranks of the logged terms is the global batch's mean exactly."""
    token = _STEP_WEIGHT.set(weight)
    try:
        yield
    finally:
        _STEP_WEIGHT.reset(token)


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
        weight = _STEP_WEIGHT.get()
        self.steps.append({name: value.detach() * weight for name, value in terms.items()})

    def record(self, terms: LossTerms) -> torch.Tensor:
        self.add(terms)
        return total(terms)

    def epoch_means(self) -> dict[str, float]:
        """Each term's mean over the epoch's steps; with several processes (DDP), the mean over every rank's
        steps, so each rank logs the whole batch's terms as one process would (every rank calls it per epoch)."""
        names = list(self.steps[0])
        means = torch.stack([torch.stack([step[name] for step in self.steps]).float().mean() for name in names])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(means)
            means = means / dist.get_world_size()
        self.steps = []
        return dict(zip(names, means.tolist()))

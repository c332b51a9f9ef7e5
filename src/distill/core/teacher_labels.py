"""A student's training rows extended with windows the teacher labels: where there is no truth, the teacher's
outputs are the target (issue 19).

Distillation's classic use (Hinton, Vinyals & Dean 2015; Bucilua, Caruana & Niculescu-Mizil 2006, "Model
Compression", who label synthetic inputs with an ensemble) is a transfer set larger than the labelled one. Three
sources, each optional:
- `recent`: the fold's `x_transfer` windows - for forecasting, the windows just before each origin, whose inputs
  are observed but whose horizon is not yet, so no model can be fitted to their truth;
- `jitter`: copies of the labelled windows with Gaussian noise of sd `noise` on the scaled inputs;
- `mixup`: convex mixes lam * x_i + (1 - lam) * x_j of two random labelled windows, lam ~ U(0, 1)
  (the inputs of Zhang et al. 2018, "mixup"; the label is the teacher's forecast, not the mix of the labels).
The rows are drawn once per fold from the student's seed; the teacher labels them once, as it does the rest.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import torch
from torch import nn

from distill.core.task import FoldData
from distill.core.train import predict
from distill.errors import DistillError


class LabelSources(Protocol):
    """What a student's config says about its teacher-labelled rows (e.g. the forecast protocol's
    `TeacherLabelled`)."""

    recent: bool
    jitter: int
    mixup: int
    noise: float

    @property
    def used(self) -> bool: ...


def _all_rows(x) -> torch.Tensor:
    """Every row of a tensor or window set, scaled, as one tensor (batch, ...)."""
    return x if isinstance(x, torch.Tensor) else x[torch.arange(len(x), device=x.index.device)]


def extra_inputs(fold: FoldData, sources: LabelSources, seed: int,
                 labelled: torch.Tensor | None = None) -> torch.Tensor:
    """The unlabelled rows the sources ask for, (rows, ...) in the student's input space; `labelled`: the fold's
    training rows as one tensor, if already gathered."""
    if fold.teacher_x_train is not None:
        raise DistillError("teacher_labelled windows need a teacher that reads the student's inputs; this teacher "
                           "reads privileged inputs")
    labelled = _all_rows(fold.x_train) if labelled is None else labelled
    generator = torch.Generator().manual_seed(seed)
    parts = []
    if sources.recent:
        if fold.x_transfer is None:
            raise DistillError("teacher_labelled.recent needs windows before each origin: use cv.split: rolling")
        parts.append(_all_rows(fold.x_transfer))
    for _ in range(sources.jitter):
        noise = torch.randn(labelled.shape, generator=generator).to(labelled.device)
        parts.append(labelled + sources.noise * noise)
    for _ in range(sources.mixup):
        n = len(labelled)
        first, second = torch.randint(n, (n,), generator=generator), torch.randint(n, (n,), generator=generator)
        weight = torch.rand((n,) + (1,) * (labelled.dim() - 1), generator=generator).to(labelled.device)
        parts.append(weight * labelled[first] + (1 - weight) * labelled[second])
    return torch.cat(parts) if parts else labelled[:0]


def with_teacher_labels(fold: FoldData, teacher: nn.Module, sources: LabelSources, seed: int) -> FoldData:
    """`fold` whose training rows are its labelled ones followed by the extra rows, each extra row's target the
    teacher's output on it (the validation and test parts are unchanged)."""
    labelled = _all_rows(fold.x_train)  # gathered and scaled once
    extra = extra_inputs(fold, sources, seed, labelled)
    x = torch.cat([labelled, extra])  # (labelled + extra, ...)
    y = torch.cat([fold.y_train, predict(teacher, extra).to(fold.y_train.dtype)])
    return replace(fold, x_train=x, y_train=y)

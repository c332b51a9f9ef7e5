"""Quantile forecasts: the pinball loss over a set of levels, and distilling a teacher's quantiles.

The levels default to the 23 the US COVID-19 Forecast Hub asks for (Cramer et al. 2022; Bracher et al. 2021,
"Evaluating epidemic forecasts in an interval format"): 0.01, 0.025, 0.05, 0.10, ..., 0.90, 0.95, 0.975, 0.99,
i.e. the median and the central 10%, 20%, ..., 90%, 95% and 98% intervals. With those levels the mean pinball
loss is exactly half the weighted interval score (WIS = 2 * mean pinball; see `distill.core.wis`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from distill.errors import DistillError
from distill.losses.checks import check_weight
from distill.losses.terms import LossTerms, total

HUB_LEVELS: tuple[float, ...] = (0.01, 0.025, *(round(0.05 * k, 2) for k in range(1, 20)), 0.975, 0.99)


def check_levels(levels: Sequence[float] | str) -> tuple[float, ...]:
    """Quantile levels as a tuple: `"hub"` names the Hub's 23; otherwise each level must lie in (0, 1), sorted
    ascending, without repeats (one-line DistillError naming the first offender)."""
    if isinstance(levels, str):
        if levels != "hub":
            raise DistillError(f"quantile levels {levels!r} are not allowed; use 'hub' or a list of levels in (0, 1)")
        return HUB_LEVELS
    values = tuple(float(level) for level in levels)
    if not values:
        raise DistillError("quantile levels are empty; use 'hub' or a list of levels in (0, 1)")
    outside = [level for level in values if not 0.0 < level < 1.0]
    if outside:
        raise DistillError(f"quantile level {outside[0]:g} is outside (0, 1); levels are probabilities strictly "
                           "between 0 and 1")
    for lower, upper in zip(values, values[1:]):
        if upper == lower:
            raise DistillError(f"quantile level {upper:g} is repeated; every level once")
        if upper < lower:
            raise DistillError(f"quantile levels are not sorted ({lower:g} before {upper:g}); list them ascending")
    return values


def pinball_loss(quantiles: torch.Tensor, targets: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """L = mean_{n, h, j} rho_{tau_j}(y[n, h] - q[n, h, j]),  rho_tau(u) = max(tau * u, (tau - 1) * u).

    The pinball (check, quantile) loss of Koenker & Bassett 1978, "Regression Quantiles" (Econometrica 46):
    its expectation over y is minimised by the tau-quantile of y, so one model fits every level at once.
    `quantiles` (batch, horizon, levels), `targets` (batch, horizon), `levels` (levels,).
    """
    if quantiles.shape[:-1] != targets.shape or quantiles.shape[-1] != levels.numel():
        raise DistillError(f"quantiles {tuple(quantiles.shape)} do not match targets {tuple(targets.shape)} "
                           f"and {levels.numel()} levels; expected (batch, horizon, levels)")
    error = targets.unsqueeze(-1) - quantiles  # (batch, horizon, levels)
    tau = levels.to(quantiles)
    return torch.maximum(tau * error, (tau - 1.0) * error).mean()


def quantile_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, *,
                               lam: float, levels: torch.Tensor) -> torch.Tensor:
    """L = (1 - lambda) * pinball(q_S, y) + lambda * mean_{n, h, j} rho_{tau_j}(q_T[n, h, j] - q_S[n, h, j]).

    The student's tau-quantile is fitted to the truth and to the teacher's tau-quantile, with the pinball loss
    (Koenker & Bassett 1978) in both terms, so that the teacher term is minimised exactly at q_S = q_T and the
    mix is the regression mix of `regression_distillation_loss` (Hinton et al. 2015; Lopez-Paz et al. 2016)
    carried over to quantiles: lambda = 1 learns the teacher's distribution only (student_kd), lambda = 0 the
    truth only (student_scratch). Shapes: student, teacher (batch, horizon, levels); targets (batch, horizon).
    """
    return total(quantile_distillation_terms(student, teacher, targets, lam=lam, levels=levels))


def quantile_distillation_terms(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, *,
                                lam: float, levels: torch.Tensor) -> LossTerms:
    """`quantile_distillation_loss` as its named terms: `loss_hard` (1 - lambda) pinball on the truth and
    `loss_kd` lambda pinball on the teacher's quantiles; terms with zero weight are skipped."""
    check_weight("lambda", lam)
    if teacher.shape != student.shape:
        raise DistillError(f"teacher quantiles {tuple(teacher.shape)} do not match the student's {tuple(student.shape)}")
    terms: LossTerms = {}
    if lam < 1.0:
        terms["loss_hard"] = (1.0 - lam) * pinball_loss(student, targets, levels)
    if lam > 0.0:
        error = teacher - student  # (batch, horizon, levels)
        tau = levels.to(student)
        terms["loss_kd"] = lam * torch.maximum(tau * error, (tau - 1.0) * error).mean()
    return terms


class QuantileDistillationLoss(nn.Module):
    """Module form of `quantile_distillation_loss` with a fixed lambda and fixed levels (default the Hub's)."""

    def __init__(self, lam: float, levels: Sequence[float] | str = "hub") -> None:
        super().__init__()
        self.lam = check_weight("lambda", lam)
        self.register_buffer("levels", torch.tensor(np.asarray(check_levels(levels)), dtype=torch.float32))

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return quantile_distillation_loss(student, teacher, targets, lam=self.lam, levels=self.get_buffer("levels"))

"""Quantile forecasts from any forecasting family, non-crossing by construction.

`QuantileHead` reads a (batch, horizon * levels) output as, per horizon day, a median and the positive widths of
the gaps between neighbouring levels:

    q[h, m]       = z[h, m]                                   (m: the level nearest 0.5)
    q[h, m + k]   = q[h, m] + sum_{i=1..k} softplus(z[h, m + i] + b[m + i])     (above the median)
    q[h, m - k]   = q[h, m] - sum_{i=1..k} softplus(z[h, m - i] + b[m - i])     (below the median)

so q[h, 0] <= q[h, 1] <= ... whatever the weights: softplus >= 0, and sums of non-negative terms taken outward
from the median (cumsum) stay ordered under float rounding too.
The gap biases b start at the gaps of a standard normal's quantiles (targets are standardised), so an untrained
model already predicts N(median, 1) instead of 0.69-wide gaps everywhere. A monotone reparametrisation
rather than a crossing penalty, as in Gasthaus et al. 2019 ("Probabilistic Forecasting with Spline Quantile
Function RNNs"), here in its simplest, piecewise-linear form.

`QuantileForecaster` (registered as `quantile`) builds any registered family with `horizon * levels` outputs
and puts the head on it: `build_model("quantile", shape, horizon, base="lstm", base_options={...})`.
Its output is (batch, horizon, levels); `median_index` says which level is the point forecast.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses.pinball import check_levels
from distill.models.registry import build_model, register_model


def _inverse_softplus(value: float) -> float:
    """x with softplus(x) = value (> 0)."""
    return value + math.log(-math.expm1(-value))


class QuantileHead(nn.Module):
    """(batch, horizon * levels) raw outputs -> (batch, horizon, levels) non-crossing quantiles."""

    def __init__(self, horizon: int, levels: Sequence[float]) -> None:
        super().__init__()
        self.horizon, self.levels = horizon, tuple(levels)
        self.median_index = min(range(len(self.levels)), key=lambda j: abs(self.levels[j] - 0.5))
        normal = torch.special.ndtri(torch.tensor(self.levels, dtype=torch.float64)).tolist()  # the normal's quantiles
        gaps = [normal[j + 1] - normal[j] for j in range(len(self.levels) - 1)]
        below = [_inverse_softplus(gap) for gap in gaps[:self.median_index]]  # level j to j + 1, j < m
        above = [_inverse_softplus(gap) for gap in gaps[self.median_index:]]  # level j - 1 to j, j > m
        self.gap_bias = nn.Parameter(torch.tensor(below + [0.0] + above, dtype=torch.float32))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        z = raw.reshape(raw.shape[0], self.horizon, len(self.levels))  # (batch, horizon, levels)
        m = self.median_index
        median = z[..., m:m + 1]  # (batch, horizon, 1)
        gaps = F.softplus(z + self.gap_bias)  # (batch, horizon, levels); the median's own entry is unused
        upper = median + torch.cumsum(gaps[..., m + 1:], dim=-1)  # (batch, horizon, levels above m)
        below = torch.flip(gaps[..., :m], dims=[-1])  # nearest the median first; gap j lies between levels j, j + 1
        lower = torch.flip(median - torch.cumsum(below, dim=-1), dims=[-1])  # (batch, horizon, levels below m)
        return torch.cat([lower, median, upper], dim=-1)


@register_model("quantile")
class QuantileForecaster(nn.Module):
    """Any registered family `base` (with `base_options`) producing `horizon * levels` values, then the
    non-crossing `QuantileHead`: (batch, ...) inputs -> (batch, horizon, levels) quantiles.

    `quantiles`: the levels, "hub" (the Forecast Hub's 23) or an ascending list in (0, 1) (not `levels`, which
    other families use for a layer count). `output_dim` is the horizon.
    """

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, base: str = "lstm",
                 base_options: dict | None = None, quantiles: Sequence[float] | str = "hub") -> None:
        super().__init__()
        if base in ("quantile", "ensemble"):
            raise DistillError(f"a quantile model's base cannot be {base!r}; name a single forecasting family")
        self.levels = check_levels(quantiles)
        self.base = build_model(base, input_shape, output_dim * len(self.levels), **(base_options or {}))
        self.head = QuantileHead(output_dim, self.levels)

    @property
    def median_index(self) -> int:
        return self.head.median_index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.base(x))  # (batch, horizon, levels)

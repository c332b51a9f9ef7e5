"""Scoring quantile forecasts as the COVID-19 Forecast Hub does: WIS, its parts, coverage, relative WIS.

Bracher, Ray, Gneiting & Reich 2021, "Evaluating epidemic forecasts in an interval format" (PLoS Comput Biol
17(2): e1008618). For the median m and K central intervals [l_k, u_k] at levels 1 - alpha_k,

    IS_alpha(l, u; y) = (u - l) + (2 / alpha) (l - y) 1{y < l} + (2 / alpha) (y - u) 1{y > u}
    WIS(y)            = 1 / (K + 1/2) * ( 1/2 |y - m| + sum_k (alpha_k / 2) IS_alpha_k(l_k, u_k; y) )

and WIS = dispersion + overprediction + underprediction, with

    dispersion        = 1 / (K + 1/2) * sum_k (alpha_k / 2) (u_k - l_k)
    overprediction    = 1 / (K + 1/2) * ( 1/2 (m - y)+ + sum_k (l_k - y)+ )      (forecast too high)
    underprediction   = 1 / (K + 1/2) * ( 1/2 (y - m)+ + sum_k (y - u_k)+ )      (forecast too low)

(the median's error counted as over- or under-prediction, as scoringutils does). With the Hub's 23 levels
(K = 11), WIS is twice the mean pinball loss over the levels. The interval scores come from the `scoringrules`
package when it is installed (`pip install -e '.[probabilistic]'`), else from the same formula in numpy; the
two agree with a case worked by hand in tests/test_wis.py. (scoringrules 0.10's own `weighted_interval_score`
on its numpy backend adds w_0 * m instead of w_0 * |y - m|, so it is not used.)

Relative WIS is the mean WIS of a model over the mean WIS of a baseline on exactly the same targets, per horizon
day and over all of them (Cramer et al. 2022, PNAS, compare to the COVIDhub-baseline; with one model and one
baseline on identical targets their pairwise geometric-mean ratio reduces to this ratio).
"""
from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec
from typing import NamedTuple

import numpy as np

from distill.errors import DistillError
from distill.losses.pinball import check_levels

COVERAGE_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.95)
_TOLERANCE = 1e-9


class Intervals(NamedTuple):
    """Where the median and each central interval's bounds sit among the levels."""

    median: int
    alphas: np.ndarray  # (K,): 1 - nominal coverage of each central interval
    lower: np.ndarray  # (K,) level indices of l_k
    upper: np.ndarray  # (K,) level indices of u_k


class WISParts(NamedTuple):
    """WIS and its three parts, each shaped like the truth (one value per forecast target)."""

    wis: np.ndarray
    dispersion: np.ndarray
    overprediction: np.ndarray
    underprediction: np.ndarray


def central_intervals(levels: Sequence[float] | str) -> Intervals:
    """The median and the central intervals of a symmetric set of levels (0.5 and pairs tau, 1 - tau)."""
    values = np.asarray(check_levels(levels))
    medians = np.flatnonzero(np.abs(values - 0.5) < _TOLERANCE)
    if medians.size != 1:
        raise DistillError("WIS needs the median (level 0.5) among the quantile levels")
    lower = np.flatnonzero(values < 0.5 - _TOLERANCE)
    upper = np.array([np.flatnonzero(np.abs(values - (1.0 - values[j])) < _TOLERANCE) for j in lower]).reshape(-1)
    if upper.size != lower.size or lower.size != values.size // 2:
        raise DistillError(f"WIS needs levels in pairs tau, 1 - tau around the median; got {values.tolist()}")
    return Intervals(int(medians[0]), 2.0 * values[lower], lower, upper)


def _interval_scores(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """IS_alpha_k for every target and interval: (..., K). scoringrules when installed, else the formula."""
    if find_spec("scoringrules") is not None:
        import scoringrules

        return np.asarray(scoringrules.interval_score(truth, lower, upper, alphas, backend="numpy"))
    return ((upper - lower) + (2.0 / alphas) * np.clip(lower - truth[..., None], 0, None)
            + (2.0 / alphas) * np.clip(truth[..., None] - upper, 0, None))


def weighted_interval_score(quantiles: np.ndarray, truth: np.ndarray, levels: Sequence[float] | str) -> WISParts:
    """WIS and its parts for quantile forecasts `quantiles` (..., levels) of `truth` (...)."""
    quantiles, truth = np.asarray(quantiles, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    intervals = central_intervals(levels)
    if quantiles.shape[:-1] != truth.shape or quantiles.shape[-1] != len(check_levels(levels)):
        raise DistillError(f"quantile forecasts {quantiles.shape} do not match the truth {truth.shape} and levels")
    median = quantiles[..., intervals.median]  # (...)
    lower, upper = quantiles[..., intervals.lower], quantiles[..., intervals.upper]  # (..., K)
    weights = intervals.alphas / 2.0  # (K,)
    scale = 1.0 / (len(intervals.alphas) + 0.5)
    over = scale * (0.5 * np.clip(median - truth, 0, None) + np.clip(lower - truth[..., None], 0, None).sum(-1))
    under = scale * (0.5 * np.clip(truth - median, 0, None) + np.clip(truth[..., None] - upper, 0, None).sum(-1))
    dispersion = scale * (weights * (upper - lower)).sum(-1)
    wis = scale * (0.5 * np.abs(truth - median) + (weights * _interval_scores(truth, lower, upper,
                                                                              intervals.alphas)).sum(-1))
    return WISParts(wis, dispersion, over, under)


def interval_coverage(quantiles: np.ndarray, truth: np.ndarray, levels: Sequence[float] | str,
                      nominal: Sequence[float] = COVERAGE_LEVELS) -> dict[float, float]:
    """Share of targets inside each central interval of nominal coverage `nominal` (e.g. 0.5: [q_.25, q_.75])."""
    values = np.asarray(check_levels(levels))
    quantiles, truth = np.asarray(quantiles, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    shares = {}
    for coverage in nominal:
        low, high = (1.0 - coverage) / 2.0, (1.0 + coverage) / 2.0
        found = [np.flatnonzero(np.abs(values - level) < _TOLERANCE) for level in (low, high)]
        if not all(index.size for index in found):
            raise DistillError(f"the {coverage:.0%} interval needs levels {low:g} and {high:g}")
        inside = (quantiles[..., found[0][0]] <= truth) & (truth <= quantiles[..., found[1][0]])
        shares[coverage] = float(inside.mean())
    return shares


def level_coverage(quantiles: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(levels,): share of targets at or below each quantile; a calibrated forecast's share equals the level."""
    quantiles, truth = np.asarray(quantiles, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    return (truth[..., None] <= quantiles).reshape(-1, quantiles.shape[-1]).mean(axis=0)


def relative_wis(model_wis: np.ndarray, baseline_wis: np.ndarray) -> dict:
    """Mean WIS of the model over the baseline's on the same targets: (windows, horizon) in,
    `{"overall": r, "per_horizon": [r_1, ..., r_H]}` out (below 1: the model beats the baseline)."""
    model_wis, baseline_wis = np.asarray(model_wis, dtype=np.float64), np.asarray(baseline_wis, dtype=np.float64)
    if model_wis.shape != baseline_wis.shape or model_wis.ndim != 2:
        raise DistillError(f"relative WIS needs (windows, horizon) scores of one shape, got {model_wis.shape} "
                           f"and {baseline_wis.shape}")
    return {"overall": float(model_wis.mean() / baseline_wis.mean()),
            "per_horizon": (model_wis.mean(axis=0) / baseline_wis.mean(axis=0)).tolist()}

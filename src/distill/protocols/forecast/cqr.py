"""Conformalized quantile regression of nested central intervals: a quantile model's intervals widened (or
narrowed) until they cover as often as their level says on held-out windows.

Romano, Patterson & Candes 2019, "Conformalized Quantile Regression" (NeurIPS). For a central interval
[q_lo, q_hi] of nominal coverage 1 - alpha and n calibration targets y_i, the nonconformity score is

    E_i = max(q_lo(x_i) - y_i, y_i - q_hi(x_i))        (> 0 outside the interval, < 0 inside)

and Q = E_(k), the k-th smallest score with k = ceil((1 - alpha)(n + 1)) (the empirical quantile at level
(1 - alpha)(1 + 1/n)); the calibrated interval is [q_lo - Q, q_hi + Q]. With exchangeable calibration and test
targets it covers a new target with probability >= 1 - alpha (Theorem 1 there). When k > n (n < (1 - alpha) /
alpha, e.g. n < 49 for the 98% interval) the theorem asks for an unbounded interval; we take the largest score,
E_(n), and `describe` says for which intervals.

Each of the K central intervals of a symmetric set of levels (the Forecast Hub's 23: K = 11) gets its own Q, per
horizon day when the calibration windows are enough for the widest interval (n >= (1 - alpha_min) / alpha_min),
else pooled over the horizon days (n x horizon scores per interval). The median is left as it is. After the
shift the bounds are made monotone from the median outward (each lower bound at most the next inner one, each
upper bound at least the next inner one, the innermost on the right side of the median), so the quantiles stay
non-crossing and ordered by level; this only widens an interval, never narrows it past its own Q.

`scale="log"` works on log1p values (relative errors, for counts that differ in size between series):
q = expm1(log1p(q_hat) -+ Q), clipped at 0.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distill.core.wis import central_intervals
from distill.errors import DistillError
from distill.losses.pinball import check_levels


class IntervalCQR:
    """`fit(quantiles, truth)` on (windows, horizon, levels) quantile forecasts and their (windows, horizon)
    truth learns `offsets_` (horizon, K), one Q per horizon day and central interval; `transform(quantiles)`
    gives the calibrated (windows, horizon, levels) quantiles."""

    def __init__(self, levels: Sequence[float] | str = "hub", scale: str = "absolute") -> None:
        if scale not in ("absolute", "log"):
            raise DistillError(f"CQR scale {scale!r} is not allowed; use 'absolute' or 'log'")
        self.levels, self.scale = check_levels(levels), scale
        self.intervals = central_intervals(self.levels)

    def _forward(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return np.log1p(np.clip(values, 0.0, None)) if self.scale == "log" else values

    def _checked(self, quantiles: np.ndarray) -> np.ndarray:
        quantiles = np.asarray(quantiles, dtype=np.float64)
        if quantiles.ndim != 3 or quantiles.shape[-1] != len(self.levels):
            raise DistillError(f"CQR needs (windows, horizon, {len(self.levels)}) quantile forecasts, "
                               f"got {quantiles.shape}")
        return self._forward(quantiles)

    def fit(self, quantiles: np.ndarray, truth: np.ndarray) -> IntervalCQR:
        work, truth = self._checked(quantiles), self._forward(truth)
        if work.shape[:2] != truth.shape or len(truth) < 2:
            raise DistillError(f"CQR needs quantile forecasts and truth for the same >= 2 windows, got "
                               f"{np.shape(quantiles)} and {np.shape(truth)}")
        lower, upper = work[..., self.intervals.lower], work[..., self.intervals.upper]  # (windows, horizon, K)
        scores = np.maximum(lower - truth[..., None], truth[..., None] - upper)  # (windows, horizon, K)
        alphas = self.intervals.alphas
        n = len(truth)
        self.per_horizon_day_ = bool(n >= np.max((1 - alphas) / alphas))
        if not self.per_horizon_day_:
            scores = scores.reshape(1, -1, len(alphas))  # (1, windows * horizon, K): pooled over the days
        else:
            scores = scores.transpose(1, 0, 2)  # (horizon, windows, K)
        count = scores.shape[1]
        rank = np.ceil((1 - alphas) * (count + 1)).astype(int)  # (K,) k-th smallest score
        self.capped_ = [float(1 - a) for a, k in zip(alphas, rank) if k > count]
        ordered = np.sort(scores, axis=1)
        offsets = ordered[:, np.minimum(rank, count) - 1, np.arange(len(alphas))]  # (horizon or 1, K)
        self.offsets_ = np.broadcast_to(offsets, (truth.shape[1], len(alphas))).copy()  # (horizon, K)
        self.calibration_windows_ = n
        return self

    def transform(self, quantiles: np.ndarray) -> np.ndarray:
        work = self._checked(quantiles)
        if work.shape[1] != self.offsets_.shape[0]:
            raise DistillError(f"CQR was fitted on {self.offsets_.shape[0]} horizon days, got {work.shape[1]}")
        median = work[..., self.intervals.median]  # (windows, horizon)
        lower = work[..., self.intervals.lower] - self.offsets_  # (windows, horizon, K), outermost first
        upper = work[..., self.intervals.upper] + self.offsets_
        lower = np.minimum.accumulate(np.minimum(lower[..., ::-1], median[..., None]), axis=-1)[..., ::-1]
        upper = np.maximum.accumulate(np.maximum(upper[..., ::-1], median[..., None]), axis=-1)[..., ::-1]
        calibrated = work.copy()
        calibrated[..., self.intervals.lower], calibrated[..., self.intervals.upper] = lower, upper
        return np.clip(np.expm1(calibrated), 0.0, None) if self.scale == "log" else calibrated

    def describe(self) -> dict:
        """The fitted calibration as JSON-able data (results.json), enough for `from_description`."""
        return {"method": "cqr", "levels": list(self.levels), "scale": self.scale, "offsets": self.offsets_.tolist(),
                "calibration_windows": self.calibration_windows_, "per_horizon_day": self.per_horizon_day_,
                "capped_at_largest_score": self.capped_}

    @classmethod
    def from_description(cls, description: dict) -> IntervalCQR:
        """The fitted calibration back from `describe`'s data, without refitting."""
        cqr = cls(description["levels"], description["scale"])
        cqr.offsets_ = np.asarray(description["offsets"], dtype=np.float64)
        cqr.calibration_windows_ = int(description["calibration_windows"])
        cqr.per_horizon_day_ = bool(description["per_horizon_day"])
        cqr.capped_ = list(description["capped_at_largest_score"])
        return cqr

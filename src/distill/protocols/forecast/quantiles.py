"""Quantile forecasts without a quantile model, and writing any of them in the Forecast Hub's format.

- `hub_baseline_quantiles`: the COVID-19 Forecast Hub's baseline (COVIDhub-baseline), as coded in reichlab's
  covidModels (R-package/R/quantile_baseline.R, `fit_quantile_baseline` / `predict.quantile_baseline`) and its
  successor simplets (R/quantile_baseline.R): the median is the last observed value; the one-step changes of
  the whole history, together with their negatives (symmetrised), are the distribution of one day's change;
  day h adds h such changes (resampled trajectories), re-centred so that the median stays the last value, and
  counts are kept >= 0. Its spread therefore grows with the horizon.
- `ConformalQuantiles`: calibrated quantiles from inner-validation residuals per horizon day: for a point
  forecaster, the residuals' empirical quantiles added to its forecast (split-conformal residual quantiles: Lei
  et al. 2018, "Distribution-free predictive inference for regression", JASA); for a quantile forecaster, each
  level shifted by its own residual quantile (conformalised quantile regression, Romano et al. 2019).
- `score_quantiles`: every model's WIS and its parts, relative WIS against the baseline, coverage, and paired
  Holm verdicts over groups of targets (forecast origins, or folds).
- `per_series_scores`: each model's WIS, relative WIS and coverage on each series of a many-series run.
- `hub_frame` / `write_hub_csv`: the Hub's submission columns `forecast_date, target, target_end_date, location,
  type, quantile, value` with targets such as "1 day ahead inc hosp".
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from distill.core.stats import add_verdicts, paired_comparison, summarize
from distill.core.wis import interval_coverage, level_coverage, relative_wis, weighted_interval_score
from distill.errors import DistillError
from distill.io.atomic import write_csv_atomic
from distill.losses.pinball import HUB_LEVELS, check_levels

__all__ = ["HUB_LEVELS", "ConformalQuantiles", "check_levels", "hub_baseline_quantiles", "hub_frame", "per_series_scores",
           "score_quantiles", "write_hub_csv"]

HUB_COLUMNS = ("forecast_date", "target", "target_end_date", "location", "type", "quantile", "value")
HUB_SAMPLES = 100_000  # the Hub's baseline script draws 100,000 trajectories


def point_outputs(outputs: np.ndarray) -> np.ndarray:
    """(rows, horizon) outputs as they are; (rows, horizon, levels) quantiles -> their median (the middle level)."""
    return outputs[..., outputs.shape[-1] // 2] if outputs.ndim == 3 else outputs


def hub_baseline_quantiles(history: np.ndarray, horizon: int, levels: Sequence[float] | str = "hub", *,
                           samples: int = HUB_SAMPLES, seed: int = 0, nonnegative: bool = True) -> np.ndarray:
    """(horizon, levels) quantiles of the Hub's baseline forecast from a 1-D `history` (oldest first).

    Day 1: last + the empirical quantile function of the symmetrised one-step changes, read at `samples` evenly
    spaced probabilities (as the Hub's code does). Day h > 1: each of the `samples` paths adds one more change,
    drawn by permuting those values, then all paths are shifted so that their median is the last value.
    `nonnegative` clips each day's values at 0 (counts), after the shift, as the Hub does for incidence.
    """
    values = check_levels(levels)
    history = np.asarray(history, dtype=np.float64)
    history = history[np.isfinite(history)]
    if history.ndim != 1 or history.size < 2:
        raise DistillError(f"the Hub baseline needs at least 2 observed days of history, got {history.size}")
    changes = np.diff(history)
    symmetric = np.concatenate([changes, -changes])
    last = history[-1]
    sampled = np.quantile(symmetric, np.linspace(0.0, 1.0, samples))  # (samples,): one day's change
    generator = np.random.default_rng(seed)
    paths = last + sampled  # (samples,): uncorrected path values, carried from day to day
    quantiles = np.empty((horizon, len(values)))
    for day in range(horizon):
        if day == 0:
            corrected = paths
        else:
            paths = paths + generator.permutation(sampled)
            corrected = paths - (np.median(paths) - last)
        if nonnegative:
            corrected = np.clip(corrected, 0.0, None)
        quantiles[day] = np.quantile(corrected, values)
    return quantiles


class ConformalQuantiles:
    """Calibrated quantiles from a model's residuals on inner-validation windows, per horizon day and level.

    `fit(forecasts, truth)` takes (windows, horizon) point forecasts, or (windows, horizon, levels) quantile
    forecasts, and their truth (windows, horizon). For each level tau it learns `offsets_[h, tau]`, the
    empirical tau-quantile of the residual y - q_tau (q_tau = y_hat for a point model), with the level moved
    outward to ceil((n + 1) tau) / n above the median and floor((n + 1) tau) / n below (the split-conformal
    finite-sample correction, clipped to [0, 1]). For a point model these are the residual quantiles (Lei et al.
    2018); for a quantile model, one-sided conformalised quantile regression per level (Romano, Patterson &
    Candes 2019), which widens quantiles that were too narrow out of sample. `transform` adds the offsets and
    sorts each day's values (rearrangement, Chernozhukov, Fernandez-Val & Galichon 2010), so they never cross.

    `scale="log"` works on log1p values (relative errors, for counts that vary in size):
    q = expm1(log1p(q_hat) + offset), clipped at 0. `transform(forecasts)` gives (windows, horizon, levels).
    """

    def __init__(self, levels: Sequence[float] | str = "hub", scale: str = "absolute") -> None:
        if scale not in ("absolute", "log"):
            raise DistillError(f"conformal scale {scale!r} is not allowed; use 'absolute' or 'log'")
        self.levels, self.scale = check_levels(levels), scale

    def _forward(self, values: np.ndarray) -> np.ndarray:
        return np.log1p(np.clip(values, 0.0, None)) if self.scale == "log" else values

    def _as_quantiles(self, forecasts: np.ndarray) -> np.ndarray:
        """(windows, horizon[, levels]) -> (windows, horizon, levels) in the working scale."""
        forecasts = np.asarray(forecasts, dtype=np.float64)
        if forecasts.ndim == 2:
            forecasts = np.repeat(forecasts[..., None], len(self.levels), axis=-1)
        if forecasts.ndim != 3 or forecasts.shape[-1] != len(self.levels):
            raise DistillError(f"conformal intervals need (windows, horizon) point or (windows, horizon, "
                               f"{len(self.levels)}) quantile forecasts, got {forecasts.shape}")
        return self._forward(forecasts)

    def fit(self, forecasts: np.ndarray, truth: np.ndarray) -> ConformalQuantiles:
        quantiles, truth = self._as_quantiles(forecasts), np.asarray(truth, dtype=np.float64)
        if quantiles.shape[:2] != truth.shape or len(truth) < 2:
            raise DistillError(f"conformal intervals need forecasts and truth for the same >= 2 windows and days, "
                               f"got {np.shape(forecasts)} and {truth.shape}")
        residuals = self._forward(truth)[..., None] - quantiles  # (windows, horizon, levels)
        n = len(residuals)
        tau = np.asarray(self.levels)
        corrected = np.where(tau > 0.5, np.ceil((n + 1) * tau) / n, np.floor((n + 1) * tau) / n)
        corrected = np.clip(np.where(np.isclose(tau, 0.5), 0.5, corrected), 0.0, 1.0)
        self.offsets_ = np.stack([np.quantile(residuals[..., j], level, axis=0)
                                  for j, level in enumerate(corrected)], axis=-1)  # (horizon, levels)
        self.calibration_windows_ = n
        return self

    def transform(self, forecasts: np.ndarray) -> np.ndarray:
        quantiles = np.sort(self._as_quantiles(forecasts) + self.offsets_, axis=-1)  # (windows, horizon, levels)
        return np.clip(np.expm1(quantiles), 0.0, None) if self.scale == "log" else quantiles

    def describe(self) -> dict:
        """The fitted offsets as JSON-able data (a run's results.json `intervals`)."""
        return {"levels": list(self.levels), "scale": self.scale, "offsets": self.offsets_.tolist(),
                "calibration_windows": self.calibration_windows_}

    @classmethod
    def from_description(cls, description: dict) -> ConformalQuantiles:
        """The fitted calibration back from `describe`'s data, without refitting."""
        conformal = cls(description["levels"], description["scale"])
        conformal.offsets_ = np.asarray(description["offsets"], dtype=np.float64)
        conformal.calibration_windows_ = int(description["calibration_windows"])
        return conformal


def score_quantiles(forecasts: dict[str, np.ndarray], truth: np.ndarray, groups: np.ndarray, *,
                    baseline: str, pairs: Sequence[tuple[str, str]], levels: Sequence[float] | str = "hub") -> dict:
    """Scores of (windows, horizon, levels) quantile forecasts of (windows, horizon) `truth`, per model:
    `wis` (mean +- SEM over `groups`: a forecast origin or fold per window), its `parts` (means), `relative_wis`
    against `baseline` (overall and per horizon day), `coverage` of the central 50 / 80 / 95% intervals and
    `level_coverage` (calibration). `comparisons`: for each (a, b) in `pairs`, the paired t-test over groups of
    their mean WIS, Holm-corrected together ("better" speaks of a, lower WIS)."""
    groups = np.asarray(groups)
    if baseline not in forecasts or len(groups) != len(truth):
        raise DistillError(f"scoring needs the baseline {baseline!r} among the forecasts and one group per window")
    order = list(dict.fromkeys(groups.tolist()))  # groups in their first-seen order
    parts = {name: weighted_interval_score(q, truth, levels) for name, q in forecasts.items()}
    per_group = {name: [float(p.wis[groups == g].mean()) for g in order] for name, p in parts.items()}
    models = {name: {"wis": summarize(per_group[name]),
                     "parts": {part: float(getattr(p, part).mean())
                               for part in ("dispersion", "overprediction", "underprediction")},
                     "relative_wis": relative_wis(p.wis, parts[baseline].wis),
                     "coverage": {f"{nominal:.0%}": share
                                  for nominal, share in interval_coverage(forecasts[name], truth, levels).items()},
                     "level_coverage": level_coverage(forecasts[name], truth).tolist()}
              for name, p in parts.items()}
    comparisons = add_verdicts({f"{a}_vs_{b}": paired_comparison(per_group[a], per_group[b], a, b, "wis")
                                for a, b in pairs})
    return {"models": models, "comparisons": comparisons, "groups": len(order), "targets": int(truth.size)}


def per_series_scores(forecasts: dict[str, np.ndarray], truth: np.ndarray, series: np.ndarray, names: Sequence[str],
                      *, baseline: str, levels: Sequence[float] | str = "hub") -> dict:
    """Per series (`series`: each window's index into `names`), per model: mean WIS, relative WIS against
    `baseline` on that series' windows, and 50 / 80 / 95% coverage (`{series name: {model: scores}}`)."""
    series = np.asarray(series)
    if len(series) != len(truth):
        raise DistillError(f"per-series scores need one series per window, got {len(series)} for {len(truth)}")
    table = {}
    for index in dict.fromkeys(series.tolist()):  # series in their first-seen order
        mine = series == index
        base = float(weighted_interval_score(forecasts[baseline][mine], truth[mine], levels).wis.mean())
        entries = {}
        for name, quantiles in forecasts.items():
            wis = float(weighted_interval_score(quantiles[mine], truth[mine], levels).wis.mean())
            entries[name] = {"wis": wis, "relative_wis": wis / base if base > 0 else float("nan"),
                             "coverage": {f"{nominal:.0%}": share for nominal, share
                                          in interval_coverage(quantiles[mine], truth[mine], levels).items()}}
        table[names[index]] = entries
    return table


def hub_frame(forecast_date: dt.date, location: str, quantiles: np.ndarray, levels: Sequence[float] | str = "hub",
              *, point: np.ndarray | None = None, target: str = "inc hosp", unit: str = "day") -> pd.DataFrame:
    """One forecast in the Hub's long format: per horizon day h (target_end_date = forecast_date + h units),
    a `point` row (the median unless `point` is given; empty quantile) and one `quantile` row per level.

    `quantiles` is (horizon, levels); `unit` "day" or "wk" (targets "1 day ahead inc hosp", "1 wk ahead ...").
    """
    values = check_levels(levels)
    quantiles = np.asarray(quantiles, dtype=np.float64)
    if quantiles.ndim != 2 or quantiles.shape[1] != len(values):
        raise DistillError(f"a Hub forecast needs (horizon, {len(values)}) quantiles, got {quantiles.shape}")
    if unit not in ("day", "wk"):
        raise DistillError(f"Hub target unit {unit!r} is not allowed; use 'day' or 'wk'")
    if point is None:
        if 0.5 not in values:
            raise DistillError("a Hub point forecast defaults to the median, but level 0.5 is not among the levels")
        point = quantiles[:, values.index(0.5)]
    step = dt.timedelta(days=7 if unit == "wk" else 1)
    rows = []
    for day, (row, point_value) in enumerate(zip(quantiles, np.asarray(point, dtype=np.float64)), start=1):
        common = {"forecast_date": forecast_date.isoformat(), "target": f"{day} {unit} ahead {target}",
                  "target_end_date": (forecast_date + day * step).isoformat(), "location": location}
        rows.append({**common, "type": "point", "quantile": np.nan, "value": point_value})
        rows += [{**common, "type": "quantile", "quantile": level, "value": value} for level, value in zip(values, row)]
    return pd.DataFrame(rows, columns=list(HUB_COLUMNS))


def write_hub_csv(path: str | os.PathLike, frames: Sequence[pd.DataFrame]) -> Path:
    """Concatenate `hub_frame`s and write them atomically (empty quantile on point rows, as the Hub's files)."""
    if not frames:
        raise DistillError("no forecasts to write")
    return write_csv_atomic(path, pd.concat(frames, ignore_index=True))

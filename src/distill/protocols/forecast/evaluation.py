"""Every model and baseline of a forecasting run scored in the target's own units, fold by fold.

Trained models' outputs are decoded with their fold's scaling; the baselines (persistence, 7-day mean,
linear drift, ridge on the lagged inputs, AutoETS when the optional extra is installed and, on simulated data,
the oracle) forecast the same test windows. The best baseline is chosen on inner validation windows (never on
test windows). Comparisons are paired over folds on MAE in the target's units, Holm-corrected together.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from distill.core.protocol import ProtocolResult
from distill.core.ridge import fit_ridge
from distill.core.stats import add_verdicts, paired_comparison, summarize
from distill.core.task import FoldData
from distill.core.train import predict
from distill.protocols.forecast.baselines import linear_drift, persistence, seven_day_mean
from distill.protocols.forecast.ets import EtsFit, ets_forecasts, fit_ets, form_name
from distill.protocols.forecast.quantiles import point_outputs
from distill.protocols.forecast.scoring import collapse_warning, fold_scores, summarize_runs
from distill.protocols.forecast.windows import FoldCodec, WindowTable

NAIVE = {"persistence": persistence, "seven_day_mean": seven_day_mean, "linear_drift": linear_drift}
RENAMED = {"mae": "mae_original", "rmse": "rmse_original"}  # the target's units, beside the model-space mse/mae
FIXED_RIDGE_ALPHA = (100.0,)  # without inner validation windows there is nothing to choose alpha on


def _materialize(x) -> np.ndarray:
    return x[torch.arange(len(x))].numpy() if not isinstance(x, torch.Tensor) else x.numpy()


def _ridge(fold: FoldData):
    """Ridge regression on the flattened scaled windows, fitted on the fold's fitting windows."""
    x_fit, y_fit = _materialize(fold.x_train), fold.y_train.numpy()
    if fold.x_val is None:
        return fit_ridge(x_fit, y_fit, x_fit, y_fit, alphas=FIXED_RIDGE_ALPHA)
    return fit_ridge(x_fit, y_fit, _materialize(fold.x_val), fold.y_val.numpy())


def _flat(inputs: np.ndarray) -> np.ndarray:
    return inputs.reshape(len(inputs), -1)


@dataclass
class EtsSetup:
    """What AutoETS reads: every series' target history (NaN where unreported), the input length, the data's
    frequency; its fits by (fold, series) and their cost, filled in as it runs."""

    targets: list[np.ndarray]
    input_days: int
    daily: bool
    fits: dict[tuple[int, int], EtsFit] = field(default_factory=dict)
    fit_seconds: list[float] = field(default_factory=list)

    def origins(self, table: WindowTable, positions: np.ndarray) -> list[tuple[int, int]]:
        """(series, origin row) of the windows at `positions`."""
        return [(int(table.series[w]), int(table.rows[w]) + self.input_days) for w in positions]

    def forecast(self, table: WindowTable, positions: np.ndarray, horizon: int, fold: int,
                 fit_from: np.ndarray) -> np.ndarray:
        """AutoETS forecasts of the windows at `positions`; each series of the fold is fitted once, on its history
        before its first origin among `fit_from` (the fold's first validation origin, or test origin)."""
        first: dict[int, int] = {}
        for series, origin in self.origins(table, np.concatenate([fit_from, positions])):
            first[series] = min(first.get(series, origin), origin)
        windows = self.origins(table, positions)
        for series in {s for s, _ in windows}:
            if (fold, series) not in self.fits:
                start = time.process_time()
                self.fits[fold, series] = fit_ets(self.targets[series][:first[series]], self.daily)
                self.fit_seconds.append(time.process_time() - start)
        fits = {series: self.fits[fold, series] for series in {s for s, _ in windows}}
        return ets_forecasts(self.targets, windows, fits, horizon)

    @property
    def forms(self) -> list[str]:
        return [form_name(fit) for fit in self.fits.values()]


def every_step(table: WindowTable, positions: np.ndarray, step: int) -> np.ndarray:
    """The windows at `positions` whose origins fall every `step` periods from the first (as test origins do)."""
    if len(positions) == 0:
        return positions
    origins = table.starts[positions]
    return positions[(origins - origins.min()) % step == 0]


def fold_ridges(protocol: ProtocolResult) -> list:
    """Per fold: ridge regression on the flattened scaled windows of its fitting windows (penalty on validation)."""
    return [_ridge(fold) for fold in protocol.folds]


def fold_forecasts(protocol: ProtocolResult, table: WindowTable, splits: list, codecs: list[FoldCodec],
                   horizon: int, ridges: list, ets: EtsSetup | None = None,
                   step: int = 7) -> list[dict[str, np.ndarray]]:
    """Per fold: {name: (test windows, horizon) forecasts in the target's units}, baselines first."""
    forecasts = []
    for k, (fold, codec, (fit, val, test)) in enumerate(zip(protocol.folds, codecs, splits)):
        history = table.history[test]
        fold_forecast = {name: naive(history, horizon) for name, naive in NAIVE.items()}
        fold_forecast["ridge"] = codec.decode(test, ridges[k].predict(_flat(_materialize(fold.x_test))))
        if ets is not None:
            fold_forecast["auto_ets"] = ets.forecast(table, test, horizon, k, every_step(table, val, step))
        if table.oracle is not None:
            fold_forecast["oracle"] = table.oracle[test]
        for name, runs in protocol.outcomes.items():
            fold_forecast[name] = codec.decode(test, point_outputs(runs[k].test_outputs.numpy()))
        low = 0.0 if nonnegative(table, fit) else None
        forecasts.append({name: np.clip(values, low, None) for name, values in fold_forecast.items()})
    return forecasts


def nonnegative(table: WindowTable, fit: np.ndarray) -> bool:
    """Forecasts are clipped at 0 only where the target was never negative on the fold's fitting windows."""
    return bool(table.targets[fit].min() >= 0 and table.history[fit].min() >= 0)


def validation_errors(protocol: ProtocolResult, table: WindowTable, splits: list,
                      codecs: list[FoldCodec]) -> dict[str, list[float]]:
    """{trained model: per-fold MAE in the target's units on the fold's inner validation windows} (empty without
    them): an error measured before any test window is looked at, comparable across scalings and feature sets."""
    if protocol.folds[0].x_val is None:
        return {}
    errors: dict[str, list[float]] = {name: [] for name in protocol.models[0]}
    for fold, models, codec, (fit, val, _) in zip(protocol.folds, protocol.models, codecs, splits):
        low = 0.0 if nonnegative(table, fit) else None
        for name, model in models.items():
            forecast = np.clip(codec.decode(val, point_outputs(predict(model, fold.val_inputs(name)).numpy())), low, None)
            errors[name].append(float(np.abs(forecast - table.targets[val]).mean()))
    return errors


def baseline_validation(protocol: ProtocolResult, table: WindowTable, splits: list, codecs: list[FoldCodec],
                        horizon: int, step: int, ridges: list, ets: EtsSetup | None = None) -> dict[str, list[float]]:
    """{baseline: per-fold MAE on the fold's inner validation windows whose origins fall every `step` periods}:
    what the best baseline is chosen on, before any test window is looked at (empty without inner validation)."""
    if protocol.folds[0].x_val is None:
        return {}
    errors: dict[str, list[float]] = {}
    for k, (fold, codec, (fit, val, _)) in enumerate(zip(protocol.folds, codecs, splits)):
        chosen = every_step(table, val, step)
        where = np.searchsorted(val, chosen)  # rows of the fold's validation inputs
        history, truth = table.history[chosen], table.targets[chosen]
        found = {name: naive(history, horizon) for name, naive in NAIVE.items()}
        found["ridge"] = codec.decode(chosen, ridges[k].predict(_flat(_materialize(fold.x_val)[where])))
        if ets is not None:
            found["auto_ets"] = ets.forecast(table, chosen, horizon, k, chosen)
        low = 0.0 if nonnegative(table, fit) else None
        for name, values in found.items():
            errors.setdefault(name, []).append(float(np.abs(np.clip(values, low, None) - truth).mean()))
    return errors


def best_baseline(validation: dict[str, list[float]]) -> str | None:
    """The baseline with the lowest mean inner-validation MAE (None without inner validation)."""
    if not validation:
        return None
    return min(validation, key=lambda name: float(np.mean(validation[name])))


def score_forecasts(forecasts: list[dict[str, np.ndarray]], table: WindowTable, splits: list) -> dict[str, list[dict]]:
    """{name: per-fold scores}: MAE (overall, per horizon day, first week), RMSE, skill, spread, oracle share."""
    scores: dict[str, list[dict]] = {name: [] for name in forecasts[0]}
    for fold_forecast, (_, _, test) in zip(forecasts, splits):
        truth = table.targets[test]
        oracle_mae = float(np.abs(fold_forecast["oracle"] - truth).mean()) if "oracle" in fold_forecast else None
        for name, values in fold_forecast.items():
            scores[name].append(fold_scores(values, truth, fold_forecast["persistence"], oracle_mae))
    return scores


def add_per_series(models: dict[str, dict], forecasts: list[dict[str, np.ndarray]], table: WindowTable,
                   splits: list) -> None:
    """`models.<name>.test.per_series`: {series: MAE and skill, mean +- SEM over the folds that test it}."""
    for k, name in enumerate(table.series_names):
        per_fold: dict[str, list[dict]] = {model: [] for model in forecasts[0]}
        for fold_forecast, (_, _, test) in zip(forecasts, splits):
            mine = table.series[test] == k
            if not mine.any():
                continue
            truth = table.targets[test][mine]
            for model, values in fold_forecast.items():
                per_fold[model].append(fold_scores(values[mine], truth, fold_forecast["persistence"][mine]))
        for model, runs in per_fold.items():
            if runs:
                entry = {"windows": int(sum((table.series[test] == k).sum() for _, _, test in splits)),
                         "mae_original": summarize([run["mae"] for run in runs]),
                         "skill": summarize([run["skill"] for run in runs])}
                models[model]["test"].setdefault("per_series", {})[name] = entry


def _paired(scores: dict[str, list[dict]], a: str, b: str, metric: str) -> dict:
    entry = paired_comparison([s[metric] for s in scores[a]], [s[metric] for s in scores[b]], a, b,
                              RENAMED.get(metric, metric))
    if metric.startswith("skill"):
        entry["higher_is_better"] = True
        entry["wins"] = int(sum(s_a[metric] > s_b[metric] for s_a, s_b in zip(scores[a], scores[b])))
    return entry


def comparisons(scores: dict[str, list[dict]], students: list[str], best: str | None = None) -> dict[str, dict]:
    """The report's paired comparisons, Holm-corrected together; few, so that a real difference can be named.

    Skill (1 - MAE / MAE(persistence), per fold) puts every fold on one scale: the folds' waves differ tenfold
    in size, and raw MAE differences would let the largest wave decide. student_kd against student_scratch is
    compared on MAE in the target's units, the number a user reads off the table. Every trained model is also
    compared with persistence and with `best`, the baseline chosen on inner validation.
    """
    found = {"teacher_vs_persistence": _paired(scores, "teacher", "persistence", "skill"),
             "teacher_vs_persistence_first_week": _paired(scores, "teacher", "persistence", "skill_first_week")}
    for name in students:
        found[f"{name}_vs_teacher"] = _paired(scores, name, "teacher", "skill")
        found[f"{name}_vs_persistence"] = _paired(scores, name, "persistence", "skill")
    if best is not None and best != "persistence":
        for name in ["teacher", *students]:
            found[f"{name}_vs_best_baseline"] = {**_paired(scores, name, best, "skill"), "best_baseline": best}
    if {"student_kd", "student_scratch"} <= set(students):
        found["student_kd_vs_student_scratch"] = _paired(scores, "student_kd", "student_scratch", "mae")
    return add_verdicts(found)


def summaries(scores: dict[str, list[dict]]) -> tuple[dict[str, dict], list[str]]:
    """{name: summarized test scores} and the plain warnings for collapsed models."""
    summarized = {name: summarize_runs(runs) for name, runs in scores.items()}
    warnings = [collapse_warning(name, entry["output_spread"]["mean"]) for name, entry in summarized.items()
                if name not in NAIVE]
    return summarized, [warning for warning in warnings if warning]

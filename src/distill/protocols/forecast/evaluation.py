"""Every model and baseline of a forecasting run scored in the target's own units, fold by fold.

Trained models' outputs are decoded with their fold's scaling; the baselines (persistence, 7-day mean,
linear drift, ridge on the lagged inputs and, on simulated data, the oracle) forecast the same test windows.
Comparisons are paired over folds on MAE in the target's units, Holm-corrected together.
"""
from __future__ import annotations

import numpy as np
import torch

from distill.core.protocol import ProtocolResult
from distill.core.stats import add_verdicts, paired_comparison
from distill.core.task import FoldData
from distill.protocols.forecast.baselines import fit_ridge, linear_drift, persistence, seven_day_mean
from distill.protocols.forecast.scoring import collapse_warning, fold_scores, summarize_runs
from distill.protocols.forecast.windows import FoldCodec, WindowTable

NAIVE = {"persistence": persistence, "seven_day_mean": seven_day_mean, "linear_drift": linear_drift}
FIXED_RIDGE_ALPHA = (100.0,)  # without inner validation windows there is nothing to choose alpha on


def _materialize(x) -> np.ndarray:
    return x[torch.arange(len(x))].numpy() if not isinstance(x, torch.Tensor) else x.numpy()


def _ridge_outputs(fold: FoldData, test_inputs: np.ndarray) -> np.ndarray:
    """Ridge regression on the flattened scaled windows, fitted on the fold's fitting windows."""
    x_fit, y_fit = _materialize(fold.x_train), fold.y_train.numpy()
    if fold.x_val is None:
        model = fit_ridge(x_fit, y_fit, x_fit, y_fit, alphas=FIXED_RIDGE_ALPHA)
    else:
        model = fit_ridge(x_fit, y_fit, _materialize(fold.x_val), fold.y_val.numpy())
    return model.predict(test_inputs.reshape(len(test_inputs), -1))


def fold_forecasts(protocol: ProtocolResult, table: WindowTable, splits: list, codecs: list[FoldCodec],
                   horizon: int) -> list[dict[str, np.ndarray]]:
    """Per fold: {name: (test windows, horizon) forecasts in the target's units}, baselines first."""
    forecasts = []
    for k, (fold, codec, (_, _, test)) in enumerate(zip(protocol.folds, codecs, splits)):
        history = table.history[test]
        fold_forecast = {name: naive(history, horizon) for name, naive in NAIVE.items()}
        fold_forecast["ridge"] = codec.decode(test, _ridge_outputs(fold, _materialize(fold.x_test)))
        if table.oracle is not None:
            fold_forecast["oracle"] = table.oracle[test]
        for name, runs in protocol.outcomes.items():
            fold_forecast[name] = codec.decode(test, runs[k].test_outputs.numpy())
        forecasts.append({name: np.clip(values, 0, None) for name, values in fold_forecast.items()})
    return forecasts


def score_forecasts(forecasts: list[dict[str, np.ndarray]], table: WindowTable, splits: list) -> dict[str, list[dict]]:
    """{name: per-fold scores}: MAE (overall, per horizon day, first week), RMSE, skill, spread, oracle share."""
    scores: dict[str, list[dict]] = {name: [] for name in forecasts[0]}
    for fold_forecast, (_, _, test) in zip(forecasts, splits):
        truth = table.targets[test]
        persistence_mae = float(np.abs(fold_forecast["persistence"] - truth).mean())
        oracle_mae = float(np.abs(fold_forecast["oracle"] - truth).mean()) if "oracle" in fold_forecast else None
        for name, values in fold_forecast.items():
            scores[name].append(fold_scores(values, truth, persistence_mae, oracle_mae))
    return scores


def comparisons(scores: dict[str, list[dict]], students: list[str]) -> dict[str, dict]:
    """The report's paired comparisons on MAE in the target's units, Holm-corrected together."""
    pairs = [("teacher", "persistence"), ("teacher", "ridge")]
    pairs += [(name, "persistence") for name in students]
    if {"student_kd", "student_scratch"} <= set(students):
        pairs.append(("student_kd", "student_scratch"))
    pairs += [(name, "teacher") for name in students]
    found = {f"{a}_vs_{b}": paired_comparison([s["mae"] for s in scores[a]], [s["mae"] for s in scores[b]],
                                              a, b, "mae_original") for a, b in pairs}
    found["teacher_vs_persistence_first_week"] = paired_comparison(
        [s["mae_first_week"] for s in scores["teacher"]], [s["mae_first_week"] for s in scores["persistence"]],
        "teacher", "persistence", "mae_first_week")
    return add_verdicts(found)


def summaries(scores: dict[str, list[dict]]) -> tuple[dict[str, dict], list[str]]:
    """{name: summarized test scores} and the plain warnings for collapsed models."""
    summarized = {name: summarize_runs(runs) for name, runs in scores.items()}
    warnings = [collapse_warning(name, entry["output_spread"]["mean"]) for name, entry in summarized.items()
                if name not in NAIVE]
    return summarized, [warning for warning in warnings if warning]

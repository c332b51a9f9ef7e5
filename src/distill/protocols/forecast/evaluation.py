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
from distill.core.train import predict
from distill.protocols.forecast.baselines import fit_ridge, linear_drift, persistence, seven_day_mean
from distill.protocols.forecast.quantile_run import point_outputs
from distill.protocols.forecast.scoring import collapse_warning, fold_scores, summarize_runs
from distill.protocols.forecast.windows import FoldCodec, WindowTable

NAIVE = {"persistence": persistence, "seven_day_mean": seven_day_mean, "linear_drift": linear_drift}
RENAMED = {"mae": "mae_original", "rmse": "rmse_original"}  # the target's units, beside the model-space mse/mae
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
            fold_forecast[name] = codec.decode(test, point_outputs(runs[k].test_outputs.numpy()))
        forecasts.append({name: np.clip(values, 0, None) for name, values in fold_forecast.items()})
    return forecasts


def validation_errors(protocol: ProtocolResult, table: WindowTable, splits: list,
                      codecs: list[FoldCodec]) -> dict[str, list[float]]:
    """{trained model: per-fold MAE in the target's units on the fold's inner validation windows} (empty without
    them): an error measured before any test window is looked at, comparable across scalings and feature sets."""
    if protocol.folds[0].x_val is None:
        return {}
    errors: dict[str, list[float]] = {name: [] for name in protocol.models[0]}
    for fold, models, codec, (_, val, _) in zip(protocol.folds, protocol.models, codecs, splits):
        for name, model in models.items():
            forecast = np.clip(codec.decode(val, point_outputs(predict(model, fold.x_val).numpy())), 0, None)
            errors[name].append(float(np.abs(forecast - table.targets[val]).mean()))
    return errors


def score_forecasts(forecasts: list[dict[str, np.ndarray]], table: WindowTable, splits: list) -> dict[str, list[dict]]:
    """{name: per-fold scores}: MAE (overall, per horizon day, first week), RMSE, skill, spread, oracle share."""
    scores: dict[str, list[dict]] = {name: [] for name in forecasts[0]}
    for fold_forecast, (_, _, test) in zip(forecasts, splits):
        truth = table.targets[test]
        oracle_mae = float(np.abs(fold_forecast["oracle"] - truth).mean()) if "oracle" in fold_forecast else None
        for name, values in fold_forecast.items():
            scores[name].append(fold_scores(values, truth, fold_forecast["persistence"], oracle_mae))
    return scores


def _paired(scores: dict[str, list[dict]], a: str, b: str, metric: str) -> dict:
    entry = paired_comparison([s[metric] for s in scores[a]], [s[metric] for s in scores[b]], a, b,
                              RENAMED.get(metric, metric))
    if metric.startswith("skill"):
        entry["higher_is_better"] = True
        entry["wins"] = int(sum(s_a[metric] > s_b[metric] for s_a, s_b in zip(scores[a], scores[b])))
    return entry


def comparisons(scores: dict[str, list[dict]], students: list[str]) -> dict[str, dict]:
    """The report's paired comparisons, Holm-corrected together; few, so that a real difference can be named.

    Skill (1 - MAE / MAE(persistence), per fold) puts every fold on one scale: the folds' waves differ tenfold
    in size, and raw MAE differences would let the largest wave decide. student_kd against student_scratch is
    compared on MAE in the target's units, the number a user reads off the table.
    """
    found = {"teacher_vs_persistence": _paired(scores, "teacher", "persistence", "skill"),
             "teacher_vs_persistence_first_week": _paired(scores, "teacher", "persistence", "skill_first_week")}
    for name in students:
        found[f"{name}_vs_teacher"] = _paired(scores, name, "teacher", "skill")
    if {"student_kd", "student_scratch"} <= set(students):
        found["student_kd_vs_student_scratch"] = _paired(scores, "student_kd", "student_scratch", "mae")
    return add_verdicts(found)


def summaries(scores: dict[str, list[dict]]) -> tuple[dict[str, dict], list[str]]:
    """{name: summarized test scores} and the plain warnings for collapsed models."""
    summarized = {name: summarize_runs(runs) for name, runs in scores.items()}
    warnings = [collapse_warning(name, entry["output_spread"]["mean"]) for name, entry in summarized.items()
                if name not in NAIVE]
    return summarized, [warning for warning in warnings if warning]

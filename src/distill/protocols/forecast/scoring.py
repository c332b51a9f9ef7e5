"""Forecast scores in the target's own units: MAE overall, on the first week and per horizon day, skill against persistence,
share of the achievable skill (against the oracle, where the data has one) and output spread.

    skill(m)  = 1 - MAE(m) / MAE(persistence)
    share(m)  = (MAE(persistence) - MAE(m)) / (MAE(persistence) - MAE(oracle))
    spread(m) = mean over horizon days of std_windows(forecast) / std_windows(truth)

A spread near 0 means the model forecasts (almost) the same vector for every window: it has collapsed,
whatever its error says (Murphy 1993, "What is a good forecast?": a forecast without resolution).
"""
from __future__ import annotations

import numpy as np

from distill.core.stats import summarize

COLLAPSED_BELOW = 0.05


def output_spread(forecasts: np.ndarray, truth: np.ndarray) -> float:
    """std across windows of the forecasts relative to the truth's, averaged over horizon days."""
    truth_std = truth.std(axis=0)
    usable = truth_std > 0
    if not usable.any():
        return float("nan")
    return float((forecasts.std(axis=0)[usable] / truth_std[usable]).mean())


def fold_scores(forecasts: np.ndarray, truth: np.ndarray, persistence: np.ndarray,
                oracle_mae: float | None = None) -> dict:
    """Scores of one model on one fold's test windows; forecasts, truth and persistence's forecasts are
    (windows, horizon). `skill_first_week` is the skill over horizon days 1-7 alone."""
    errors = np.abs(forecasts - truth)
    mae = float(errors.mean())
    persistence_errors = np.abs(persistence - truth)
    persistence_mae = float(persistence_errors.mean())
    first_week = float(persistence_errors[:, :7].mean())
    scores = {"mae": mae, "rmse": float(np.sqrt(((forecasts - truth) ** 2).mean())),
              "mae_first_week": float(errors[:, :7].mean()), "mae_by_horizon": errors.mean(axis=0).tolist(),
              "skill": 1.0 - mae / persistence_mae if persistence_mae > 0 else float("nan"),
              "skill_first_week": 1.0 - float(errors[:, :7].mean()) / first_week if first_week > 0 else float("nan"),
              "output_spread": output_spread(forecasts, truth)}
    if oracle_mae is not None:
        achievable = persistence_mae - oracle_mae
        scores["share_of_achievable"] = (persistence_mae - mae) / achievable if achievable > 0 else float("nan")
    return scores


def collapse_warning(name: str, spread: float) -> str | None:
    """A plain sentence when a model's forecasts hardly vary across windows."""
    if np.isnan(spread) or spread >= COLLAPSED_BELOW:
        return None
    return (f"WARNING: {name} has collapsed: its forecasts vary across test windows by {spread:.3f} of the "
            "truth's spread, so it outputs (nearly) one vector whatever the input")


def summarize_runs(per_fold: list[dict]) -> dict:
    """{metric: {mean, sem, per_fold}} over folds; per-horizon errors as {mean: [...], sem: [...]}."""
    keys = [key for key in per_fold[0] if key != "mae_by_horizon"]
    summary = {key: summarize([fold[key] for fold in per_fold]) for key in keys}
    by_horizon = np.array([fold["mae_by_horizon"] for fold in per_fold])  # (folds, horizon)
    sem = by_horizon.std(axis=0, ddof=1) / np.sqrt(len(by_horizon)) if len(by_horizon) > 1 else by_horizon[0] * np.nan
    summary["mae_by_horizon"] = {"mean": by_horizon.mean(axis=0).tolist(), "sem": sem.tolist()}
    return summary

"""Metrics and statistics: per-fold scores, mean +- SEM, and paired comparisons between models."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats


def summarize(per_fold: list[float]) -> dict:
    """Mean, standard error of the mean (ddof = 1) and the per-fold values."""
    values = np.asarray(per_fold, dtype=float)
    sem = float(stats.sem(values)) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()), "sem": sem, "per_fold": [float(v) for v in values]}


def paired_comparison(a: list[float], b: list[float], name_a: str, name_b: str, metric: str) -> dict:
    """Per-fold differences a - b, their mean +- SEM, and the paired t-test p-value (two-sided)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    p_value = float("nan")
    if len(diff) > 1 and np.ptp(diff) > 0:
        with warnings.catch_warnings():  # near-constant differences make scipy warn of precision loss
            warnings.simplefilter("ignore", RuntimeWarning)
            p_value = float(stats.ttest_rel(a, b).pvalue)
    summary = summarize(diff.tolist())
    return {
        "metric": metric,
        "difference": f"{name_a} - {name_b}",
        **summary,
        "p_value": p_value,
        "wins": int((diff < 0).sum()),
        "folds": len(diff),
    }



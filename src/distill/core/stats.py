"""Mean +- SEM over folds, paired comparisons and the one verdict rule every report uses.

A difference between two models is named ("better" / "worse") only when its paired t-test over folds
gives p < 0.05 after Holm's step-down correction over all comparisons of the report (Holm 1979, "A simple
sequentially rejective multiple test procedure"); otherwise it is "not distinguishable". A sign test
(exact binomial on the folds won) is reported beside it.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

ALPHA = 0.05


def summarize(per_fold: list[float]) -> dict:
    """Mean, standard error of the mean (ddof = 1) and the per-fold values."""
    values = np.asarray(per_fold, dtype=float)
    sem = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")  # scipy's sem
    return {"mean": float(values.mean()), "sem": sem, "per_fold": [float(v) for v in values]}


def paired_comparison(a: list[float], b: list[float], name_a: str, name_b: str, metric: str) -> dict:
    """Per-fold differences a - b: mean, SEM, 95% t interval, paired t-test and sign-test p-values.

    Identical differences on every fold leave the t-test undefined: its p-value is NaN, which no verdict names.
    """
    from scipy import stats  # imported when a report compares (~60 MB resident), not while a run trains

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(diff)
    summary = summarize(diff.tolist())
    p_value = float("nan")
    if n > 1 and np.ptp(diff) > 0:
        with warnings.catch_warnings():  # near-constant differences make scipy warn of precision loss
            warnings.simplefilter("ignore", RuntimeWarning)
            p_value = float(stats.ttest_rel(a, b).pvalue)
    half = float(stats.t.ppf(0.975, n - 1) * summary["sem"]) if n > 1 else float("nan")
    wins, losses = int((diff < 0).sum()), int((diff > 0).sum())
    sign_p = float(stats.binomtest(wins, wins + losses).pvalue) if wins + losses else 1.0
    return {"metric": metric, "difference": f"{name_a} - {name_b}", **summary,
            "ci95": [summary["mean"] - half, summary["mean"] + half], "p_value": p_value,
            "sign_test_p": sign_p, "wins": wins, "folds": n}


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (NaN stays NaN and is not counted)."""
    order = [i for i in np.argsort(p_values) if not math.isnan(p_values[i])]
    adjusted, running = [float("nan")] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def add_verdicts(comparisons: dict[str, dict], lower_is_better: bool = True) -> dict[str, dict]:
    """Holm-correct the comparisons' p-values together and give each its verdict (in place, and returned).

    `verdict` speaks of the first model of the difference: "better", "worse" or "not distinguishable". An entry
    with `higher_is_better` (a skill or an accuracy among error metrics) overrides `lower_is_better` for itself.
    """
    names = list(comparisons)
    adjusted = holm([comparisons[name]["p_value"] for name in names])
    for name, p in zip(names, adjusted):
        entry = comparisons[name]
        entry["p_adjusted"] = p
        if math.isnan(p) or p >= ALPHA:
            entry["verdict"] = "not distinguishable"
        else:
            lower = entry["mean"] < 0
            entry["verdict"] = "better" if lower != entry.get("higher_is_better", not lower_is_better) else "worse"
    return comparisons

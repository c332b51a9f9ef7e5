"""`data.quantiles: hub` in a forecasting run: quantile models, their scores against the Hub's baseline, report lines.

With it, the teacher and every student are built as the `quantile` family around their configured model (the
Forecast Hub's 23 levels, non-crossing), trained by `QuantileTask` (pinball loss; students distil the teacher's
quantiles with their `lam`), and every point table of the run reads their median. On each fold's test windows
every trained model's quantiles and the Hub baseline's (from the target's whole history up to each window's
last input day) are scored by WIS, its parts, relative WIS and coverage, with paired verdicts over folds; the
trained models' intervals first calibrated on each fold's inner-validation windows (`data.calibration: cqr`,
`IntervalCQR`), AutoETS's own intervals beside them, and each series on its own in a many-series run.
Without it, every point model's inner-validation residual quantiles are kept (`conformal_intervals`), so that
`distill predict --intervals` gives calibrated intervals for point models too.
"""
from __future__ import annotations

import numpy as np

from distill.config import ModelSpec
from distill.core.protocol import ProtocolResult
from distill.core.train import predict
from distill.core.wis import interval_coverage, weighted_interval_score
from distill.errors import DistillError
from distill.io.tables import markdown_table
from distill.losses.pinball import HUB_LEVELS
from distill.protocols.forecast.cqr import IntervalCQR
from distill.protocols.forecast.ets import ets_quantile_forecasts
from distill.protocols.forecast.evaluation import EtsSetup
from distill.protocols.forecast.quantiles import (
    ConformalQuantiles,
    hub_baseline_quantiles,
    per_series_scores,
    point_outputs,
    score_quantiles,
)
from distill.protocols.forecast.windows import FoldCodec, WindowTable

BASELINE = "hub_baseline"
ETS = "auto_ets"
BASELINE_SAMPLES = 10_000  # per test window; the Hub draws 100,000 per weekly round. Measured on a simulated series
# (3 origins, 14 days): 10,000 moves a quantile by at most 2.6% of the 1-99% width (another seed's draws)


def _wrapped(spec: ModelSpec, role: str) -> ModelSpec:
    if spec.model == "quantile":
        return spec
    if getattr(spec, "candidates", None) or getattr(spec, "ensemble", 1) > 1 or getattr(spec, "blend", None):
        raise DistillError(f"data.quantiles: hub does not combine with {role} candidates or ensembles yet; "
                           f"name one model (e.g. --set {role}.ensemble=1 --set {role}.blend=[])")
    return spec.model_copy(update={"model": "quantile", "options": {"base": spec.model, "base_options": spec.options}})


def quantile_config(config):
    """The run's config with every trained model wrapped in the `quantile` family (unchanged without
    `data.quantiles: hub`; a config already wrapped stays as it is)."""
    if config.data.quantiles == "none":
        return config
    return config.model_copy(update={"teacher": _wrapped(config.teacher, "teacher"),
                                     "students": {name: _unlabelled(_wrapped(spec, name))
                                                  for name, spec in config.students.items()}})


def _unlabelled(spec):
    """A quantile student without teacher-labelled windows: their labels are point forecasts (the run notes it)."""
    if not getattr(spec, "teacher_labelled", None) or not spec.teacher_labelled.used:
        return spec
    return spec.model_copy(update={"teacher_labelled": type(spec.teacher_labelled).model_validate({})})


def _decoded(codec: FoldCodec, rows: np.ndarray, outputs: np.ndarray, counts: bool) -> np.ndarray:
    """(rows, horizon, levels) model-unit quantiles -> the target's units (clipped at 0 for counts, as points)."""
    decoded = np.stack([codec.decode(rows, outputs[..., j]) for j in range(outputs.shape[-1])], axis=-1)
    return np.clip(decoded, 0 if counts else None, None)


def fold_quantile_scores(protocol: ProtocolResult, table: WindowTable, splits: list, codecs: list[FoldCodec],
                         targets: list[np.ndarray], input_days: int, seed: int, calibration: str = "cqr",
                         ets: EtsSetup | None = None, names: list[str] | None = None) -> dict:
    """WIS, parts, relative WIS and coverage of every trained model and the Hub baseline on the test windows of
    every split (fold or refit block), with paired verdicts over forecast origins (`score_quantiles`; origins of
    one refit block share its models, each forecasts only days after its block's training data). `targets`:
    each series' observed target; the baseline reads a window's own series up to its last input day.

    `calibration="cqr"`: each fold model's intervals are first calibrated on that fold's inner-validation windows
    (`IntervalCQR`, log scale for counts), never on test windows; `calibration` in the scores records how, and
    the uncalibrated models' scores beside them. Without inner validation nothing is calibrated (and it says so).
    `ets` (its fits made by the point forecasts): AutoETS's own prediction intervals are scored too (`auto_ets`).
    `names` (the series, in `targets`' order): with more than one, `per_series` scores each series on its own.
    """
    calibrate = calibration == "cqr" and protocol.folds[0].x_val is not None
    raw: dict[str, list[np.ndarray]] = {name: [] for name in protocol.outcomes}
    forecasts: dict[str, list[np.ndarray]] = {name: [] for name in [*protocol.outcomes, BASELINE]}
    if ets is not None:
        forecasts[ETS] = []
    fitted: list[dict] = []
    truth, groups, window_series = [], [], []
    for k, (codec, (fit, val, test)) in enumerate(zip(codecs, splits)):
        counts = bool(table.targets[fit].min() >= 0 and table.history[fit].min() >= 0)  # clipped at 0, as points
        fold_fits = {}
        for name, runs in protocol.outcomes.items():
            raw[name].append(_decoded(codec, test, runs[k].test_outputs.numpy(), counts))  # (test windows, H, L)
            forecasts[name].append(raw[name][-1])
            if calibrate:
                cqr = _fold_cqr(protocol, k, name, codec, val, table.targets[val], counts)
                forecasts[name][-1] = cqr.transform(raw[name][-1])
                fold_fits[name] = {key: value for key, value in cqr.describe().items()
                                   if key in ("calibration_windows", "per_horizon_day", "capped_at_largest_score")}
        fitted += [fold_fits] if calibrate else []
        forecasts[BASELINE].append(np.stack([
            hub_baseline_quantiles(targets[table.series[w]][:table.rows[w] + input_days], table.targets.shape[1],
                                   samples=BASELINE_SAMPLES, seed=seed, nonnegative=counts) for w in test]))
        if ets is not None:
            windows = ets.origins(table, test)
            fits = {series: ets.fits[k, series] for series, _ in windows}
            forecasts[ETS].append(ets_quantile_forecasts(ets.targets, windows, fits, table.targets.shape[1],
                                                         HUB_LEVELS))
        truth.append(table.targets[test])
        window_series.append(table.series[test])
        groups.append(table.starts[test])  # a forecast origin: every series' window starting that period
    students = [name for name in protocol.outcomes if name != "teacher"]
    pairs = [("teacher", BASELINE), *((name, BASELINE) for name in students), *((name, "teacher") for name in students)]
    if ets is not None:
        pairs.append(("teacher", ETS))
    if {"student_kd", "student_scratch"} <= set(students):
        pairs.append(("student_kd", "student_scratch"))
    truth_all, groups_all = np.concatenate(truth), np.concatenate(groups)
    pooled = {name: np.concatenate(parts) for name, parts in forecasts.items()}
    scores = score_quantiles(pooled, truth_all, groups_all, baseline=BASELINE, pairs=pairs)
    if names is not None and len(names) > 1:
        scores["per_series"] = per_series_scores(pooled, truth_all, np.concatenate(window_series), names,
                                                 baseline=BASELINE)
    teacher, base = scores["models"]["teacher"]["wis"]["mean"], scores["models"][BASELINE]["wis"]["mean"]
    if "student_kd" in scores["models"] and base > teacher:
        scores["student_kd_keeps"] = (base - scores["models"]["student_kd"]["wis"]["mean"]) / (base - teacher)
    scores["calibration"] = {"method": "none"}
    if calibrate:
        scores["calibration"] = {"method": "cqr", "folds": fitted, "uncalibrated": uncalibrated_summary(
            {name: np.concatenate(parts) for name, parts in raw.items()}, truth_all, base)}
    return scores


def _fold_cqr(protocol: ProtocolResult, k: int, name: str, codec: FoldCodec, val: np.ndarray, truth: np.ndarray,
              counts: bool) -> IntervalCQR:
    """CQR of fold k's model `name`, fitted on its forecasts of the fold's inner-validation windows `val` (log
    scale for counts: the series differ in size)."""
    outputs = predict(protocol.models[k][name], protocol.folds[k].val_inputs(name)).numpy()  # (val windows, horizon, levels)
    return IntervalCQR(scale="log" if counts else "absolute").fit(_decoded(codec, val, outputs, counts), truth)


def uncalibrated_summary(forecasts: dict[str, np.ndarray], truth: np.ndarray, baseline_wis: float) -> dict:
    """Per model, before calibration: mean WIS, relative WIS against the baseline's mean WIS, 50/80/95% coverage."""
    summary = {}
    for name, quantiles in forecasts.items():
        wis = float(weighted_interval_score(quantiles, truth, HUB_LEVELS).wis.mean())
        summary[name] = {"wis": wis, "relative_wis": wis / baseline_wis,
                         "coverage": {f"{nominal:.0%}": share
                                      for nominal, share in interval_coverage(quantiles, truth, HUB_LEVELS).items()}}
    return summary


def conformal_intervals(protocol: ProtocolResult, table: WindowTable, splits: list, codecs: list[FoldCodec]) -> dict:
    """Per trained point model: residual quantiles of its fold models on their inner-validation windows, pooled
    over folds (log scale, per horizon day; `ConformalQuantiles.describe`), for `distill predict --intervals`.
    Empty without inner validation."""
    if protocol.folds[0].x_val is None:
        return {}
    intervals = {}
    for name in protocol.models[0]:
        forecasts, truth = [], []
        for fold, models, codec, (_, val, _) in zip(protocol.folds, protocol.models, codecs, splits):
            outputs = point_outputs(predict(models[name], fold.val_inputs(name)).numpy())
            forecasts.append(np.clip(codec.decode(val, outputs), 0, None))
            truth.append(table.targets[val])
        intervals[name] = ConformalQuantiles(scale="log").fit(np.concatenate(forecasts), np.concatenate(truth)).describe()
    return intervals


def quantile_markdown(scores: dict, unit: str) -> list[str]:
    """report.md's section on the quantile forecasts."""
    header = ["model", "WIS", "dispersion", "over", "under", "relative WIS", "day 1", "day 7", "last day",
              "50%", "80%", "95%"]
    rows = [header]
    for name, entry in scores["models"].items():
        wis, parts, relative, coverage = entry["wis"], entry["parts"], entry["relative_wis"], entry["coverage"]
        days = relative["per_horizon"]
        rows.append([name, f"{wis['mean']:.3g} +- {wis['sem']:.2g}", *(f"{parts[p]:.3g}" for p in parts),
                     f"{relative['overall']:.3f}", f"{days[0]:.2f}", f"{days[min(6, len(days) - 1)]:.2f}",
                     f"{days[-1]:.2f}", *(f"{coverage[c]:.2f}" for c in ("50%", "80%", "95%"))])
    lines = [f"## Quantile forecasts (the Forecast Hub's {len(HUB_LEVELS)} levels; WIS in {unit}, mean +- SEM over "
             f"{scores['groups']} forecast origins, every series pooled)",
             markdown_table(rows),
             "WIS = dispersion + over- + under-prediction (Bracher et al. 2021); relative WIS = mean WIS / the Hub "
             f"baseline's on the same windows (below 1: better); coverage: share of the truth inside the central "
             f"50 / 80 / 95% intervals. {BASELINE}: the COVID-19 Forecast Hub's baseline (last value as median, "
             "symmetrised past one-step changes, spread growing with the horizon).",
             "\n".join(f"- {key}: {entry['mean']:+.3g} +- {entry['sem']:.2g} WIS, p_holm = {entry['p_adjusted']:.3g}: "
                       f"{entry['verdict']}" for key, entry in scores["comparisons"].items())]
    if "student_kd_keeps" in scores:
        lines.append(f"student_kd keeps {scores['student_kd_keeps']:.0%} of the teacher's WIS improvement over "
                     f"{BASELINE}.")
    lines.append(calibration_line(scores.get("calibration", {"method": "none"})))
    if "per_series" in scores:
        lines += per_series_markdown(scores["per_series"], unit)
    return lines


def calibration_line(calibration: dict) -> str:
    """report.md's sentence on how the trained models' intervals were calibrated, with the figures before."""
    if calibration["method"] == "none":
        return "Intervals: the trained models' own quantiles, not calibrated (data.calibration: none, or no inner " \
               "validation)."
    windows = sorted({entry["calibration_windows"] for fold in calibration["folds"] for entry in fold.values()})
    pooled = any(not entry["per_horizon_day"] for fold in calibration["folds"] for entry in fold.values())
    before = "; ".join(f"{name} relative WIS {entry['relative_wis']:.3f}, 95% coverage {entry['coverage']['95%']:.2f}"
                       for name, entry in calibration["uncalibrated"].items())
    return (f"Intervals calibrated on inner validation: CQR (conformalized quantile regression, Romano et al. 2019: "
            f"each central interval widened or narrowed by its finite-sample quantile of max(q_lo - y, y - q_hi) on "
            f"each fold's {windows[0]}-{windows[-1]} inner-validation windows, "
            f"{'pooled over the horizon days' if pooled else 'per horizon day'}; never on test windows). "
            f"Before calibration: {before}.")


def per_series_markdown(per_series: dict, unit: str) -> list[str]:
    """report.md's table of each model's quantile scores on each series."""
    rows = [["series", "model", f"WIS ({unit})", "relative WIS", "50%", "80%", "95%"]]
    for series, models in per_series.items():
        rows += [[series, name, f"{entry['wis']:.3g}", f"{entry['relative_wis']:.3f}",
                  *(f"{entry['coverage'][c]:.2f}" for c in ("50%", "80%", "95%"))] for name, entry in models.items()]
    return ["### Quantile forecasts per series (relative WIS against the Hub baseline on the same series)",
            markdown_table(rows)]

"""`data.quantiles: hub` in a forecasting run: quantile models, their scores against the Hub's baseline, report lines.

With it, the teacher and every student are built as the `quantile` family around their configured model (the
Forecast Hub's 23 levels, non-crossing), trained by `QuantileTask` (pinball loss; students distil the teacher's
quantiles with their `lam`), and every point table of the run reads their median. On each fold's test windows
every trained model's quantiles and the Hub baseline's (from the target's whole history up to each window's
last input day) are scored by WIS, its parts, relative WIS and coverage, with paired verdicts over folds.
Without it, every point model's inner-validation residual quantiles are kept (`conformal_intervals`), so that
`distill predict --intervals` gives calibrated intervals for point models too.
"""
from __future__ import annotations

import numpy as np

from distill.config import ModelSpec
from distill.core.protocol import ProtocolResult
from distill.core.train import predict
from distill.errors import DistillError
from distill.io.tables import markdown_table
from distill.losses.pinball import HUB_LEVELS
from distill.protocols.forecast.quantiles import ConformalQuantiles, hub_baseline_quantiles, score_quantiles
from distill.protocols.forecast.windows import FoldCodec, WindowTable

BASELINE = "hub_baseline"
BASELINE_SAMPLES = 10_000  # per test window; the Hub draws 100,000 per weekly round. Measured on a simulated series
# (3 origins, 14 days): 10,000 moves a quantile by at most 2.6% of the 1-99% width (another seed's draws)


def _wrapped(spec: ModelSpec, role: str) -> ModelSpec:
    if spec.model == "quantile":
        return spec
    if getattr(spec, "candidates", None) or getattr(spec, "ensemble", 1) > 1:
        raise DistillError(f"data.quantiles: hub does not combine with {role} candidates or ensembles yet; "
                           f"name one model (e.g. --set {role}.ensemble=1)")
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


def point_outputs(outputs: np.ndarray) -> np.ndarray:
    """(rows, horizon) outputs as they are; (rows, horizon, levels) quantiles -> their median (the middle level)."""
    return outputs[..., outputs.shape[-1] // 2] if outputs.ndim == 3 else outputs


def fold_quantile_scores(protocol: ProtocolResult, table: WindowTable, splits: list, codecs: list[FoldCodec],
                         targets: list[np.ndarray], input_days: int, seed: int) -> dict:
    """WIS, parts, relative WIS and coverage of every trained model and the Hub baseline on the test windows of
    every split (fold or refit block), with paired verdicts over forecast origins (`score_quantiles`; origins of
    one refit block share its models, each forecasts only days after its block's training data). `targets`:
    each series' observed target; the baseline reads a window's own series up to its last input day."""
    forecasts: dict[str, list[np.ndarray]] = {name: [] for name in [*protocol.outcomes, BASELINE]}
    truth, groups = [], []
    for k, (codec, (fit, _, test)) in enumerate(zip(codecs, splits)):
        counts = bool(table.targets[fit].min() >= 0 and table.history[fit].min() >= 0)  # clipped at 0, as points
        for name, runs in protocol.outcomes.items():
            outputs = runs[k].test_outputs.numpy()  # (test windows, horizon, levels), model units
            decoded = np.stack([codec.decode(test, outputs[..., j]) for j in range(outputs.shape[-1])], axis=-1)
            forecasts[name].append(np.clip(decoded, 0 if counts else None, None))
        forecasts[BASELINE].append(np.stack([
            hub_baseline_quantiles(targets[table.series[w]][:table.rows[w] + input_days], table.targets.shape[1],
                                   samples=BASELINE_SAMPLES, seed=seed, nonnegative=counts) for w in test]))
        truth.append(table.targets[test])
        groups.append(table.starts[test])  # a forecast origin: every series' window starting that period
    students = [name for name in protocol.outcomes if name != "teacher"]
    pairs = [("teacher", BASELINE), *((name, BASELINE) for name in students), *((name, "teacher") for name in students)]
    if {"student_kd", "student_scratch"} <= set(students):
        pairs.append(("student_kd", "student_scratch"))
    scores = score_quantiles({name: np.concatenate(parts) for name, parts in forecasts.items()},
                             np.concatenate(truth), np.concatenate(groups), baseline=BASELINE, pairs=pairs)
    teacher, base = scores["models"]["teacher"]["wis"]["mean"], scores["models"][BASELINE]["wis"]["mean"]
    if "student_kd" in scores["models"] and base > teacher:
        scores["student_kd_keeps"] = (base - scores["models"]["student_kd"]["wis"]["mean"]) / (base - teacher)
    return scores


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
            forecasts.append(np.clip(codec.decode(val, point_outputs(predict(models[name], fold.x_val).numpy())), 0,
                                     None))
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
    return lines

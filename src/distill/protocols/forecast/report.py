"""report.md of the forecasting protocol: data, the table in the target's units, verdicts, errors by horizon
day, notes on the protocol (every leak named), and each fold's scaling beside its models."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.core.protocol import ProtocolResult
from distill.data.panel import Panel
from distill.data.windows import OriginBlock
from distill.io.checkpoints import checkpoint_section
from distill.io.run_writer import results_json, write_atomic
from distill.io.tables import format_mean_sem, markdown_table, verdict_line
from distill.protocols.forecast.bottom_line import bottom_line_markdown
from distill.protocols.forecast.config import ForecastConfig, TimeDistill
from distill.protocols.forecast.cost import cost_markdown
from distill.protocols.forecast.data_choice import data_choice_line
from distill.protocols.forecast.final import FinalModels
from distill.protocols.forecast.privileged import TEACHER_LABEL
from distill.protocols.forecast.quantile_run import quantile_markdown
from distill.protocols.forecast.windows import WindowTable


@dataclass
class ForecastRun:
    """Everything a report needs: the JSON-able results and the arrays behind the figures."""

    results: dict
    protocol: ProtocolResult
    dates: list[str]
    forecasts: list[dict[str, np.ndarray]]  # per fold: {name: (test windows, horizon)} in the target's units
    table: WindowTable
    splits: list  # per fold: (fit, validation, test) window positions
    scalings: list[dict]  # per fold: what a saved model's inputs went through
    final: FinalModels | None = None  # fitted on all windows after cross-validation (train.final_fit)


def forecast_notes(config: ForecastConfig, panel: Panel, table: WindowTable,
                   blocks: list[OriginBlock] | None) -> list[str]:
    """Plain-language notes on every way this protocol departs from honest evaluation (and what we do right)."""
    data, cv = config.data, config.cv
    span = data.lookback + data.horizon
    period = panel.period
    notes = ["Every model, including student_kd, is scored against the TRUE test targets in the target's own "
             "units; agreement with the teacher is reported separately as fidelity_to_teacher.",
             "Parameters, FLOPs and latency are measured by code (the seed study's 1595 / 5048 parameter "
             "counts added up tensor dimensions)."]
    if cv.split == "shuffled":
        notes.append(f"LEAK: shuffled K-fold over overlapping windows - a test window shares up to {span - 1} "
                     f"of its {span} days with training windows (use cv.split: blocked or rolling).")
    elif cv.split == "rolling":
        origins = sum(len(block.origins) for block in blocks)
        refit_every = len(blocks[0].origins)
        shared = (f"every {refit_every} consecutive origins share one fit, made at the first of them (the "
                  "later ones are forecast by a model that has not seen the periods since)" if refit_every > 1
                  else "every origin has its own fit")
        notes.append(f"Rolling origin: {origins} forecast origins every {cv.step} {period}s over the last "
                     f"{cv.test_share:g} of the periods; at each origin every model is trained only on windows whose "
                     f"{data.horizon} forecast {period}s all end before it (never on the future, as deployed); "
                     f"{shared}: {len(blocks)} fits. Scores are pooled over each fit's origins, and the paired "
                     "verdicts are over the fits (refit blocks): each block's test windows are forecast by models "
                     "that saw none of them, so blocks are the independent units (origins inside a block share a "
                     "model, and consecutive origins share forecast days, so they are not).")
    else:
        notes.append("TRAINS ON THE FUTURE: blocked folds with a purge gap - no day of a test window is in any "
                     "training window, but a fold trains on windows after its test block, which no deployed "
                     "forecaster can (use cv.split: rolling).")
    if len(panel.parts) > 1:
        notes.append(f"One global model for {len(panel.parts)} series ({', '.join(p.name for p in panel.parts)}): "
                     "every window reads one series only and is read relative to its own level; folds and origins "
                     "cut all series at the same dates.")
    dropped = {reason: names for reason, names in panel.dropped.items() if reason not in ("text", "cumulative")}
    for reason, names in dropped.items():
        if names:
            notes.append(f"Dropped {len(names)} {reason.replace('_', ' ')} column(s), judged on {panel.judged_on}: "
                         + ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "") + ".")
    if cv.inner_validation > 0:
        notes.append(f"Inner validation: the latest {cv.inner_validation:g} of each fold's training windows (purged) "
                     "choose every model's best epoch, the ridge penalty and the teacher among candidates; test "
                     "windows are never used to choose anything.")
    if data.missing == "zero":
        notes.append("MISSING AS ZERO: missing values were set to 0 as the seed did, so unreported target "
                     "days count as days without patients (use data.missing: ffill).")
    else:
        rows = panel.rows
        notes.append(f"Missing data: features filled from the past only; {rows['leading_trimmed']} leading and "
                     f"{rows['trailing_trimmed']} trailing rows without a target trimmed, "
                     f"{rows['date_gaps_filled']} missing dates re-indexed as empty days, "
                     f"{rows['target_missing_inside']} unreported target days kept missing; "
                     f"{table.dropped} windows that touch one were dropped.")
    if data.scaling == "minmax":
        if data.scale_on == "all":
            notes.append("LEAK: the MinMax scaler was fitted on all rows, test rows included (use data.scale_on: train).")
        else:
            notes.append("The MinMax scaler of each fold is fitted on the days of its fitting windows only.")
    else:
        notes.append(f"Each window is read relative to its own level (mean log of the last {data.level_days} input "
                     "days), with per-feature statistics fitted on the fold's fitting windows only.")
    if config.teacher.select == "best":
        notes.append("LEAK: one best-fold teacher labels every fold for student_kd, including windows it was "
                     "trained on and other folds' test windows (use teacher.select: per_fold).")
    notes.extend(timedistill_note(name, spec.timedistill) for name, spec in config.students.items()
                 if spec.timedistill.used)
    if config.report.seed_sums:
        notes.append("mse_sum is the seed study's figure: the SUM over samples of per-sample MSE, so train "
                     "(~4/5 of windows) and test (~1/5) sums are not comparable; compare mse instead.")
    return notes


def timedistill_note(name: str, terms: TimeDistill) -> str:
    """The note on a student's TimeDistill terms (Ni et al. 2025): which, at what weights."""
    parts = []
    if terms.multiscale_weight > 0:
        parts.append(f"loss_multiscale (weight {terms.multiscale_weight:g}): MSE to the teacher's forecast averaged "
                     f"over blocks of {', '.join(str(m) for m in terms.scales)} days")
    if terms.spectral_weight > 0:
        parts.append(f"loss_spectral (weight {terms.spectral_weight:g}): KL(teacher || student) between the "
                     f"forecasts' amplitude spectra, softmaxed at temperature {terms.temperature:g}")
    return (f"{name}: TimeDistill terms (Ni et al. 2025) on its scaled forecasts, beside loss_hard / loss_kd: "
            + "; ".join(parts) + ".")


def write_scalings(scalings: list[dict], config: ForecastConfig, out_dir: Path,
                   labels: list[str] | None = None) -> list[str]:
    """`models/scaling-fold<k>.json` (or `scaling-<label>.json`): how fold k's models read a window and what their
    outputs mean."""
    data = config.data
    if data.scaling == "window_log":
        meaning = {"input": f"{data.lookback} consecutive days x every column: z = clip((slog(x) - mean of slog(x) "
                            f"over the last {data.level_days} days - input_mean) / input_std, -clip, clip), "
                            "slog(x) = sign(x) log1p(|x|), 0 in the zeroed columns",
                   "output": f"{data.horizon} days of {data.target}: expm1(clip(out * target_std + target_mean, "
                             f"change_range) + mean of log1p(target) over the last {data.level_days} input days)"}
    else:
        meaning = {"input": f"{data.lookback} consecutive days x every column, each scaled as (x - min) / range "
                            "(0 in the zeroed columns)",
                   "output": f"{data.horizon} days of {data.target}, scaled; "
                             + ("the change since the last input day" if data.target_mode == "change" else "the level")}
    paths = []
    for label, scaling in zip(labels or [f"fold{k}" for k in range(1, len(scalings) + 1)], scalings):
        relative = f"models/scaling-{label}.json"
        write_atomic(out_dir / relative, results_json({**meaning, "target": data.target, **scaling}))
        paths.append(relative)
    return paths


def _digits(value: float) -> int:
    """Decimals that keep about 3 significant digits."""
    return max(0, 2 - int(math.floor(math.log10(abs(value))))) if value and math.isfinite(value) else 2


def _cell(summary: dict | None, digits: int | None = None) -> str:
    if summary is None or summary["mean"] is None or not math.isfinite(summary["mean"]):
        return "-"
    return format_mean_sem(summary, _digits(summary["mean"]) if digits is None else digits)


def score_table(models: dict[str, dict], oracle: bool, privileged: bool = False) -> list[list[str]]:
    """Rows: model, parameters, MAE and RMSE in the target's units, skill, share of achievable skill, spread; a
    privileged teacher's row is marked (`privileged_line` says what it saw)."""
    header = ["model", "params", "MAE", "RMSE", "skill vs persistence"]
    header += ["share of achievable"] if oracle else []
    rows = [header + ["output spread"]]
    for name, entry in models.items():
        test = entry["test"]
        label = f"{name} (privileged*)" if privileged and name == "teacher" else name
        row = [label, str(entry.get("params", "-")), _cell(test["mae_original"]), _cell(test["rmse_original"]),
               _cell(test["skill"], 3)]
        row += [_cell(test.get("share_of_achievable"), 2)] if oracle else []
        rows.append(row + [_cell(entry["diagnostics"]["output_spread"], 2)])
    return rows


def privileged_line(columns: list[str], markdown: bool = True) -> list[str]:
    """The note under the results table on a privileged teacher (none without `data.privileged`)."""
    if not columns:
        return []
    marker = "\\*" if markdown else "*"
    return [f"{marker} the teacher {TEACHER_LABEL.format(columns=', '.join(columns))}; the students never see those "
            "values, and whether distillation beats the same student trained alone is the question that matters "
            "(bottom line)."]


def per_series_table(models: dict[str, dict]) -> list[list[str]]:
    """Rows: model; columns: each series' MAE and skill (mean +- SEM over the folds that test it)."""
    names = list(next(iter(models.values()))["test"].get("per_series", {}))
    rows = [["model"] + [f"{name} {what}" for name in names for what in ("MAE", "skill")]]
    for model, entry in models.items():
        per_series = entry["test"].get("per_series", {})
        rows.append([model] + [cell for name in names for cell in
                               (_cell(per_series[name]["mae_original"]), _cell(per_series[name]["skill"], 3))])
    return rows


def split_title(config: ForecastConfig, folds: int) -> str:
    """How the test windows were cut: rolling origin (its fits), or K folds."""
    if config.cv.split == "rolling":
        return f"rolling origin, {folds} refit blocks"
    if config.cv.split == "blocked":
        return f"{folds} blocked folds (trains on the future)"
    return f"{folds}-fold shuffled cross-validation"


def horizon_table(models: dict[str, dict]) -> list[list[str]]:
    """Mean MAE per horizon day, one row per model."""
    days = len(next(iter(models.values()))["test"]["mae_by_horizon"]["mean"])
    rows = [["model"] + [f"d{day}" for day in range(1, days + 1)]]
    for name, entry in models.items():
        rows.append([name] + [f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}"
                              for value in entry["test"]["mae_by_horizon"]["mean"]])
    return rows


SEED_PAPER_TABLE = {"teacher": ("2.22 +- 0.09", "1.64 +- 0.26"), "student_kd": ("2.85 +- 0.14", "1.91 +- 0.09"),
                    "student_scratch": ("3.58 +- 0.22", "1.66 +- 0.14")}


def _seed_table(models: dict) -> str:
    rows = [["model", "paper train sum", "paper test sum", "ours train sum", "ours test sum (truth)",
             "ours test sum (vs teacher, as the seed scored S1)"]]
    for name, (paper_train, paper_test) in SEED_PAPER_TABLE.items():
        entry = models[name]
        fidelity = entry.get("fidelity_to_teacher", {}).get("mse_sum")
        rows.append([name, paper_train, paper_test, format_mean_sem(entry["train"]["mse_sum"], 2),
                     format_mean_sem(entry["test"]["mse_sum"], 2), format_mean_sem(fidelity, 2) if fidelity else "-"])
    return markdown_table(rows)


def _teachers(choice: list[str]) -> str:
    """The teacher's architecture, once if every fold used the same one, else per fold."""
    if len(set(choice)) == 1:
        return f"`{choice[0]}` in every fold"
    return ", ".join(f"fold {k}: `{name}`" for k, name in enumerate(choice, start=1))


def best_baseline_line(results: dict) -> str:
    """The best baseline, chosen on inner validation, and AutoETS's cost (or why it was skipped)."""
    best = results.get("best_baseline", {}).get("name")
    ets = results.get("auto_ets", {})
    cost = (f"AutoETS: {ets['time']['seconds_per_series_fit']:.2f} CPU s per series fit, "
            f"{ets['time']['seconds_per_refit']:.1f} CPU s per refit (all series)" if ets.get("ran") else ets.get("note", ""))
    if best is None:
        return f"best baseline: none chosen (no inner validation windows). {cost}"
    return f"best baseline (lowest MAE on inner validation, never test): {best}. {cost}"


def shrinkage_note(folds: list[dict]) -> str:
    """The note on a teacher shrunk towards ridge (`teacher.shrink: ridge`)."""
    weights = ", ".join(f"{entry['weight']:.1f}" for entry in folds)
    return (f"The teacher is shrunk towards ridge regression (teacher.shrink: ridge): its forecast is w * teacher + "
            f"(1 - w) * ridge, w chosen per fold on inner validation MSE among 0, 0.1, ..., 1 (never on test): "
            f"w = {weights} by fold (1: the trained teacher alone, 0: ridge alone). The students learn from the mix, "
            "and the mix is the teacher scored here and saved.")


def unit_name(config: ForecastConfig) -> str:
    """What the scores are averaged and paired over."""
    return "refit blocks" if config.cv.split == "rolling" else "folds"


def verdict_lines(comparison: dict, unit: str) -> list[str]:
    return [verdict_line(entry, unit if entry["metric"].startswith("mae") else "") for entry in comparison.values()]


def forecast_markdown(results: dict, config: ForecastConfig, figures: dict[str, str]) -> str:
    """report.md: data, table, verdicts, errors by horizon day, fidelity, notes, figures."""
    data = results["data"]
    unit = data["unit"]
    parts = [
        f"# {config.name}: teacher vs students, {split_title(config, results['folds'])}",
        config.description,
        f"Data: {data['source']}; {len(data.get('series', [1]))} series, {data['days']} {data.get('period', 'day')}s "
        f"({data['first_date'][:10]} .. {data['last_date'][:10]}), "
        f"{data['features']} features ({data['feature_set']}) after cleaning, {data['windows']} windows of "
        f"{config.data.lookback} input {data.get('period', 'day')}s -> {config.data.horizon} {data.get('period', 'day')}s "
        f"of `{data['target']}` "
        f"({data['windows_dropped_missing_target']} dropped for a missing target day). Split: {config.cv.split}; "
        f"scaling: {data['scaling']}; teacher: {_teachers(results['teacher_choice'])}.",
        *data_choice_line(results),
        f"## Results (test windows, in {unit}; mean +- SEM over {results['folds']} {unit_name(config)}; all series "
        "pooled)",
        markdown_table(score_table(results["models"], data["oracle"], bool(data.get("privileged")))),
        *privileged_line(data.get("privileged", [])),
        "skill = 1 - MAE / MAE(persistence) (above 0: better than holding the last day); "
        + ("share of achievable = (MAE(persistence) - MAE) / (MAE(persistence) - MAE(oracle)), where the oracle "
           "knows the simulator's noise-free expected target; " if data["oracle"] else "")
        + "output spread = std of the forecasts across test windows / the truth's (near 0: a constant model). "
          "Baselines: persistence (last day held), seven_day_mean, linear_drift (least-squares line through the "
          "input days), ridge (ridge regression on the scaled input windows, penalty chosen on inner validation), "
          "auto_ets (statsmodels ETS on log1p of the target's history up to the refit origin, form chosen by AICc, "
          "states run on to each origin).",
        best_baseline_line(results),
    ]
    parts[1:1] = bottom_line_markdown(results)  # issue 19: four sentences, each with its verdict and Holm p
    if len(data.get("series", [])) > 1:
        parts += [f"## Per series (MAE in {unit}, skill vs persistence; mean +- SEM over the {unit_name(config)} "
                  "that test the series)", markdown_table(per_series_table(results["models"]))]
    if results["warnings"]:
        parts += ["## Warnings", "\n".join(f"- {warning}" for warning in results["warnings"])]
    parts += cost_markdown(results)  # issue 19: params, FLOPs, bytes, latency and ratios against the teacher
    parts += [
        f"## Verdicts (paired over {unit_name(config)}; a difference is named only at Holm-corrected p < 0.05)",
        "\n".join(f"- {line}" for line in verdict_lines(results["comparison"], unit)),
        f"## Error by horizon {data.get('period', 'day')} (MAE, {unit}, mean over {unit_name(config)})",
        markdown_table(horizon_table(results["models"])),
        "## Fidelity to the teacher (test, students vs teacher outputs, model units)",
        "\n".join(f"- {name}: mse {format_mean_sem(entry['fidelity_to_teacher']['mse'], 5)}"
                  for name, entry in results["models"].items() if "fidelity_to_teacher" in entry),
    ]
    if config.report.seed_sums:
        parts += ["## Beside the seed study's table (sums of per-sample MSE)", _seed_table(results["models"])]
    if "quantiles" in results:
        parts += quantile_markdown(results["quantiles"], unit)
    parts += ["## Notes on the protocol", "\n".join(f"- {note}" for note in results["notes"]),
              f"## Dropped columns (judged on {data.get('columns_judged_on', 'every row')})",
              "\n".join(f"- {reason}: {len(columns)}" + (": " + ", ".join(columns[:30]) if reason not in
                                                         ("text", "cumulative") and columns else "")
                        for reason, columns in results["dropped_columns"].items()),
              "## Trained models", checkpoint_section(results["checkpoints"]) + " Their inputs are scaled per fold as "
              "`models/scaling-fold<k>.json` records (columns, fitted statistics, what the outputs mean).",
              "## Figures"]
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"

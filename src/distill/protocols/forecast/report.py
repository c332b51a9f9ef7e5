"""Outputs of the forecasting protocol: report.md, the honesty notes, each fold's scaling, the figure list."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill.core.protocol import ProtocolResult
from distill.io.checkpoints import checkpoint_section
from distill.io.run_writer import results_json, write_atomic
from distill.io.tables import comparison_lines, findings, format_mean_sem, markdown_table, model_table
from distill.protocols.forecast.config import ForecastConfig


@dataclass
class ForecastRun:
    """Everything a report needs: the JSON-able results and the tensors behind the figures."""

    results: dict
    protocol: ProtocolResult
    dates: list[str]
    target_index: int
    scalings: list[dict]  # per fold, `TableScaler.describe`: what a saved model's inputs went through


def forecast_notes(config: ForecastConfig) -> list[str]:
    """Plain-language notes on every way this protocol departs from honest evaluation (and what we do right)."""
    notes = ["Every model, including student_kd, is scored against the TRUE test targets; agreement with "
             "the teacher is reported separately as fidelity_to_teacher.",
             "Parameters, FLOPs and latency are measured by code (the seed study's 1595 / 5048 parameter "
             "counts added up tensor dimensions)."]
    span = config.data.input_days + config.data.horizon
    if config.cv.split == "shuffled":
        notes.append(f"LEAK: shuffled K-fold over overlapping windows - a test window shares up to {span - 1} "
                     f"of its {span} days with training windows (use cv.split: blocked).")
    else:
        notes.append("Blocked folds with a purge gap: no day of a test window is in any training window.")
    if config.data.scale_on == "all":
        notes.append("LEAK: the MinMax scaler was fitted on all rows, test rows included (use data.scale_on: train).")
    else:
        notes.append("The MinMax scaler of each fold is fitted on the days of its training windows only.")
    if config.teacher.select == "best":
        notes.append("LEAK: one best-fold teacher labels every fold for student_kd, including windows it was "
                     "trained on and other folds' test windows (use teacher.select: per_fold).")
    if config.report.seed_sums:
        notes.append("mse_sum is the seed study's figure: the SUM over samples of per-sample MSE, so train "
                     "(~4/5 of windows) and test (~1/5) sums are not comparable; compare mse instead.")
    return notes


def write_scalings(scalings: list[dict], config: ForecastConfig, out_dir: Path) -> list[str]:
    """`models/scaling-fold<k>.json`: how fold k's models read a window and what their outputs mean."""
    data = config.data
    meaning = {"input": f"{data.input_days} consecutive days x every column, each scaled as (x - min) / range "
                        "(0 in the zeroed columns)",
               "output": f"{data.horizon} days of {data.target}, scaled; "
                         + ("the change since the last input day" if data.target_mode == "change" else "the level")}
    paths = []
    for fold, scaling in enumerate(scalings, start=1):
        relative = f"models/scaling-fold{fold}.json"
        write_atomic(out_dir / relative, results_json({**meaning, "target": data.target, **scaling}))
        paths.append(relative)
    return paths


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


def forecast_markdown(results: dict, config: ForecastConfig, figures: dict[str, str]) -> str:
    """report.md: data, table, comparisons, notes, figures."""
    data = results["data"]
    metrics = ["mse", "mae", "mae_original"]
    parts = [
        f"# {config.name}: teacher vs students, {results['folds']}-fold cross-validation",
        config.description,
        f"Data: {data['source']}; {data['days']} days ({data['first_date'][:10]} .. {data['last_date'][:10]}), "
        f"{data['features']} features after cleaning, {data['windows']} windows of "
        f"{config.data.input_days} input days -> {config.data.horizon} days of `{data['target']}`. "
        f"Split: {config.cv.split}; scaler fitted on: {config.data.scale_on} rows; teacher selection: "
        f"{config.teacher.select}.",
        "## Results (test scored on the truth; mean +- SEM over folds)",
        markdown_table(model_table(results["models"], metrics)),
        "`mse`/`mae` are in scaled units (MinMax of the fold); `mae_original` is in the target's own units "
        "(per day). FLOPs are per prediction; latency is the median CPU wall time of one forward pass.",
        "## Findings",
        "\n".join(f"- {line}" for line in findings(results["models"], results["comparison"])),
        "## Paired comparisons (same folds)",
        "\n".join(f"- {line}" for line in comparison_lines(results["comparison"])),
        "## Fidelity to the teacher (test, students vs teacher outputs)",
        "\n".join(f"- {name}: mse {format_mean_sem(entry['fidelity_to_teacher']['mse'], 5)}"
                  for name, entry in results["models"].items() if "fidelity_to_teacher" in entry),
    ]
    if config.report.seed_sums:
        parts += ["## Beside the seed study's table (sums of per-sample MSE)", _seed_table(results["models"])]
    parts += ["## Notes on the protocol", "\n".join(f"- {note}" for note in results["notes"]),
              "## Dropped columns",
              "\n".join(f"- {reason}: {len(columns)}" for reason, columns in results["dropped_columns"].items()),
              "## Trained models", checkpoint_section(results["checkpoints"]) + " Their inputs are scaled per fold as "
              "`models/scaling-fold<k>.json` records (columns, min, range, zeroed columns, what the outputs mean).",
              "## Figures"]
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"



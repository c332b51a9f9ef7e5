"""The forecasting recipes (covid-lstm, covid-seed, ...): table -> windows -> folds -> protocol.

Preprocessing is fitted inside each fold (MinMax on the days the training windows cover) unless the
config asks to reproduce the seed (`data.scale_on: all`), and every departure from honest
evaluation that a config asks for is written into the results as a note.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from distill.checkpoints import checkpoint_line, checkpoint_section, save_checkpoints
from distill.config import ForecastConfig, config_to_yaml
from distill.data.covid import CleanFrame, clean_covid_table, load_covid
from distill.data.covid_sim import simulate_covid
from distill.data.windows import TableScaler, WindowSet, covered_days, make_folds, make_windows, window_count
from distill.errors import DistillError
from distill.evaluate import format_mean_sem
from distill.experiment import FoldData, ProtocolResult, run_protocol, summarize_protocol
from distill.figures import plot_cost, plot_curves, plot_forecasts
from distill.models.baselines import Persistence
from distill.report import (
    comparison_lines,
    findings,
    markdown_table,
    model_table,
    results_json,
    text_table,
    write_atomic,
)
from distill.tasks import RegressionTask


@dataclass
class ForecastRun:
    """Everything a report needs: the JSON-able results and the tensors behind the figures."""

    results: dict
    protocol: ProtocolResult
    dates: list[str]
    target_index: int
    scalings: list[dict]  # per fold, `TableScaler.describe`: what a saved model's inputs went through


def load_frame(config: ForecastConfig) -> tuple[CleanFrame, str]:
    """The cleaned table and a description of where it came from."""
    data = config.data
    if data.path or data.location:
        cache = {"cache_dir": data.cache_dir} if data.cache_dir else {}
        source = data.path or f"COVID-19 Open Data v3 location {data.location}"
        return load_covid(data.target, path=data.path, location=data.location, **cache), source
    table = simulate_covid(days=data.sim_days, seed=data.sim_seed)
    return clean_covid_table(table, data.target), f"simulated epidemic (days={data.sim_days}, seed={data.sim_seed})"


def make_fold_data(config: ForecastConfig, values: np.ndarray,
                   target_index: int) -> tuple[list[FoldData], list[TableScaler]]:
    """Scale per fold (or on all rows), window as views, gather each fold's rows; also each fold's fitted
    scaler (what a saved model's inputs went through)."""
    data, cv = config.data, config.cv
    span = data.input_days + data.horizon
    n_windows = window_count(len(values), data.input_days, data.horizon)
    if n_windows < 1:
        raise DistillError(f"the data has {len(values)} rows; one window needs input_days + horizon = {span}")
    splits = make_folds(n_windows, cv.folds, cv.split, span, cv.random_state)
    folds, scalers = [], []
    for index, (train_rows, test_rows) in enumerate(splits):
        fit_rows = None if data.scale_on == "all" else covered_days(train_rows, span)
        scaler = TableScaler(keep_columns=(target_index,)).fit(values, fit_rows)
        scalers.append(scaler)
        scaled = torch.from_numpy(scaler.transform(values))  # (days, features)
        x, y = make_windows(scaled, scaled[:, target_index], data.input_days, data.horizon)
        if data.target_mode == "change":
            y = y - x[:, -1, target_index:target_index + 1]  # (windows, horizon): change since the last input day
        train_index, test_index = torch.from_numpy(train_rows), torch.from_numpy(test_rows)
        folds.append(FoldData(index=index, x_train=WindowSet(x, train_index), y_train=y[train_index],
                              x_test=WindowSet(x, test_index), y_test=y[test_index], test_rows=test_index,
                              units=scaler.column_range(target_index),
                              offset=scaler.column_min(target_index)))
    return folds, scalers


def honesty_notes(config: ForecastConfig) -> list[str]:
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


def run_forecast(config: ForecastConfig, show_progress: bool | None = None) -> ForecastRun:
    """Run a forecasting recipe end to end and return its results (nothing is written here)."""
    clean, source = load_frame(config)
    values = clean.frame.to_numpy(dtype=np.float32)
    target_index = clean.frame.columns.get_loc(config.data.target)
    folds, scalers = make_fold_data(config, values, target_index)
    horizon = config.data.horizon
    protocol = run_protocol(folds, RegressionTask(seed_sums=config.report.seed_sums), config.teacher,
                            config.students, config.train, config.seed,
                            baselines={"persistence": lambda fold: Persistence(target_index, horizon,
                                                                               config.data.target_mode)},
                            latency_repeats=config.report.latency_repeats, show_progress=show_progress)
    comparisons = [("student_kd", "student_scratch"), ("student_kd", "teacher"), ("student_scratch", "teacher"),
                   ("teacher", "persistence")]
    summary = summarize_protocol(protocol, comparisons, metric="mse")
    results = {
        "recipe": config.name,
        "task": "regression",
        "folds": len(folds),
        **summary,
        "dropped_columns": clean.dropped,
        "data": {"source": source, "days": len(values), "features": values.shape[1],
                 "windows": window_count(len(values), config.data.input_days, horizon),
                 "target": config.data.target, "first_date": str(clean.dates.iloc[0]),
                 "last_date": str(clean.dates.iloc[-1])},
        "teacher_for_students": [f"fold {i + 1}" for i in protocol.teacher_folds],
        "curves": {name: [run.curves for run in runs] for name, runs in protocol.outcomes.items() if runs[0].curves["train"]},
        "notes": honesty_notes(config),
    }
    dates = [str(d)[:10] for d in clean.dates]
    columns = list(clean.frame.columns)
    return ForecastRun(results=results, protocol=protocol, dates=dates, target_index=target_index,
                       scalings=[scaler.describe(columns) for scaler in scalers])


def write_scalings(run: ForecastRun, config: ForecastConfig, out_dir: Path) -> list[str]:
    """`models/scaling-fold<k>.json`: how fold k's models read a window and what their outputs mean."""
    data = config.data
    meaning = {"input": f"{data.input_days} consecutive days x every column, each scaled as (x - min) / range "
                        "(0 in the zeroed columns)",
               "output": f"{data.horizon} days of {data.target}, scaled; "
                         + ("the change since the last input day" if data.target_mode == "change" else "the level")}
    paths = []
    for fold, scaling in enumerate(run.scalings, start=1):
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


def forecast_markdown(run: ForecastRun, config: ForecastConfig, figures: dict[str, str]) -> str:
    """report.md: data, table, comparisons, notes, figures."""
    results = run.results
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


def write_forecast_outputs(run: ForecastRun, config: ForecastConfig, out_dir: Path) -> str:
    """Write figures, config.yaml, report.md, then results.json (last); return the terminal summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = run.results
    results["checkpoints"] = save_checkpoints(run.protocol.models, {"teacher": config.teacher, **config.students},
                                              run.protocol.input_shapes(), out_dir)
    results["scalings"] = write_scalings(run, config, out_dir)
    figures = {
        "Learning curves": plot_curves(results["curves"], "mse", out_dir / "curves.png").name,
        "Forecasts on test windows": plot_forecasts(run.protocol, run.dates, run.target_index,
                                                    config.report.sample_windows, config.seed,
                                                    out_dir / "forecasts.png",
                                                    change=config.data.target_mode == "change").name,
        "Error vs cost": plot_cost(results["models"], "mae_original", out_dir / "cost.png").name,
    }
    write_atomic(out_dir / "config.yaml", config_to_yaml(config))
    write_atomic(out_dir / "report.md", forecast_markdown(run, config, figures))
    write_atomic(out_dir / "results.json", results_json(results))
    table = text_table(model_table(results["models"], ["mse", "mae_original"]))
    return "\n".join([table, "", *comparison_lines(results["comparison"])[:1], f"report: {out_dir / 'report.md'}",
                      checkpoint_line(out_dir)])


def execute(config: ForecastConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write a forecasting recipe; the returned text is what the CLI prints."""
    return write_forecast_outputs(run_forecast(config, show_progress), config, out_dir)

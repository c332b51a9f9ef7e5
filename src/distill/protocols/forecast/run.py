"""The forecasting recipes (covid-lstm, covid-seed, ...): table -> windows -> folds -> protocol.

Preprocessing is fitted inside each fold (MinMax on the days the training windows cover) unless the
config asks to reproduce the seed (`data.scale_on: all`), and every departure from honest
evaluation that a config asks for is written into the results as a note.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.core.protocol import FoldData, run_protocol, summarize_protocol
from distill.data.covid import CleanFrame, clean_covid_table, load_covid
from distill.data.covid_sim import simulate_covid
from distill.data.windows import TableScaler, WindowSet, covered_days, make_folds, make_windows, window_count
from distill.errors import DistillError
from distill.io.run_writer import RunOutput, TrainedModels, write_run
from distill.io.tables import comparison_lines, model_table, text_table
from distill.models.baselines import Persistence
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.figures import forecast_figures
from distill.protocols.forecast.report import ForecastRun, forecast_markdown, forecast_notes, write_scalings
from distill.tasks.regression import RegressionTask


def load_frame(config: ForecastConfig) -> tuple[CleanFrame, str]:
    """The cleaned table and a description of where it came from."""
    data = config.data
    if data.path or data.location:
        cache = {"cache_dir": data.cache_dir} if data.cache_dir else {}
        source = data.path or f"COVID-19 Open Data v3 location {data.location}"
        return load_covid(data.target, path=data.path, location=data.location, **cache), source
    table = simulate_covid(days=data.sim_days, seed=data.sim_seed)
    return clean_covid_table(table, data.target), f"simulated epidemic (days={data.sim_days}, seed={data.sim_seed})"


def make_window_folds(config: ForecastConfig, values: np.ndarray,
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


def run_forecast(config: ForecastConfig, show_progress: bool | None = None) -> ForecastRun:
    """Run a forecasting recipe end to end and return its results (nothing is written here)."""
    clean, source = load_frame(config)
    values = clean.frame.to_numpy(dtype=np.float32)
    target_index = clean.frame.columns.get_loc(config.data.target)
    folds, scalers = make_window_folds(config, values, target_index)
    horizon = config.data.horizon
    task = RegressionTask(seed_sums=config.report.seed_sums)
    protocol = run_protocol(folds, task, config.teacher,
                            config.students, config.train, config.seed,
                            baselines={"persistence": lambda fold: Persistence(target_index, horizon,
                                                                               config.data.target_mode)},
                            latency_repeats=config.report.latency_repeats, show_progress=show_progress)
    comparisons = [("student_kd", "student_scratch"), ("student_kd", "teacher"), ("student_scratch", "teacher"),
                   ("teacher", "persistence")]
    summary = summarize_protocol(protocol, comparisons, metric="mse")
    results = {
        "recipe": config.name,
        "task": task.name,
        "folds": len(folds),
        **summary,
        "dropped_columns": clean.dropped,
        "data": {"source": source, "days": len(values), "features": values.shape[1],
                 "windows": window_count(len(values), config.data.input_days, horizon),
                 "target": config.data.target, "first_date": str(clean.dates.iloc[0]),
                 "last_date": str(clean.dates.iloc[-1])},
        "teacher_for_students": [f"fold {i + 1}" for i in protocol.teacher_folds],
        "curves": {name: [run.curves for run in runs] for name, runs in protocol.outcomes.items() if runs[0].curves["train"]},
        "notes": forecast_notes(config),
    }
    dates = [str(d)[:10] for d in clean.dates]
    columns = list(clean.frame.columns)
    return ForecastRun(results=results, protocol=protocol, dates=dates, target_index=target_index,
                       scalings=[scaler.describe(columns) for scaler in scalers])


def execute(config: ForecastConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write a forecasting recipe; the returned text is what the CLI prints."""
    return write_run(forecast_output(run_forecast(config, show_progress), config), config, out_dir)


def forecast_output(run: ForecastRun, config: ForecastConfig) -> RunOutput:
    """What the run writer writes: every fold's models and scaling, figures, report.md, results.json."""
    results = run.results
    protocol = run.protocol
    trained = TrainedModels(protocol.models, {"teacher": config.teacher, **config.students}, protocol.input_shapes())
    summary = [text_table(model_table(results["models"], ["mse", "mae_original"])), "",
               *comparison_lines(results["comparison"])[:1]]
    return RunOutput(results=results, figures=lambda out_dir: forecast_figures(run, config, out_dir),
                     report=lambda figures: forecast_markdown(results, config, figures), summary=summary,
                     trained=[trained],
                     files=lambda out_dir: {"scalings": write_scalings(run.scalings, config, out_dir)})

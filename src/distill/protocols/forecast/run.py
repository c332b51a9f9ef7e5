"""The forecasting recipes (covid-lstm, covid-seed, ...): table -> windows -> folds -> protocol -> scores.

Everything fitted is fitted inside each fold on its training windows only (scaling, ridge, early stopping
and the teacher's choice on inner validation windows carved from the training part), unless the config asks
to reproduce the seed's leaks (`data.scale_on: all`, `cv.split: shuffled`, `teacher.select: best`); every
departure from honest evaluation is written into the results as a note. Scores are in the target's own
units (patients/day), beside naive baselines, with skill against persistence.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from distill.core.memory import release_freed_memory
from distill.core.protocol import run_protocol, summarize_protocol
from distill.core.stats import summarize
from distill.data.covid import CleanFrame, clean_covid_table, load_covid
from distill.data.covid_sim import simulate_covid_with_oracle
from distill.errors import DistillError
from distill.io.run_writer import write_run
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.evaluation import (
    RENAMED,
    comparisons,
    fold_forecasts,
    score_forecasts,
    summaries,
    validation_errors,
)
from distill.protocols.forecast.final import final_note, fit_final_models
from distill.protocols.forecast.output import forecast_output
from distill.protocols.forecast.quantile_run import conformal_intervals, fold_quantile_scores, quantile_config
from distill.protocols.forecast.report import ForecastRun, forecast_notes
from distill.protocols.forecast.windows import make_window_table, minmax_folds, split_windows, window_log_folds
from distill.tasks.quantile import QuantileTask
from distill.tasks.regression import RegressionTask

# Columns that lead or mirror hospital admissions: cases, deaths, tests, admissions and census, by age and sex.
LEADING = re.compile(r"^(new|current)_(hospitalized|intensive_care|ventilator|confirmed|deceased|tested)")


def load_frame(config: ForecastConfig) -> tuple[CleanFrame, str, np.ndarray | None]:
    """The cleaned table, where it came from, and (simulated data only) the oracle's expected target by row."""
    data = config.data
    options = {"missing": data.missing, "min_days": 2 * (data.input_days + data.horizon)}
    if data.path or data.location:
        cache = {"cache_dir": data.cache_dir} if data.cache_dir else {}
        source = data.path or f"COVID-19 Open Data v3 location {data.location}"
        return load_covid(data.target, path=data.path, location=data.location, **cache, **options), source, None
    table, oracle = simulate_covid_with_oracle(days=data.sim_days, seed=data.sim_seed)
    clean = clean_covid_table(table, data.target, **options)
    expected = oracle.reindex(pd.DatetimeIndex(clean.dates)).to_numpy(dtype=np.float64)
    return clean, f"simulated epidemic (days={data.sim_days}, seed={data.sim_seed})", expected


def select_features(frame: pd.DataFrame, features: str | list[str], target: str) -> pd.DataFrame:
    """`all` columns, the `leading` indicators, or the named ones; the target is always an input."""
    if features == "all":
        return frame
    if features == "leading":
        names = [column for column in frame.columns if LEADING.match(column)]
    else:
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise DistillError(f"data.features names {missing[0]!r}, which is not a column after cleaning")
        names = list(features)
    return frame[[target] + [name for name in names if name != target]]


def _check(config: ForecastConfig) -> None:
    data = config.data
    if data.scaling == "window_log" and data.level_days > data.input_days:
        raise DistillError(f"data.level_days ({data.level_days}) must be at most data.input_days ({data.input_days})")


def _results_models(protocol, forecast_scores: dict[str, list[dict]],
                    validation: dict[str, list[float]]) -> tuple[dict, list[str]]:
    """results.json `models`: trained models (cost, model-space scores, forecast scores, inner-validation error)
    and the baselines."""
    summary = summarize_protocol(protocol, [], metric="mse")["models"]
    scored, warnings = summaries(forecast_scores)
    models = {}
    for name, entry in scored.items():
        renamed = {RENAMED.get(key, key): value for key, value in entry.items()}
        if name in summary:
            models[name] = summary[name]
            models[name]["test"].update(renamed)
            models[name]["train"].pop("mae_original", None)
            if name in validation:
                models[name]["validation"] = {"mae_original": summarize(validation[name])}
        else:
            models[name] = {"kind": "baseline", "test": renamed}
        models[name]["diagnostics"] = {"output_spread": entry["output_spread"]}
    return models, warnings


def run_forecast(config: ForecastConfig, show_progress: bool | None = None) -> ForecastRun:
    """Run a forecasting recipe end to end and return its results (nothing is written here)."""
    _check(config)
    config = quantile_config(config)
    data = config.data
    clean, source, oracle = load_frame(config)
    frame = select_features(clean.frame, data.features, data.target)
    values = frame.to_numpy(dtype=np.float64)
    target_index = frame.columns.get_loc(data.target)
    table = make_window_table(values, clean.target, data.input_days, data.horizon, oracle)
    splits = split_windows(config, table)
    if data.scaling == "window_log":
        folds, codecs = window_log_folds(config, table, target_index, splits)
    else:
        folds, codecs = minmax_folds(config, values, table, target_index, splits)
    task = QuantileTask() if data.quantiles == "hub" else RegressionTask(seed_sums=config.report.seed_sums)
    protocol = run_protocol(folds, task, config.teacher, config.students, config.train, config.seed, baselines={},
                            latency_repeats=config.report.latency_repeats, show_progress=show_progress)
    release_freed_memory()  # training's freed tensors, before the baselines and the final fit (peak memory)
    forecasts = fold_forecasts(protocol, table, splits, codecs, data.horizon)
    scores = score_forecasts(forecasts, table, splits)
    models, warnings = _results_models(protocol, scores, validation_errors(protocol, table, splits, codecs))
    results = {
        "recipe": config.name,
        "task": task.name,
        "folds": len(folds),
        "models": models,
        "comparison": comparisons(scores, list(config.students)),
        "warnings": warnings,
        "dropped_columns": clean.dropped,
        "data": {"source": source, "days": len(values), "features": values.shape[1], "feature_set": data.features,
                 "scaling": data.scaling, "missing": data.missing, "windows": len(table.starts),
                 "windows_dropped_missing_target": table.dropped, "rows": clean.rows,
                 "oracle": oracle is not None, "target": data.target, "unit": f"{data.target} per day",
                 "first_date": str(clean.dates.iloc[0]), "last_date": str(clean.dates.iloc[-1]),
                 "fold_windows": [{"fit": len(fit), "validation": len(val), "test": len(test)}
                                  for fit, val, test in splits]},
        "teacher_for_students": [f"fold {i + 1}" for i in protocol.teacher_folds],
        "teacher_choice": [spec.model + (f" {spec.options}" if spec.options else "") for spec in protocol.teacher_specs],
        "curves": {name: [run.curves for run in runs] for name, runs in protocol.outcomes.items()
                   if runs[0].curves["train"]},
        "notes": forecast_notes(config, clean, table),
    }
    if data.quantiles == "hub":
        results["quantiles"] = fold_quantile_scores(protocol, table, splits, codecs, clean.target, data.input_days,
                                                    config.seed)
    else:
        results["intervals"] = conformal_intervals(protocol, table, splits, codecs)
    final = None
    if config.train.final_fit:
        release_freed_memory()  # the baselines' copies of the windows
        final = fit_final_models(config, table, values, list(frame.columns), target_index, protocol, task)
        results["final_fit"] = {"windows": final.windows, "epochs": final.epochs}
        results["notes"].append(final_note(final))
        release_freed_memory()  # before the figures are drawn
    dates = [str(d)[:10] for d in clean.dates]
    return ForecastRun(results=results, protocol=protocol, dates=dates, forecasts=forecasts, table=table,
                       splits=splits, scalings=[codec.describe(list(frame.columns)) for codec in codecs], final=final)


def execute(config: ForecastConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write a forecasting recipe; the returned text is what the CLI prints."""
    return write_run(forecast_output(run_forecast(config, show_progress), config), config, out_dir)

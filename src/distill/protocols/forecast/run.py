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
from distill.data.covid import download_location, read_table
from distill.data.covid_sim import simulate_locations
from distill.data.panel import Panel, build_panel, split_long_table
from distill.errors import DistillError
from distill.io.run_writer import write_run
from distill.models.ensemble import spec_text
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.data_choice import (
    check_data_choice,
    choose_data,
    lookback_candidates,
    needs_choice,
    with_data_choice,
)
from distill.protocols.forecast.ets import ets_available
from distill.protocols.forecast.evaluation import (
    RENAMED,
    EtsSetup,
    add_per_series,
    baseline_validation,
    best_baseline,
    comparisons,
    fold_forecasts,
    fold_ridges,
    score_forecasts,
    summaries,
    validation_errors,
)
from distill.protocols.forecast.final import final_note, fit_final_models
from distill.protocols.forecast.output import forecast_output
from distill.protocols.forecast.privileged import check_privileged_config, with_privileged
from distill.protocols.forecast.quantile_run import conformal_intervals, fold_quantile_scores, quantile_config
from distill.protocols.forecast.report import ForecastRun, forecast_notes, shrinkage_note
from distill.protocols.forecast.student_view import with_target_index  # issue 19: the compact student
from distill.protocols.forecast.windows import (
    minmax_folds,
    panel_window_table,
    recent_windows,
    split_windows,
    window_log_folds,
)
from distill.tasks.quantile import QuantileTask
from distill.tasks.regression import RegressionTask

# Columns that lead or mirror hospital admissions: cases, deaths, tests, admissions and census, by age and sex.
LEADING = re.compile(r"^(new|current)_(hospitalized|intensive_care|ventilator|confirmed|deceased|tested)")


def load_panel(config: ForecastConfig) -> tuple[Panel, str]:
    """Every series the config names, cleaned onto one calendar (see `distill.data.panel`), and their source."""
    data = config.data
    _check_sources(data)
    options = {"target": data.target, "date_column": data.date, "freq": data.freq, "missing": data.missing,
               "min_days": 2 * (max(lookback_candidates(data)) + data.horizon), "drop_rule": data.drop,
               "test_share": config.cv.test_share if config.cv.split == "rolling" else None}
    if data.table or data.path or data.location:
        if data.location and not (data.table or data.path):
            cache = {"cache_dir": data.cache_dir} if data.cache_dir else {}
            file, source = download_location(data.location, **cache), f"COVID-19 Open Data v3 location {data.location}"
        else:
            file = Path(data.table or data.path)
            source = str(file)
        tables = split_long_table(read_table(file), data.series, file.stem)
        if len(tables) > 1:
            source += f" ({len(tables)} series by {data.series!r})"
        return build_panel(tables, **options), source
    if data.paths:
        tables = {}
        for path in data.paths:
            table = read_table(path)
            name = _location_name(table, Path(path))
            if name in tables:
                raise DistillError(f"data.paths: two files hold the series {name!r}")
            tables[name] = table
        return build_panel(tables, **options), f"{len(tables)} v3 location files: " + ", ".join(data.paths)
    tables, oracles = simulate_locations(data.sim_locations, days=data.sim_days, seed=data.sim_seed)
    where = f"{data.sim_locations} simulated locations" if data.sim_locations > 1 else "simulated epidemic"
    return (build_panel(tables, **options, oracles=oracles),
            f"{where} (days={data.sim_days}, seed={data.sim_seed})")


def _location_name(table: pd.DataFrame, path: Path) -> str:
    """A v3 file's series name: its `location_key` when it holds one, else the file name."""
    if "location_key" in table.columns and table["location_key"].nunique() == 1:
        return str(table["location_key"].iloc[0])
    return path.stem


def _check_sources(data) -> None:
    given = [key for key in ("path", "paths", "table", "location") if getattr(data, key)]
    if len(given) > 1:
        raise DistillError(f"data.{given[0]} and data.{given[1]} are both set: give one source of data")
    if data.series and not (data.table or data.path):
        raise DistillError("data.series names the series column of data.table: set data.table=FILE")


def feature_set(frame: pd.DataFrame, features: str | list[str]) -> str | list[str]:
    """The feature set a run reads: `leading` falls back to `all` where no column is a COVID-19 leading indicator."""
    if features == "leading" and not any(LEADING.match(column) for column in frame.columns):
        return "all"
    return features


def select_features(frame: pd.DataFrame, features: str | list[str], target: str) -> pd.DataFrame:
    """`all` columns, the `leading` indicators, or the named ones; the target is always an input. A table with no
    COVID-19 leading indicator (someone's own series) is read whole under `leading` (see `feature_set`)."""
    if feature_set(frame, features) == "all":
        return frame
    if features == "leading":
        names = [column for column in frame.columns if LEADING.match(column)]
    else:
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise DistillError(f"data.features names {missing[0]!r}, which is not a column after cleaning")
        names = list(features)
    return frame[[target] + [name for name in names if name != target]]


def _feature_set_note(panel: Panel, features: str | list[str], choice: dict | None) -> str | list[str]:
    if features == "auto" and choice is not None:
        return (f"auto: the target and the {choice['features']} columns ranked first on the first fit's fitting "
                "windows (see data_choice)")
    used = feature_set(panel.parts[0].clean.frame, features)
    return used if used == features else f"{used} (data.features {features}: no column is a COVID-19 leading indicator)"


def _check(config: ForecastConfig) -> None:
    data = config.data
    labelled = [name for name, spec in config.students.items() if spec.teacher_labelled.used]
    if labelled and config.cv.split != "rolling" and any(config.students[n].teacher_labelled.recent for n in labelled):
        raise DistillError(f"students.{labelled[0]}.teacher_labelled.recent: the windows before each forecast origin "
                           "exist only with cv.split: rolling")
    shortest = min(lookback_candidates(data))
    if data.scaling == "window_log" and data.level_days > shortest:
        raise DistillError(f"data.level_days ({data.level_days}) must be at most data.input_days ({shortest})")
    check_data_choice(config)


def _check_panel(config: ForecastConfig, panel: Panel) -> None:
    """What the scalings cannot read: a negative target on the log scale, several series in one MinMax table."""
    data = config.data
    if data.scaling == "minmax" and len(panel.parts) > 1:
        raise DistillError(f"data.scaling minmax scales one table; {len(panel.parts)} series need data.scaling: "
                           "window_log")
    if data.scaling == "window_log":
        for part in panel.parts:
            lowest = np.nanmin(part.clean.target)
            if lowest < 0:
                raise DistillError(f"target {data.target!r} is negative (down to {lowest:g}, series {part.name!r}): "
                                   "data.scaling window_log reads counts on a log scale; use data.scaling: minmax "
                                   "(one series), which forecasts negative values unclipped")


def _ets_setup(config: ForecastConfig, panel: Panel) -> tuple[EtsSetup | None, str]:
    """AutoETS's inputs when it is asked for and installed; else None and why it was skipped."""
    if not config.report.auto_ets:
        return None, "AutoETS not asked for (report.auto_ets: false)"
    if not ets_available():
        return None, "AutoETS skipped: statsmodels is not installed (pip install 'distill[forecast]')"
    return (EtsSetup([part.clean.target for part in panel.parts], config.data.lookback, config.data.freq == "daily"),
            "AutoETS (statsmodels ETSModel, form chosen by AICc): one fit per series and refit block, made before "
            "the block's inner validation origins and run on (states only) to its test origins")


def _ets_results(ets: EtsSetup | None, note: str, series: int) -> dict:
    """results.json `auto_ets`: whether it ran, and what its fits cost (one per series per refit block)."""
    if ets is None:
        return {"ran": False, "note": note}
    forms = {form: ets.forms.count(form) for form in sorted(set(ets.forms))}
    per_fit = float(np.mean(ets.fit_seconds)) if ets.fit_seconds else float("nan")
    return {"ran": True, "note": note, "time": {"seconds_per_series_fit": per_fit, "seconds_per_refit": per_fit * series},
            "forms_chosen": forms}


def series_arrays(panel: Panel, config: ForecastConfig) -> tuple[list, list[str], int]:
    """Per series (name, values, target, offset, oracle) in the selected columns; the columns; the target's index."""
    data = config.data
    columns = list(select_features(panel.parts[0].clean.frame, data.features, data.target).columns)
    return _series(panel, columns), columns, columns.index(data.target)


def _series(panel: Panel, columns: list[str]) -> list:
    return [(part.name, part.clean.frame[columns].to_numpy(dtype=np.float64), part.clean.target, part.offset,
             part.oracle) for part in panel.parts]


def _choose_data(config: ForecastConfig, panel: Panel) -> tuple[ForecastConfig, dict | None]:
    """The config with data.input_days and data.features chosen on inner validation (`data_choice`), if asked."""
    data = config.data
    if not needs_choice(data):
        return config, None
    pool = "all" if data.features == "auto" else data.features
    columns = list(select_features(panel.parts[0].clean.frame, pool, data.target).columns)  # the target first
    leading = [bool(LEADING.match(column)) for column in columns]
    return choose_data(config, _series(panel, columns), columns, leading, panel.first_origin)


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
    check_privileged_config(config)
    unlabelled = [name for name, spec in config.students.items() if spec.teacher_labelled.used] \
        if config.data.quantiles == "hub" else []
    config = quantile_config(config)
    data = config.data
    panel, source = load_panel(config)
    _check_panel(config, panel)
    original_features = data.features
    config, choice = _choose_data(config, panel)
    data = config.data
    series, columns, target_index = series_arrays(panel, config)
    config = with_target_index(config, target_index)  # issue 19: compact_mlp reads the target's column
    table = with_privileged(config, panel_window_table(series, data.lookback, data.horizon), series, columns)
    splits, blocks = split_windows(config, table, panel.first_origin)
    values = series[0][1]  # minmax reads one series' table
    recent = recent_windows(table, blocks, data.lookback, data.horizon)
    if data.scaling == "window_log":
        folds, codecs = window_log_folds(config, table, target_index, splits, recent)
    else:
        folds, codecs = minmax_folds(config, values, table, target_index, splits, recent)
    task = QuantileTask() if data.quantiles == "hub" else RegressionTask(seed_sums=config.report.seed_sums)
    protocol = run_protocol(folds, task, config.teacher, config.students, config.train, config.seed, baselines={},
                            latency_repeats=config.report.latency_repeats, show_progress=show_progress)
    release_freed_memory()  # training's freed tensors, before the baselines and the final fit (peak memory)
    ets, ets_note = _ets_setup(config, panel)
    ridges = fold_ridges(protocol)
    try:
        forecasts = fold_forecasts(protocol, table, splits, codecs, data.horizon, ridges, ets, config.cv.step)
    except DistillError as error:  # e.g. a series too short for any ETS form before an origin
        ets, ets_note = None, f"AutoETS skipped: {error}"
        forecasts = fold_forecasts(protocol, table, splits, codecs, data.horizon, ridges)
    scores = score_forecasts(forecasts, table, splits)
    models, warnings = _results_models(protocol, scores, validation_errors(protocol, table, splits, codecs))
    add_per_series(models, forecasts, table, splits)
    chosen_on = baseline_validation(protocol, table, splits, codecs, data.horizon, config.cv.step, ridges, ets)
    best = best_baseline(chosen_on)
    first_date, last_date = panel.dates()
    results = {
        "recipe": config.name,
        "task": task.name,
        "folds": len(folds),
        "models": models,
        "comparison": comparisons(scores, list(config.students), best),
        "best_baseline": {"name": best, "chosen_on": f"mean MAE on the inner validation windows (origins every "
                          f"{config.cv.step} periods), never on test windows",
                          "validation_mae": {name: summarize(values) for name, values in chosen_on.items()}},
        "auto_ets": _ets_results(ets, ets_note, len(panel.parts)),
        "warnings": warnings,
        "dropped_columns": panel.dropped,
        "data": {"source": source, "series": [part.name for part in panel.parts],
                 "days": int(sum(len(part.clean.frame) for part in panel.parts)), "features": len(columns),
                 "feature_set": _feature_set_note(panel, original_features, choice),
                 **({"privileged": list(data.privileged)} if data.privileged else {}),
                 "freq": data.freq, "period": panel.period,
                 "scaling": data.scaling, "missing": data.missing, "windows": len(table.starts),
                 "windows_dropped_missing_target": table.dropped, "rows": panel.rows,
                 "columns_judged_on": panel.judged_on,
                 "oracle": table.oracle is not None, "target": data.target, "unit": f"{data.target} per {panel.period}",
                 "first_date": first_date, "last_date": last_date,
                 "fold_windows": [{"fit": len(fit), "validation": len(val), "test": len(test)}
                                  for fit, val, test in splits]},
        "teacher_for_students": [f"fold {i + 1}" for i in protocol.teacher_folds],
        "teacher_choice": [spec_text(spec.model, spec.options) for spec in protocol.teacher_specs],
        "curves": {name: [run.curves for run in runs] for name, runs in protocol.outcomes.items()
                   if runs[0].curves["train"]},
        "notes": forecast_notes(config, panel, table, blocks) + [
            f"{name}: its teacher_labelled windows are not used: their labels are point forecasts and "
            "data.quantiles hub trains quantile students" for name in unlabelled] + (
            [shrinkage_note(protocol.teacher_shrinkage)] if protocol.teacher_shrinkage else []),
    }
    if choice is not None:
        results["data_choice"] = choice
    if protocol.teacher_shrinkage:
        results["teacher_shrinkage"] = protocol.teacher_shrinkage
    calendar = [str(d)[:10] for d in panel.calendar()]
    if blocks is not None:
        results["origins"] = [{"origins": [calendar[o] if o < len(calendar) else int(o) for o in block.origins],
                               "trained_on_windows_before": calendar[block.origins[0]]
                               if block.origins[0] < len(calendar) else int(block.origins[0])}
                              for block in blocks]
    if data.quantiles == "hub":
        results["quantiles"] = fold_quantile_scores(protocol, table, splits, codecs, [s[2] for s in series],
                                                    data.lookback, config.seed, data.calibration, ets,
                                                    [s[0] for s in series])
    else:
        results["intervals"] = conformal_intervals(protocol, table, splits, codecs)
    final = None
    if config.train.final_fit:
        release_freed_memory()  # the baselines' copies of the windows
        final = fit_final_models(config, table, values, columns, target_index, protocol, task)
        results["final_fit"] = {"windows": final.windows, "epochs": final.epochs}
        results["notes"].append(final_note(final))
        release_freed_memory()  # before the figures are drawn
    return ForecastRun(results=results, protocol=protocol, dates=calendar, forecasts=forecasts, table=table,
                       splits=splits, scalings=[codec.describe(columns) for codec in codecs], final=final)


def execute(config: ForecastConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write a forecasting recipe; the returned text is what the CLI prints."""
    run = run_forecast(config, show_progress)
    config = with_data_choice(config, run.results.get("data_choice"))  # config.yaml: what the models read
    return write_run(forecast_output(run, config), config, out_dir)

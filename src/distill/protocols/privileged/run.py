"""The `privileged` protocol (mackey-glass-pi, pm25-pi): generalized distillation with privileged time-series
information (Lopez-Paz et al. 2016; Hayashi et al. 2019), over horizons and training sizes.

series (Mackey-Glass generator, PM2.5 file, any CSV) -> samples anchored at each time t (student: the last
`input_length` rows of its columns; teacher: also privileged future rows and/or columns) -> blocked folds with
a purge gap (`make_folds`) -> per fold: the training samples nearest the test block (training size), a scaler
fitted on the rows they cover -> `run_protocol` with the privileged inputs in `teacher_x_*`: teacher,
student_distilled, student_alone (same model, lambda = 0) and a trivial baseline -> one cell per (horizon,
training size), and a lambda x T sweep of distilled students at one cell if asked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from distill.core.flags import constant_flags
from distill.core.protocol import BaselineFactory, run_protocol, summarize_protocol
from distill.core.stats import add_verdicts
from distill.core.task import FoldData, Task
from distill.data.privileged_windows import (
    ChangeEncoder,
    SampleLayout,
    anchor_position,
    direction_targets,
    gather,
    make_layout,
    valid_samples,
    value_targets,
)
from distill.data.series import SeriesTable, load_series
from distill.data.windows import TableScaler, covered_days, make_folds
from distill.errors import DistillError
from distill.io.run_writer import RunOutput, TrainedModels, write_run
from distill.io.tables import sem_caption, text_table
from distill.models.baselines import Majority, Persistence
from distill.protocols.privileged.config import ALONE, DISTILLED, PrivilegedConfig, check_privileged_config
from distill.protocols.privileged.figures import privileged_figures
from distill.protocols.privileged.report import (
    cell_table,
    helps_lines,
    privileged_markdown,
    privileged_notes,
    units,
)
from distill.tasks.generalized import GeneralizedDistillationTask
from distill.tasks.regression import RegressionTask
from distill.tasks.specs import DistilledStudentSpec


def layout_for(config: PrivilegedConfig, series: SeriesTable, horizon: int) -> SampleLayout:
    privileged = config.privileged
    return make_layout(series.columns, series.target, config.data.features, privileged.columns, privileged.kind,
                       privileged.offsets, privileged.teacher_sees, config.target.input_length, horizon)


def nearest_samples(train: np.ndarray, test: np.ndarray, size: int) -> np.ndarray:
    """The `size` training samples closest in time to a test sample (a short stretch of history beside the
    test block, as in small-data time series), in time order."""
    test = np.sort(test)
    position = np.searchsorted(test, train)
    left = test[np.clip(position - 1, 0, len(test) - 1)]
    right = test[np.clip(position, 0, len(test) - 1)]
    distance = np.minimum(np.abs(train - left), np.abs(train - right))
    return np.sort(train[np.argsort(distance, kind="stable")[:size]])


def check_target(y: torch.Tensor, kind: str, fold: int, horizon: int) -> None:
    """A direction target needs both classes in a fold's training rows; a value target must vary."""
    constant = len(torch.unique(y)) < 2
    if constant and kind == "direction":
        side = "up" if int(y[0]) == 1 else "down (or flat)"
        raise DistillError(f"constant target: at horizon {horizon} every training sample of fold {fold + 1} is "
                           f"{side}; a direction target needs both classes")
    if constant:
        raise DistillError(f"constant target: at horizon {horizon} the target of fold {fold + 1}'s training "
                           "samples never changes")


def encode_changes(parts: dict[str, torch.Tensor], layout: SampleLayout) -> None:
    """Re-encode student and teacher inputs as changes from row t, fitted on the training samples (in place)."""
    for prefix, rows, role in (("x", layout.student_rows, "student"), ("teacher_x", layout.teacher_rows, "teacher")):
        encoder = ChangeEncoder(anchor_position(rows, role)).fit(parts[f"{prefix}_train"])
        for part in ("train", "test"):
            parts[f"{prefix}_{part}"] = encoder.transform(parts[f"{prefix}_{part}"])


def fold_data(values: np.ndarray, layout: SampleLayout, kind: str, inputs: str, index: int, train: np.ndarray,
              test: np.ndarray) -> FoldData:
    """Scale on the training samples' rows, then gather student inputs, teacher inputs and targets."""
    scaler = TableScaler(keep_columns=(layout.target_column,)).fit(values, covered_days(train, layout.span))
    scaled = torch.from_numpy(scaler.transform(values))  # (rows, columns), NaN where missing
    parts = {}
    for part, samples in (("train", train), ("test", test)):
        anchors = layout.anchors(samples)
        tensor_anchors = torch.from_numpy(anchors)
        parts[f"x_{part}"] = gather(scaled, tensor_anchors, layout.student_rows, layout.student_columns)
        parts[f"teacher_x_{part}"] = gather(scaled, tensor_anchors, layout.teacher_rows, layout.teacher_columns)
        parts[f"y_{part}"] = (direction_targets(values, anchors, layout) if kind == "direction"
                              else value_targets(scaled, tensor_anchors, layout))
    check_target(parts["y_train"], kind, index, layout.horizon)
    if inputs == "changes":
        encode_changes(parts, layout)
    return FoldData(index=index, test_rows=torch.from_numpy(test), units=scaler.column_range(layout.target_column),
                    offset=scaler.column_min(layout.target_column), **parts)


def make_cell_folds(config: PrivilegedConfig, values: np.ndarray, layout: SampleLayout,
                    train_size: int | None) -> list[FoldData]:
    """Blocked (or shuffled) folds over the usable samples; training samples cut to `train_size`."""
    cv = config.cv
    count = max(layout.sample_count(len(values)), 0)
    valid = valid_samples(values, layout)
    if valid.sum() < 2 * cv.folds:
        raise DistillError(f"horizon {layout.horizon} leaves {int(valid.sum())} usable samples in {len(values)} "
                           f"rows (each spans {layout.span} rows and needs numbers in every cell it reads); "
                           f"{cv.folds} folds need at least {2 * cv.folds}")
    folds = []
    for index, (train, test) in enumerate(make_folds(count, cv.folds, cv.split, layout.span, cv.random_state)):
        train, test = train[valid[train]], test[valid[test]]
        if train_size is not None and len(train) < train_size:
            raise DistillError(f"training size {train_size} exceeds the {len(train)} training samples of fold "
                               f"{index + 1} at horizon {layout.horizon}; use a longer series or smaller "
                               "target.train_sizes")
        if train_size is not None:
            train = nearest_samples(train, test, train_size)
        if len(train) == 0 or len(test) == 0:
            raise DistillError(f"fold {index + 1} at horizon {layout.horizon} has no usable training or test "
                               "samples; use fewer folds or a longer series")
        folds.append(fold_data(values, layout, config.target.kind, config.target.inputs, index, train, test))
    return folds


def task_for(kind: str) -> tuple[Task, dict[str, BaselineFactory], str]:
    """The task, its trivial baseline and the headline metric for a target kind."""
    if kind == "direction":
        return GeneralizedDistillationTask(2), {"majority": lambda fold: Majority(fold.y_train, 2)}, "accuracy"
    return RegressionTask(), {"persistence": lambda fold: Persistence(0, 1)}, "mse"


def lambda_temperature_cell_name(lam: float, temperature: float) -> str:
    """Student name of one sweep cell, e.g. `distilled_lam0.5_T2`."""
    return f"distilled_lam{lam:g}_T{temperature:g}"


def make_students(config: PrivilegedConfig, with_sweep: bool) -> dict[str, DistilledStudentSpec]:
    """The distilled student and the student alone (same model, lambda = 0), then the sweep's students."""
    model = config.student.model_dump()
    students = {DISTILLED: DistilledStudentSpec(**model, alpha=config.distill.alpha,
                                                temperature=config.distill.temperature),
                ALONE: DistilledStudentSpec(**model, alpha=0.0)}
    if with_sweep:
        for temperature in config.sweep.temperature:
            for lam in config.sweep.alpha:
                name = lambda_temperature_cell_name(lam, temperature)
                students[name] = DistilledStudentSpec(**model, alpha=lam, temperature=temperature)
    return students


def add_cell_verdicts(cells: list[dict], lower_is_better: bool) -> None:
    """Holm-correct every cell's paired comparisons together (the report's comparisons) and give each its
    verdict; a cell's own `verdict` says whether the privileged teacher helps the student: 'helps' or 'hurts'
    when distilled vs alone is distinguishable, else 'not distinguishable' (in place)."""
    together = {(index, key): entry for index, cell in enumerate(cells) for key, entry in cell["comparison"].items()}
    add_verdicts(together, lower_is_better)
    for cell in cells:
        entry = cell["comparison"][f"{DISTILLED}_vs_{ALONE}"]
        cell["verdict"] = {"better": "helps", "worse": "hurts"}.get(entry["verdict"], "not distinguishable")
        cell["gain"]["p_adjusted"] = entry["p_adjusted"]


def describe_inputs(layout: SampleLayout, columns: list[str]) -> dict:
    """Rows (relative to t) and column names each role reads, for results.json and the report."""
    return {role: {"rows": list(getattr(layout, f"{role}_rows")),
                   "columns": [columns[i] for i in getattr(layout, f"{role}_columns")]}
            for role in ("student", "teacher")}


def cell_id(horizon: int, train_size: int | None) -> str:
    """A cell's name in saved-model paths, e.g. `h3-n100` (`n-all`: every training row)."""
    return f"h{horizon}-n{'all' if train_size is None else train_size}"


def run_cell(config: PrivilegedConfig, series: SeriesTable, horizon: int, train_size: int | None, with_sweep: bool,
             show_progress: bool | None, trained: list[TrainedModels] | None = None) -> dict:
    """One (horizon, training size) cell through the shared protocol; scores summarised over folds. The cell's
    trained models are appended to `trained` (when given) for the run writer to save."""
    layout = layout_for(config, series, horizon)
    folds = make_cell_folds(config, series.values, layout, train_size)
    task, baselines, metric = task_for(config.target.kind)
    students = make_students(config, with_sweep)
    protocol = run_protocol(folds, task, config.teacher, students, config.train,
                            config.seed, baselines, latency_repeats=config.report.latency_repeats,
                            show_progress=show_progress, scope=f"{cell_id(horizon, train_size)}-")
    if trained is not None:
        name = cell_id(horizon, train_size)
        trained.append(TrainedModels(protocol.models, {"teacher": config.teacher, **students}, protocol.input_shapes(),
                                     folder=f"models/{name}", prefix=f"{name}/"))
    baseline = next(iter(baselines))
    summary = summarize_protocol(protocol, [(DISTILLED, ALONE), ("teacher", ALONE), (ALONE, baseline)], metric)
    difference = summary["comparison"][f"{DISTILLED}_vs_{ALONE}"]
    gain = difference["mean"] if metric == "accuracy" else -difference["mean"]
    flags = constant_flags(protocol, skip=set(baselines), where=f"horizon {horizon}, training size "
                           f"{'all' if train_size is None else train_size}")
    return {"horizon": horizon, "train_size": train_size, "inputs": describe_inputs(layout, series.columns),
            "samples": {"train": [len(f.y_train) for f in folds], "test": [len(f.y_test) for f in folds]},
            **summary, "gain": {"mean": gain, "sem": difference["sem"]}, "flags": flags}


def sweep_grid(cell: dict, config: PrivilegedConfig, metric: str) -> dict:
    """The sweep's cells (temperature rows x lambda columns) of the cell that ran it."""
    sweep, models = config.sweep, cell["models"]
    grid = [[{key: models[lambda_temperature_cell_name(lam, t)]["test"][metric][key] for key in ("mean", "sem")}
             for lam in sweep.alpha] for t in sweep.temperature]
    return {"horizon": cell["horizon"], "train_size": cell["train_size"], "metric": metric, "lam": sweep.alpha,
            "temperature": sweep.temperature, "grid": grid,
            **{name: models[name]["test"][metric] for name in ("teacher", ALONE, DISTILLED)}}


def run_privileged(config: PrivilegedConfig, show_progress: bool | None = None,
                   trained: list[TrainedModels] | None = None) -> dict:
    """Run every (horizon, training size) cell and return the results.json content (nothing is written);
    each cell's trained models are appended to `trained` when given."""
    check_privileged_config(config)
    series = load_series(config.data)
    target = config.target
    sizes = target.train_sizes or [None]
    sweep_at = None if config.sweep is None else (config.sweep.horizon or target.horizons[0],
                                                  config.sweep.train_size or sizes[0])
    metric = task_for(target.kind)[2]
    cells, sweep = [], None
    for horizon in target.horizons:
        for size in sizes:
            cell = run_cell(config, series, horizon, size, (horizon, size) == sweep_at, show_progress, trained)
            if (horizon, size) == sweep_at:
                sweep = sweep_grid(cell, config, metric)
            cells.append(cell)
    add_cell_verdicts(cells, lower_is_better=metric != "accuracy")
    return {"recipe": config.name, "protocol": config.protocol, "target": target.kind, "metric": metric,
            "higher_is_better": metric == "accuracy",
            "data": {"source": series.source, "rows": len(series.values), "columns": series.columns,
                     "target": series.target, "input_length": target.input_length},
            "privileged": config.privileged.model_dump(), "cells": cells, "sweep": sweep,
            "notes": privileged_notes(config) + [flag for cell in cells for flag in cell["flags"]]}


def execute(config: PrivilegedConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write the protocol: figures, config.yaml, report.md, then results.json; return the summary."""
    trained: list[TrainedModels] = []
    results = run_privileged(config, show_progress, trained)
    output = RunOutput(results=results, figures=lambda folder: privileged_figures(results, folder),
                       report=lambda figures: privileged_markdown(results, config, figures),
                       summary=[text_table(cell_table(results)), sem_caption(config.cv.folds, units(results)), "",
                                *helps_lines(results)], trained=trained)
    return write_run(output, config, out_dir)

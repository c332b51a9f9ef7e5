"""Privileged horizon features for the forecasting teacher: generalized distillation (issue 19).

Lopez-Paz, Bottou, Schoelkopf & Vapnik 2016 ("Unifying distillation and privileged information"): a teacher
trained on x* (information available only at training time) labels the training rows, and a student that reads
x alone learns from   (1 - alpha) * loss(y) + alpha * loss(teacher(x*)).   Here x* is the window's inputs plus
`data.privileged` columns on its HORIZON days (e.g. the case counts `new_confirmed` of the 14 forecast days):
known for every training window in hindsight, never at forecast time, so only the teacher reads them.

Representation (it suits every teacher family reading (batch, days, features): rnn, lstm, tcn, mlp): the teacher's
windows are the students' (input_days, F) windows with P * H columns appended on the feature axis, column
F + p * H + (h - 1) holding privileged column p on horizon day h, the same value on every input day. Each value
is scaled exactly as its column is scaled among the inputs (`distill.data.window_scaling`):

    z*[p, h] = clip((slog(x[h, p]) - mean_{last k input days} slog(x[., p]) - mu_p) / sd_p, -c, c)

i.e. relative to the window's own level of that column, with the column's fitted input mean and sd (`RowScaling`
repeated over the horizon), so the students' inputs and the teacher's first F columns are identical.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from distill.data.window_scaling import WindowLogScaler, signed_log
from distill.data.windows import RowScaling, WindowSet
from distill.errors import DistillError
from distill.protocols.forecast.config import ForecastConfig

TEACHER_LABEL = ("sees {columns} on the horizon days: not a deployable forecaster; its scores are an upper "
                 "reference")


def check_privileged_config(config: ForecastConfig) -> None:
    """What a privileged teacher cannot do, refused before anything is loaded or trained."""
    data = config.data
    if not data.privileged:
        return
    if data.target in data.privileged:
        raise DistillError(f"data.privileged names the target {data.target!r}: its horizon values are what is "
                           "forecast; name other columns (e.g. new_confirmed)")
    if data.scaling != "window_log":
        raise DistillError("data.privileged is scaled as its columns are in window_log inputs: use data.scaling: "
                           "window_log")
    if data.quantiles == "hub":
        raise DistillError("data.privileged trains a point-forecast teacher; data.quantiles hub is not supported "
                           "with it: use data.quantiles: none")
    for name, spec in config.students.items():
        labelled = spec.teacher_labelled
        if labelled.recent:
            raise DistillError(f"students.{name}.teacher_labelled.recent: those windows' horizon is not observed, so "
                               "a privileged teacher cannot read them: set it false with data.privileged")
        if labelled.jitter or labelled.mixup:
            raise DistillError(f"students.{name}.teacher_labelled jitter/mixup windows have no horizon values for a "
                               "privileged teacher: set jitter=0 and mixup=0 with data.privileged")


def privileged_indices(config: ForecastConfig, columns: list[str]) -> list[int]:
    """Where the `data.privileged` columns are among the input columns (each must be one of them)."""
    for name in config.data.privileged:
        if name not in columns:
            raise DistillError(f"data.privileged names {name!r}, which is not an input column (data.features "
                               f"{config.data.features!r} after cleaning)")
    return [columns.index(name) for name in config.data.privileged]


def with_privileged(config: ForecastConfig, table, series: list, columns: list[str]):
    """`table` (a WindowTable) with its windows' privileged horizon values, if `data.privileged` names any."""
    if not config.data.privileged:
        return table
    indices = privileged_indices(config, columns)
    raw = horizon_values(series, table.series, table.rows, config.data.lookback, config.data.horizon, indices)
    return replace(table, privileged=raw, privileged_indices=tuple(indices))


def horizon_values(series: list, table_series: np.ndarray, table_rows: np.ndarray, input_days: int, horizon: int,
                   indices: list[int]) -> np.ndarray:
    """(windows, horizon, P) raw values of the privileged columns on each window's horizon days, read from its
    own series' (days, features) table (`series`: the run's (name, values, target, offset, oracle) tuples)."""
    out = np.empty((len(table_rows), horizon, len(indices)), dtype=np.float32)
    days = np.arange(input_days, input_days + horizon)
    for k, (_, values, *_rest) in enumerate(series):
        mine = np.flatnonzero(table_series == k)
        out[mine] = values[table_rows[mine][:, None] + days[None, :]][:, :, indices]
    return out


def relative_horizon(inputs: np.ndarray, horizon_raw: np.ndarray, indices: list[int], level_days: int) -> np.ndarray:
    """(windows, P * H): slog of each privileged horizon value less its column's level over the window's last
    `level_days` input days (as `WindowLogScaler.relative_inputs` reads the inputs), column p * H + (h - 1)."""
    level = signed_log(inputs[:, -level_days:, indices]).mean(axis=1, keepdims=True)  # (windows, 1, P)
    relative = signed_log(horizon_raw) - level  # (windows, H, P)
    return relative.transpose(0, 2, 1).reshape(len(inputs), -1).astype(np.float32)


def teacher_windows(relative: np.ndarray, privileged: np.ndarray) -> torch.Tensor:
    """(windows, input_days, F + P * H): the students' relative inputs with the privileged block repeated on
    every input day."""
    repeated = np.broadcast_to(privileged[:, None, :], (*relative.shape[:2], privileged.shape[1]))
    return torch.from_numpy(np.concatenate([relative, repeated], axis=2))


def teacher_scaling(scaling: RowScaling, indices: list[int], horizon: int) -> RowScaling:
    """The students' per-feature scaling extended to the privileged block: each column's own mean, sd and
    zeroing, repeated for its H horizon days."""
    where = torch.tensor(indices).repeat_interleave(horizon)
    return RowScaling(torch.cat([scaling.mean, scaling.mean[where]]), torch.cat([scaling.std, scaling.std[where]]),
                      torch.cat([scaling.zeroed, scaling.zeroed[where]]), scaling.clip)


def teacher_set(windows: torch.Tensor | None, scaler: WindowLogScaler, indices: list[int],
                horizon: int) -> WindowSet | None:
    """All of a fold's privileged teacher windows, scaled with its fitted scaler; None without privilege."""
    if windows is None:
        return None
    return WindowSet(windows, torch.arange(len(windows)), teacher_scaling(scaler.scaling(), indices, horizon))


def with_teacher_rows(fold, teacher_x: WindowSet | None, fit: np.ndarray, val: np.ndarray, test: np.ndarray):
    """`fold` (a FoldData) with the privileged teacher's inputs of its fit, validation and test rows."""
    if teacher_x is None:
        return fold
    def rows(part: np.ndarray) -> WindowSet:
        return teacher_x.rows(torch.from_numpy(part))
    return replace(fold, teacher_x_train=rows(fit), teacher_x_test=rows(test),
                   teacher_x_val=rows(val) if len(val) else None)

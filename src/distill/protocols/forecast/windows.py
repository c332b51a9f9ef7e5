"""From a cleaned table to the folds the protocol trains on, and from model outputs back to the target's units.

Windows: one per start day whose input days and horizon days all have an observed target (a window that
touches an unreported target day is dropped, never filled). Folds: blocked, rolling-origin or shuffled over
those windows (`distill.data.windows`), with inner validation windows carved from each fold's training part.
Scaling, fitted on each fold's fitting windows only:
- `window_log` (default): every window read relative to its own recent level in log space
  (`distill.data.window_scaling.WindowLogScaler`);
- `minmax`: the seed study's MinMax of the table (optionally on all rows: a leak), targets as levels or as
  changes since the last input day.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from distill.core.task import FoldData
from distill.data.window_scaling import WindowLogScaler
from distill.data.windows import (
    OriginBlock,
    TableScaler,
    WindowSet,
    covered_days,
    inner_validation,
    make_folds,
    make_windows,
    rolling_origins,
)
from distill.errors import DistillError
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.privileged import relative_horizon, teacher_set, teacher_windows, with_teacher_rows


@dataclass
class WindowTable:
    """Every usable window of one or more series, in the target's own units, ordered by (first period, series).

    `starts` are the windows' first periods on the panel's calendar (a single series: its row numbers), so
    windows of different series are purged by time; `series` says which series each window reads, and no
    window reads two."""

    inputs: np.ndarray  # (windows, input_days, features) float32: the cleaned table, features filled from the past
    targets: np.ndarray  # (windows, horizon): the observed target
    history: np.ndarray  # (windows, input_days): the observed target on the input days
    starts: np.ndarray  # (windows,)
    oracle: np.ndarray | None  # (windows, horizon): the noise-free expected target, where the data has one
    dropped: int  # windows dropped because a target day of theirs was not observed
    series: np.ndarray  # (windows,) index into `series_names`
    series_names: tuple[str, ...]
    rows: np.ndarray  # (windows,) first row of each window within its own series
    privileged: np.ndarray | None = None  # (windows, horizon, P): data.privileged columns on the horizon days
    privileged_indices: tuple[int, ...] = ()  # where those columns are among the features


def observed_starts(target: np.ndarray, input_days: int, horizon: int) -> tuple[np.ndarray, int]:
    """First rows of the windows whose every target day is observed, and how many windows there are in all."""
    span = input_days + horizon
    count = len(target) - span + 1
    if count < 1:
        raise DistillError(f"the data has {len(target)} rows; one window needs input_days + horizon = {span}")
    days = np.arange(count)[:, None] + np.arange(span)[None, :]  # (windows, span)
    starts = np.flatnonzero(~np.isnan(target[days]).any(axis=1))
    if len(starts) == 0:
        raise DistillError(f"no window of {span} days has the target observed on every day")
    return starts, count


def make_window_table(values: np.ndarray, target: np.ndarray, input_days: int, horizon: int,
                      oracle: np.ndarray | None = None) -> WindowTable:
    """Window a (days, features) table and its (days,) target; drop windows with an unobserved target day."""
    return panel_window_table([("series", values, target, 0, oracle)], input_days, horizon)


def panel_window_table(series: list[tuple[str, np.ndarray, np.ndarray, int, np.ndarray | None]], input_days: int,
                       horizon: int) -> WindowTable:
    """Windows of every series (name, values, target, offset on the calendar, oracle), each read within its
    own series only, ordered by (first period, series); each series' windows are copied once, into place."""
    found = []
    for name, _, target, _, _ in series:
        try:
            found.append(observed_starts(target, input_days, horizon))
        except DistillError as error:
            raise DistillError(f"series {name!r}: {error}" if len(series) > 1 else str(error)) from None
    rows = np.concatenate([starts for starts, _ in found])
    index = np.concatenate([np.full(len(starts), k, dtype=np.int64) for k, (starts, _) in enumerate(found)])
    starts = rows + np.concatenate([np.full(len(s), offset) for (s, _), (_, _, _, offset, _) in zip(found, series)])
    order = np.lexsort((index, starts))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))  # where each series' windows go
    features = series[0][1].shape[1]
    inputs = np.empty((len(order), input_days, features), dtype=np.float32)
    targets, history = np.empty((len(order), horizon)), np.empty((len(order), input_days))
    has_oracle = all(oracle is not None for *_, oracle in series)
    oracle_out = np.empty((len(order), horizon)) if has_oracle else None
    begin = 0
    for (_name, values, target, _, oracle), (mine, _) in zip(series, found):
        place = position[begin:begin + len(mine)]
        begin += len(mine)
        view = np.lib.stride_tricks.sliding_window_view(values.astype(np.float32), input_days, axis=0)
        inputs[place] = view[mine].transpose(0, 2, 1)  # (windows, input_days, features)
        days = mine[:, None] + np.arange(input_days + horizon)[None, :]
        targets[place], history[place] = target[days[:, input_days:]], target[days[:, :input_days]]
        if has_oracle:
            oracle_out[place] = oracle[days[:, input_days:]]
    return WindowTable(inputs=inputs, targets=targets, history=history, starts=starts[order], oracle=oracle_out,
                       dropped=int(sum(count - len(mine) for mine, count in found)), series=index[order],
                       series_names=tuple(name for name, *_ in series), rows=rows[order])


class FoldCodec(NamedTuple):
    """One fold's way from model outputs back to forecasts in the target's own units, and its description."""

    decode: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (rows, outputs) -> (rows, horizon)
    describe: Callable[[list[str]], dict]


Splits = list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def split_windows(config: ForecastConfig, table: WindowTable,
                  first_origin: int | None = None) -> tuple[Splits, list[OriginBlock] | None]:
    """(fit, validation, test) window positions per fold (rolling origin: per refit block, and the blocks);
    validation is empty without inner validation. `first_origin`: the period of the first forecast origin."""
    cv, data = config.cv, config.data
    span = data.lookback + data.horizon
    blocks = None
    if cv.split == "rolling":
        if first_origin is None:
            raise DistillError("cv.split rolling needs the first forecast origin")
        blocks = rolling_origins(table.starts, data.lookback, data.horizon, first_origin, cv.step, cv.refit_every,
                                 cv.folds)
        splits = [(block.train, block.test) for block in blocks]
    else:
        splits = make_folds(len(table.starts), cv.folds, cv.split, span, cv.random_state, starts=table.starts)
    if cv.inner_validation == 0:
        return [(train, np.array([], dtype=int), test) for train, test in splits], blocks
    return [(*inner_validation(train, span, cv.inner_validation, table.starts), test) for train, test in splits], blocks


def recent_windows(table: WindowTable, blocks: list[OriginBlock] | None, input_days: int,
                   horizon: int) -> list[np.ndarray] | None:
    """Per refit block: the windows whose forecast starts in the `horizon - 1` periods before the block's first
    origin - inputs observed by then, horizon not yet, so they are in no fit - which a student can learn only
    through its teacher (`teacher_labelled.recent`); None without rolling origins."""
    if blocks is None:
        return None
    window_origins = table.starts + input_days
    return [np.flatnonzero((window_origins < block.origins[0]) & (window_origins > block.origins[0] - horizon))
            for block in blocks]


def window_log_folds(config: ForecastConfig, table: WindowTable, target_index: int, splits: list,
                     recent: list[np.ndarray] | None = None) -> tuple[list[FoldData], list[FoldCodec]]:
    """Per fold: a WindowLogScaler fitted on the fitting windows; every window encoded with it.

    The folds share one array of relative log inputs (the only fold-independent step) and each scales the rows
    its batches gather (`WindowSet` with a `RowScaling`): one copy of the windows instead of one per fold. With
    `data.privileged`, the teacher reads its own windows, the privileged horizon block appended
    (`distill.protocols.forecast.privileged`)."""
    level_days, indices = config.data.level_days, list(table.privileged_indices)
    relative = WindowLogScaler(target_index, level_days).relative_inputs(table.inputs)  # (windows, days, features)
    windows = torch.from_numpy(relative)
    privileged = None if table.privileged is None else teacher_windows(
        relative, relative_horizon(table.inputs, table.privileged, indices, level_days))
    folds, codecs = [], []
    for index, (fit, val, test) in enumerate(splits):
        rows = None if np.array_equal(fit, np.arange(len(windows))) else fit  # None: no copy for the final fit
        scaler = WindowLogScaler(target_index, level_days).fit(table.inputs, table.targets, rows, relative)
        x = WindowSet(windows, torch.arange(len(windows)), scaler.scaling())
        y = torch.from_numpy(scaler.encode_targets(table.inputs, table.targets))  # (windows, horizon)
        fold = _fold(index, x, y, fit, val, test, None if recent is None else recent[index])
        teacher_x = teacher_set(privileged, scaler, indices, config.data.horizon)
        folds.append(with_teacher_rows(fold, teacher_x, fit, val, test))
        codecs.append(FoldCodec(lambda rows, out, s=scaler: s.decode(table.inputs, out, rows), scaler.describe))
    return folds, codecs


def minmax_folds(config: ForecastConfig, values: np.ndarray, table: WindowTable, target_index: int,
                 splits: list, recent: list[np.ndarray] | None = None) -> tuple[list[FoldData], list[FoldCodec]]:
    """The seed's scaling: MinMax of the table per fold (or on all rows), windows as strided views."""
    data = config.data
    span = data.lookback + data.horizon
    folds, codecs = [], []
    for index, (fit, val, test) in enumerate(splits):
        fit_days = None if data.scale_on == "all" else covered_days(table.starts[fit], span)
        scaler = TableScaler(keep_columns=(target_index,)).fit(values.astype(np.float32), fit_days)
        scaled = torch.from_numpy(scaler.transform(values.astype(np.float32)))  # (days, features)
        x, y = make_windows(scaled, scaled[:, target_index], data.lookback, data.horizon)
        if data.target_mode == "change":
            y = y - x[:, -1, target_index:target_index + 1]  # (windows, horizon): change since the last input day
        x, y = WindowSet(x, torch.from_numpy(table.starts)), y[torch.from_numpy(table.starts)]
        folds.append(_fold(index, x, y, fit, val, test, None if recent is None else recent[index]))
        codecs.append(FoldCodec(lambda rows, out, s=scaler, x=x: _minmax_decode(s, x, rows, out, target_index,
                                                                                data.target_mode),
                                scaler.describe))
    return folds, codecs


def _minmax_decode(scaler: TableScaler, x: WindowSet, rows: np.ndarray, outputs: np.ndarray, target_index: int,
                   target_mode: str) -> np.ndarray:
    base = x[torch.from_numpy(rows)][:, -1, target_index:target_index + 1].numpy() if target_mode == "change" else 0.0
    return (outputs + base) * scaler.column_range(target_index) + scaler.column_min(target_index)


def _fold(index: int, x, y: torch.Tensor, fit: np.ndarray, val: np.ndarray, test: np.ndarray,
          transfer: np.ndarray | None = None) -> FoldData:
    def part(rows: np.ndarray):
        rows = torch.from_numpy(rows)
        return (x.rows(rows) if isinstance(x, WindowSet) else x[rows]), y[rows]

    (x_fit, y_fit), (x_test, y_test) = part(fit), part(test)
    x_val, y_val = part(val) if len(val) else (None, None)
    x_transfer = part(transfer)[0] if transfer is not None and len(transfer) else None
    return FoldData(index=index, x_train=x_fit, y_train=y_fit, x_test=x_test, y_test=y_test,
                    test_rows=torch.from_numpy(test), x_val=x_val, y_val=y_val, x_transfer=x_transfer)

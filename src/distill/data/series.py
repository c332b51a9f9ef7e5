"""A time series for the privileged protocol, from any source a config names: the Mackey-Glass generator, a
UCI PM2.5 file, or any CSV file; a numeric table in time order, NaN where a value is missing.

`SeriesData` (with `MackeyGlassSection`) is the config section these loaders read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from distill.config import Section
from distill.data.csv_series import load_csv_series
from distill.data.mackey_glass import mackey_glass_frame
from distill.data.pm25 import load_pm25
from distill.errors import DistillError


class MackeyGlassSection(Section):
    """Parameters of the generated Mackey-Glass series (see `distill.data.mackey_glass`)."""

    length: int = Field(2500, ge=2)
    tau: int = Field(17, ge=1)
    a: float = Field(0.1, gt=0)
    b: float = Field(0.2, gt=0)
    history: float = Field(0.9, gt=0)
    step: float = Field(1.0, gt=0)
    seed: int = 0
    noise: float = Field(0.0, ge=0)


class SeriesData(Section):
    """Where the series comes from and which columns the student sees.

    - mackey-glass: the generator (`mackey_glass` settings); the target column is `value`.
    - pm25: a UCI PM2.5 file at `path` ("Beijing PM2.5" or "Five Chinese Cities" layout); target `pm25`.
    - csv: any CSV file at `path` with a numeric `target` column and an optional `time` column.
    The student sees the target's past and the `features` columns; privileged columns are declared in
    `privileged.columns` and are never among them.
    """

    source: Literal["mackey-glass", "pm25", "csv"] = "mackey-glass"
    path: str | None = None
    target: str | None = None
    time: str | None = None
    features: list[str] = Field(default_factory=list)
    mackey_glass: MackeyGlassSection = Field(default_factory=MackeyGlassSection)
    max_gap: int = Field(3, ge=0, description="pm25: longest run of missing hours filled by interpolation")


PM25_TARGET = "pm25"  # the target column `load_pm25` returns, whichever file column it came from


@dataclass
class SeriesTable:
    """A numeric table (rows in time order, NaN where missing), its column names, the target and the source."""

    values: np.ndarray
    columns: list[str]
    target: str
    source: str


def mackey_glass_series(data: SeriesData) -> SeriesTable:
    """The generated Mackey-Glass series: one column, `value`."""
    if data.path is not None or data.target not in (None, "value"):
        raise DistillError("data.source 'mackey-glass' is a generator with one column, 'value'; unset data.path and "
                           "data.target, or use data.source: pm25 or csv to read a file")
    mg = data.mackey_glass
    frame = mackey_glass_frame(mg.length, mg.tau, mg.a, mg.b, mg.history, mg.step, mg.seed, mg.noise)
    source = (f"Mackey-Glass generator (length {mg.length}, tau {mg.tau}, a {mg.a:g}, b {mg.b:g}, "
              f"history {mg.history:g}, step {mg.step:g}, noise {mg.noise:g}, seed {mg.seed})")
    return SeriesTable(frame[["value"]].to_numpy(float), ["value"], "value", source)


def file_series(data: SeriesData) -> SeriesTable:
    """A PM2.5 file (target `pm25`) or any CSV file (target `data.target`), without its time column."""
    if data.path is None:
        raise DistillError(f"data.source {data.source!r} reads a file: set data.path=FILE (pm25: a UCI 'Beijing "
                           "PM2.5' or 'PM2.5 Data of Five Chinese Cities' CSV, or a synthetic one from `distill data "
                           "pm25-like --out FILE`; csv: any CSV with data.target)")
    source = str(data.path)
    if data.source == "pm25":
        loaded = load_pm25(data.path, target=data.target, max_gap=data.max_gap)
        if "synthetic" in loaded.attrs:
            source += f" (SYNTHETIC: {loaded.attrs['synthetic']}; the UCI Beijing PM2.5 layout)"
        frame, target = loaded.drop(columns="time"), PM25_TARGET
    elif data.target is None:
        raise DistillError("data.source 'csv' needs data.target, the column to predict")
    else:
        frame, target = load_csv_series(data.path, data.target, time=data.time), data.target
        frame = frame.drop(columns=[data.time] if data.time else [])
    return SeriesTable(frame.to_numpy(float), [str(c) for c in frame.columns], target, source)


def load_series(data: SeriesData) -> SeriesTable:
    """The configured series as a numeric table, rows in time order (NaN where a value is missing); an
    infinite value is an error, not a missing one."""
    table = mackey_glass_series(data) if data.source == "mackey-glass" else file_series(data)
    check_finite(table)
    return table


def check_finite(table: SeriesTable) -> None:
    """Raise DistillError naming the first +-inf in the table (row counted from 1 in time order) and the count."""
    infinite = np.isinf(table.values)
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise DistillError(f"{table.source}: column {table.columns[column]!r} holds {int(infinite.sum())} infinite "
                           f"value(s), the first {table.values[row, column]} in row {row + 1}; replace them by "
                           "numbers or leave the cells empty (missing)")

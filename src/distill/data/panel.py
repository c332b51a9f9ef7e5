"""Many series for one global model: a long table (a series column, a date column, the target, features) or
several v3 location files, cleaned series by series into one column layout.

Every series is cleaned on its own (regular rows, features filled from its own past, its target's gaps kept;
`distill.data.covid`); their columns are the union of the series' numeric columns (a column a series lacks is
missing there, so 0 after filling). Uninformative columns (constant or empty) are judged on TRAINING rows only -
the rows before the first forecast origin of a rolling-origin run (every row otherwise, where every row
trains some fold) - pooled over the series, and listed with the reason. Rows of all series share one calendar
(`Panel.periods`): a series' row r is period `offset + r` from the panel's first date, so that windows of
different series can be ordered and purged by time.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from distill.data.covid import DROP_REASONS, FREQUENCIES, CleanFrame, finish_series, numeric_table, uninformative_columns
from distill.errors import DistillError


@dataclass
class SeriesPart:
    """One cleaned series, where its first row sits on the panel's calendar, and its oracle (simulated data)."""

    name: str
    clean: CleanFrame
    offset: int
    oracle: np.ndarray | None = None  # (rows,) the noise-free expected target


@dataclass
class Panel:
    """Cleaned series sharing one column layout; `dropped` maps reason -> columns, `judged_on` says on which rows."""

    parts: list[SeriesPart]
    columns: list[str]
    dropped: dict[str, list[str]]
    freq: str
    judged_on: str
    first_origin: int | None  # rolling origin: the period of the first forecast origin

    @property
    def period(self) -> str:
        """`day` or `week`: the unit of a row, for "patients per day"."""
        return "day" if self.freq == "daily" else "week"

    @property
    def rows(self) -> dict[str, int]:
        """What cleaning did to the rows, summed over the series."""
        keys = self.parts[0].clean.rows
        return {key: int(sum(part.clean.rows[key] for part in self.parts)) for key in keys}

    def dates(self) -> tuple[str, str]:
        firsts = [part.clean.dates.iloc[0] for part in self.parts]
        lasts = [part.clean.dates.iloc[-1] for part in self.parts]
        return str(min(firsts)), str(max(lasts))

    def calendar(self) -> list:
        """The date (or row number) of every period from the panel's first to its last row."""
        if len(self.parts) == 1:
            return list(self.parts[0].clean.dates)
        first = min(part.clean.dates.iloc[0] for part in self.parts)
        last = max(part.offset + len(part.clean.frame) for part in self.parts)
        return list(pd.date_range(first, periods=last, freq=FREQUENCIES[self.freq]))


def split_long_table(table: pd.DataFrame, series_column: str | None, source: str) -> dict[str, pd.DataFrame]:
    """{series name: its rows} of a long table; without a series column, the whole table is one series."""
    if series_column is None:
        return {source: table}
    if series_column not in table.columns:
        raise DistillError(f"series column {series_column!r} (data.series) is not in {source}")
    names = table[series_column]
    if names.isna().any():
        raise DistillError(f"series column {series_column!r} is empty on {int(names.isna().sum())} row(s)")
    if len(table) > 1 and names.nunique() == len(table):
        raise DistillError(f"series column {series_column!r} holds a new value on every row ({len(table)} rows): "
                           "that is not a series column (one name per series, repeated on each of its rows)")
    return {str(name): rows.drop(columns=series_column) for name, rows in table.groupby(names.astype(str), sort=True)}


def rolling_first_origin(periods: list[np.ndarray], test_share: float) -> int:
    """The period of the first forecast origin: the start of the last `test_share` of the panel's periods."""
    first = min(int(p[0]) for p in periods)
    last = max(int(p[-1]) for p in periods)
    return first + int(round((1.0 - test_share) * (last - first + 1)))


def build_panel(tables: Mapping[str, pd.DataFrame], target: str, date_column: str = "date", freq: str = "daily",
                missing: str = "ffill", min_days: int = 0, drop_rule: str = "constant",
                test_share: float | None = None, oracles: Mapping[str, pd.Series] | None = None) -> Panel:
    """Clean every series, lay them on one calendar and drop the uninformative columns judged on training rows.

    `test_share` (rolling origin): the columns are judged on the rows before the first origin only; None:
    on every row (blocked and shuffled folds train on every part of the data)."""
    several = len(tables) > 1
    numeric = {name: _per_series(name, several, numeric_table, table, target, date_column, freq, several)
               for name, table in tables.items()}
    columns = list(dict.fromkeys(c for part in numeric.values() for c in part.frame.columns))
    cleaned = {name: _per_series(name, several, finish_series, part.frame.reindex(columns=columns), part.dates,
                                 part.gaps, {}, target, missing, min_days)
               for name, part in numeric.items()}
    offsets = _offsets({name: clean.dates for name, clean in cleaned.items()}, freq)
    periods = [offsets[name] + np.arange(len(clean.frame)) for name, clean in cleaned.items()]
    first_origin = None if test_share is None else rolling_first_origin(periods, test_share)
    judged = [_training_rows(numeric[name].frame.reindex(columns=columns), numeric[name].dates, clean.dates,
                             offsets[name], first_origin) for name, clean in cleaned.items()]
    reason = DROP_REASONS[drop_rule]
    dropped_text = list(dict.fromkeys(c for part in numeric.values() for c in part.dropped["text"]))
    dropped_cumulative = list(dict.fromkeys(c for part in numeric.values() for c in part.dropped["cumulative"]))
    dropped = {"text": dropped_text, "cumulative": dropped_cumulative,
               reason: uninformative_columns(judged, target, drop_rule)}
    kept = [c for c in columns if c not in dropped[reason]]
    parts = []
    for name, clean in cleaned.items():
        clean.frame, clean.dropped = clean.frame[kept], dropped
        oracle = None
        if oracles is not None:
            oracle = oracles[name].reindex(pd.DatetimeIndex(clean.dates)).to_numpy(dtype=np.float64)
            if missing == "zero":  # the seed's rule makes an unreported target day 0, which the oracle knows
                oracle = np.where(np.isnan(oracle), 0.0, oracle)
        parts.append(SeriesPart(name, clean, offsets[name], oracle))
    judged_on = ("the rows before the first forecast origin (training rows only)" if first_origin is not None
                 else "every row (each row trains some fold)")
    return Panel(parts, kept, dropped, freq, judged_on, first_origin)


def _per_series(series_name: str, several: bool, step, *args, **kwargs):
    """Run one cleaning step of a series; with several series, an error names the series."""
    try:
        return step(*args, **kwargs)
    except DistillError as error:
        if several:
            raise DistillError(f"series {series_name!r}: {error}") from None
        raise


def _offsets(dates: dict[str, pd.Series], freq: str) -> dict[str, int]:
    """Each series' first row as a period count from the earliest first date of all series."""
    if len(dates) == 1:
        return {name: 0 for name in dates}
    first = min(d.iloc[0] for d in dates.values())
    step = FREQUENCIES[freq]
    offsets = {}
    for name, series_dates in dates.items():
        shift = series_dates.iloc[0] - first
        if shift % step != pd.Timedelta(0):
            raise DistillError(f"series {name!r} is not on the other series' {freq} calendar (its first date "
                               f"{series_dates.iloc[0].date()} is {shift} after {first.date()})")
        offsets[name] = int(shift // step)
    return offsets


def _training_rows(numeric: pd.DataFrame, raw_dates: pd.Series, clean_dates: pd.Series, offset: int,
                   first_origin: int | None) -> pd.DataFrame:
    """The raw rows (before filling) of the series' cleaned range that lie before the first origin."""
    inside = raw_dates.isin(set(clean_dates)).to_numpy()
    rows = numeric[inside]
    if first_origin is None:
        return rows
    return rows.iloc[:max(0, first_origin - offset)]

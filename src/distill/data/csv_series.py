"""Any CSV file as a time series: a target column, numeric feature columns and, optionally, a time column.

The frame returned has the time column first (parsed as datetimes, rows sorted by it), then the features,
then the target, unless the target is itself one of the features (the default: every numeric column is a
feature, so the target's own past can be an input); it then appears once, among the features. Which
columns become model inputs, and over which window, is for the windowing stage to decide.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pandas.api.types import is_numeric_dtype

from distill.errors import DistillError

SHOWN_COLUMNS = 8  # how many available columns an error message lists
MAX_CSV_BYTES = 1 << 30  # larger files are refused by their size, before reading (pandas needs several times more)


def read_csv_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV file into a frame with stripped column names; a missing or unreadable file is a DistillError."""
    if not Path(path).is_file():
        raise DistillError(f"data file not found: {str(path)!r}")
    size = Path(path).stat().st_size
    if size > MAX_CSV_BYTES:
        raise DistillError(f"{str(path)!r} is {size / 2**30:.1f} GiB; data files up to {MAX_CSV_BYTES / 2**30:.0f} GiB "
                           "are read (a series this tool trains on fits in far less)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DistillError(f"cannot read {str(path)!r} as CSV: {str(error).splitlines()[0]}") from error
    return frame.rename(columns=str.strip)


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: str | os.PathLike) -> None:
    """Raise a DistillError naming the first missing column and listing some that exist."""
    for column in columns:
        if column not in frame.columns:
            available = ", ".join(map(str, frame.columns[:SHOWN_COLUMNS]))
            more = f" (and {len(frame.columns) - SHOWN_COLUMNS} more)" if len(frame.columns) > SHOWN_COLUMNS else ""
            raise DistillError(f"column {column!r} not found in {str(path)!r}; available: {available}{more}")


def require_numeric(frame: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """Raise a DistillError for the first column that is not numeric."""
    for column in columns:
        if not is_numeric_dtype(frame[column]):
            example = frame[column].dropna().iloc[0] if frame[column].notna().any() else None
            raise DistillError(f"{role} column {column!r} is not numeric (dtype {frame[column].dtype}, "
                               f"e.g. {example!r}); allowed: a column of numbers")


def parse_time(frame: pd.DataFrame, time: str) -> pd.DataFrame:
    """Parse the time column as datetimes and sort the rows by it (stable)."""
    try:
        parsed = pd.to_datetime(frame[time])
    except (ValueError, TypeError) as error:
        raise DistillError(f"time column {time!r} does not hold dates: {str(error).splitlines()[0]}") from error
    return frame.assign(**{time: parsed}).sort_values(time, kind="stable").reset_index(drop=True)


def load_csv_series(path: str | os.PathLike, target: str, features: Sequence[str] | None = None,
                    time: str | None = None) -> pd.DataFrame:
    """Load `path` as a time series with the given target, features (default: every numeric column other
    than the time column) and optional time column."""
    if isinstance(features, str):
        features = [features]
    frame = read_csv_file(path)
    require_columns(frame, [target, *(features or []), *([time] if time else [])], path)
    require_numeric(frame, [target], "target")
    if features is None:
        features = [c for c in frame.columns if c != time and is_numeric_dtype(frame[c])]
    require_numeric(frame, features, "feature")
    if time is not None:
        frame = parse_time(frame, time)
    columns = [*([time] if time else []), *features, *([] if target in features else [target])]
    return frame[columns]

"""COVID-19 Open Data v3 per-location tables: load from a path or a cached download, clean as the seed did.

Cleaning (as the seed study's notebook did): drop text columns, drop every column with at most 2
distinct values (NaN counts as a value), drop `cumulative_*` (they duplicate the `new_*` columns),
fill NaN with 0, sort by date. What was dropped, and why, is returned so reports can show it.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from distill.errors import DistillError
from distill.io.atomic import download_atomic

V3_LOCATION_URL = "https://storage.googleapis.com/covid19-open-data/v3/location/{key}.csv"
DEFAULT_CACHE = Path(os.environ.get("DISTILL_CACHE", Path.home() / ".cache" / "distill"))


@dataclass
class CleanFrame:
    """A cleaned table: numeric columns only, sorted by date, no NaN; `dropped` maps reason -> columns."""

    frame: pd.DataFrame
    dates: pd.Series
    dropped: dict[str, list[str]] = field(default_factory=dict)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, turning every way it can fail into one DistillError line."""
    path = Path(path)
    if not path.is_file():
        raise DistillError(f"data file not found: {path}")
    try:
        table = pd.read_csv(path, low_memory=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DistillError(f"cannot read {path} as CSV: {reason}") from None
    if table.empty:
        raise DistillError(f"{path} has no data rows")
    return table


def download_location(key: str, cache_dir: str | Path = DEFAULT_CACHE, url: str = V3_LOCATION_URL) -> Path:
    """Return the cached v3 file of a location key (e.g. `US_TX`), downloading it once if missing."""
    if not key.replace("_", "").isalnum():
        raise DistillError(f"data.location must look like US_TX, got {key!r}")
    target = Path(cache_dir) / "covid19-open-data" / f"{key}.csv"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    address = url.format(key=key)
    try:
        download_atomic(address, target, timeout=30)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DistillError(f"cannot download {address}: {reason}; "
                           f"put the file at {target} or pass data.path") from None
    return target


def clean_covid_table(table: pd.DataFrame, target: str, date_column: str = "date") -> CleanFrame:
    """Apply the seed's cleaning; the target column must survive it and hold numbers."""
    if target not in table.columns:
        raise DistillError(f"target column {target!r} is not in the data ({len(table.columns)} columns)")
    if not pd.api.types.is_numeric_dtype(table[target]):
        raise DistillError(f"target column {target!r} is not numeric")
    if table[target].isna().all():
        raise DistillError(f"target column {target!r} has no values (all NaN)")
    if date_column in table.columns:
        order = pd.to_datetime(table[date_column], errors="coerce")
        if order.isna().any():
            raise DistillError(f"column {date_column!r} has values that are not dates")
        table = table.assign(**{date_column: order}).sort_values(date_column, kind="stable")
        dates = table[date_column].reset_index(drop=True)
    else:
        dates = pd.Series(pd.RangeIndex(len(table)), name="row")
    dropped = {
        "text": [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])],
        "cumulative": [c for c in table.columns if c.startswith("cumulative_")],
    }
    numeric = table.drop(columns=dropped["text"] + dropped["cumulative"])
    dropped["at_most_2_distinct_values"] = [c for c in numeric.columns
                                            if c != target and numeric[c].nunique(dropna=False) <= 2]
    numeric = numeric.drop(columns=dropped["at_most_2_distinct_values"])
    frame = numeric.fillna(0.0).astype(np.float32).reset_index(drop=True)
    return CleanFrame(frame=frame, dates=dates, dropped=dropped)


def load_covid(target: str, path: str | Path | None = None, location: str | None = None,
               cache_dir: str | Path = DEFAULT_CACHE) -> CleanFrame:
    """Load and clean a v3 location table from `path`, or from the cached download of `location`."""
    if path is None and location is None:
        raise DistillError("give data.path (a v3 location CSV) or data.location (e.g. US_TX)")
    source = Path(path) if path is not None else download_location(location, cache_dir)
    return clean_covid_table(read_table(source), target)

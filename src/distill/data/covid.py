"""COVID-19 Open Data v3 per-location tables: load from a path or a cached download, and clean.

Columns are cleaned as the seed study's notebook did: drop text columns, every column with at most 2
distinct values (NaN counts as a value) and `cumulative_*` (they duplicate the `new_*` columns). Missing
values are not turned into zeros (the seed's `fillna(0)` made every unreported day a day without patients):
features are filled from the past only and the target keeps its gaps (see `clean_covid_table`). What was
dropped or filled, and why, is returned so reports can show it.
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from distill.errors import DistillError
from distill.io.atomic import download_atomic, write_text_atomic

V3_LOCATION_URL = "https://storage.googleapis.com/covid19-open-data/v3/location/{key}.csv"
DEFAULT_CACHE = Path(os.environ.get("DISTILL_CACHE", Path.home() / ".cache" / "distill"))


@dataclass
class CleanFrame:
    """A cleaned table: numeric columns only, one row per day, no NaN; `dropped` maps reason -> columns.

    `target` is the target column as observed (NaN where it was not reported, unless the seed's NaN -> 0
    cleaning was asked for); `rows` counts what cleaning did to the rows (date gaps filled, target-less rows
    trimmed at either end, target days missing inside).
    """

    frame: pd.DataFrame
    dates: pd.Series
    dropped: dict[str, list[str]] = field(default_factory=dict)
    target: np.ndarray | None = None
    rows: dict[str, int] = field(default_factory=dict)


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


def file_record(path: Path) -> dict[str, int | str]:
    """Size in bytes and SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _cache_problem(target: Path, record_path: Path) -> str | None:
    """Why a cached download cannot be trusted (None: it matches the size and hash recorded at download)."""
    if not record_path.is_file():
        return "has no size/hash record (a download cut short, or a file put there by hand)"
    try:
        recorded = json.loads(record_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return f"has an unreadable record {record_path}"
    if not isinstance(recorded, dict):
        return f"has a record {record_path} that is not a size/hash mapping"
    actual = file_record(target)
    if actual["bytes"] != recorded.get("bytes"):
        return f"is corrupt: {actual['bytes']} bytes, {recorded.get('bytes')} recorded at download"
    if actual["sha256"] != recorded.get("sha256"):
        return "is corrupt: its SHA-256 differs from the one recorded at download"
    return None


def download_location(key: str, cache_dir: str | Path = DEFAULT_CACHE, url: str = V3_LOCATION_URL) -> Path:
    """Return the cached v3 file of a location key (e.g. `US_TX`), downloading it once if missing.

    A download's size and SHA-256 go to `<key>.csv.json` beside it and are checked on every use: a cached
    file that does not match (truncated, edited, or without a record) is downloaded again, and offline that
    is one error naming the file, never a table read with its cut row zero-filled.
    """
    if not key.replace("_", "").isalnum():
        raise DistillError(f"data.location must look like US_TX, got {key!r}")
    target = Path(cache_dir) / "covid19-open-data" / f"{key}.csv"
    record_path = target.with_name(f"{key}.csv.json")
    problem = _cache_problem(target, record_path) if target.is_file() else None
    if target.is_file() and problem is None:
        return target
    address = url.format(key=key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        download_atomic(address, target, timeout=30)
        write_text_atomic(record_path, json.dumps(file_record(target)))
    except (OSError, ValueError) as error:
        if isinstance(error, OSError) and not isinstance(error, urllib.error.URLError) and error.filename:
            raise DistillError(f"the download cache {cache_dir} (data.cache_dir or DISTILL_CACHE) is not a writable "
                               f"folder: {error.strerror}; pass another one, or data.path") from None
        reason = getattr(error, "reason", error)
        if problem:
            raise DistillError(f"the cached {target} {problem}, and it cannot be downloaded again from {address}: "
                               f"{reason}; delete it and retry online, or pass data.path") from None
        raise DistillError(f"cannot download {address}: {reason}; pass data.path (a v3 location CSV)") from None
    return target


def clean_covid_table(table: pd.DataFrame, target: str, date_column: str = "date", missing: str = "ffill",
                      min_days: int = 0, columns: list[str] | None = None) -> CleanFrame:
    """Clean a v3 table for forecasting; the target column must survive it and hold numbers.

    Columns: text, `cumulative_*` (twins of `new_*`) and columns with at most 2 distinct values (NaN counts
    as one) are dropped. Rows: sorted by date; a repeated date is an error; missing dates are re-indexed to
    daily rows. `missing="ffill"` fills features from the past only (forward fill; 0 before a source
    starts) and keeps the target's gaps as NaN (windows that touch one are dropped later), after trimming
    the rows before its first and after its last observed day. `missing="zero"` is the seed study's
    NaN -> 0 everywhere, target included (a false zero for every unreported day).

    `columns` (serving a trained model) keeps exactly these columns in this order instead of choosing them:
    a missing or non-numeric one is an error, target-less rows at both ends are trimmed whatever `missing`
    says (a forecast starts after the last day that reports the target), and a constant target is allowed.
    """
    _check_target(table, target)
    table, dates, gaps = _daily_rows(table, date_column)
    if columns is not None:
        return _rows_and_gaps(_saved_columns(table, columns), dates, gaps, {}, target, missing, min_days, serving=True)
    dropped = {
        "text": [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])],
        "cumulative": [c for c in table.columns if c.startswith("cumulative_")],
    }
    numeric = table.drop(columns=dropped["text"] + dropped["cumulative"])
    dropped["at_most_2_distinct_values"] = [c for c in numeric.columns
                                            if c != target and numeric[c].nunique(dropna=False) <= 2]
    numeric = numeric.drop(columns=dropped["at_most_2_distinct_values"]).astype(np.float64)
    return _rows_and_gaps(numeric, dates, gaps, dropped, target, missing, min_days)


def _saved_columns(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The named columns, in order, as numbers; one line for the first one missing or not numeric."""
    absent = [name for name in columns if name not in table.columns]
    if absent:
        raise DistillError(f"the data lacks {len(absent)} of the {len(columns)} columns the model reads, "
                           f"first {absent[0]!r}")
    text = [name for name in columns if not pd.api.types.is_numeric_dtype(table[name])]
    if text:
        raise DistillError(f"column {text[0]!r} holds text; the model reads it as numbers")
    return table[columns].astype(np.float64)


def _rows_and_gaps(numeric: pd.DataFrame, dates: pd.Series, gaps: int, dropped: dict, target: str, missing: str,
                   min_days: int, serving: bool = False) -> CleanFrame:
    """Fill or zero the gaps, trim target-less rows at both ends (ffill, or serving), check the target."""
    if not np.isfinite(numeric.to_numpy()[~numeric.isna().to_numpy()]).all():
        bad = [c for c in numeric.columns if np.isinf(numeric[c]).any()]
        raise DistillError(f"the data holds infinite values in {len(bad)} column(s), e.g. {bad[0]!r}")
    observed = numeric[target].notna().to_numpy()
    rows = {"date_gaps_filled": gaps, "leading_trimmed": 0, "trailing_trimmed": 0}
    if missing == "ffill" or serving:
        first, last = np.flatnonzero(observed)[[0, -1]]
        rows.update(leading_trimmed=int(first), trailing_trimmed=int(len(numeric) - 1 - last))
        numeric, dates = numeric.iloc[first:last + 1], dates.iloc[first:last + 1]
    if missing == "ffill":
        target_values = numeric[target].to_numpy(dtype=np.float64)
        frame = numeric.ffill().fillna(0.0)
    else:
        frame = numeric.fillna(0.0)
        target_values = frame[target].to_numpy(dtype=np.float64)
    _check_target_values(target_values, target, min_days, varying=not serving)
    rows["target_missing_inside"] = int(np.isnan(target_values).sum())
    return CleanFrame(frame=frame.astype(np.float32).reset_index(drop=True), dates=dates.reset_index(drop=True),
                      dropped=dropped, target=target_values, rows=rows)


def _check_target(table: pd.DataFrame, target: str) -> None:
    if target not in table.columns:
        raise DistillError(f"target column {target!r} is not in the data ({len(table.columns)} columns)")
    if not pd.api.types.is_numeric_dtype(table[target]):
        raise DistillError(f"target column {target!r} is not numeric")
    if table[target].isna().all():
        raise DistillError(f"target column {target!r} has no values (all NaN)")


def _check_target_values(values: np.ndarray, target: str, min_days: int, varying: bool = True) -> None:
    observed = values[~np.isnan(values)]
    if len(observed) < min_days:
        raise DistillError(f"target column {target!r} has {len(observed)} observed days; need at least "
                           f"{min_days} (2 x (input_days + horizon))")
    if varying and np.ptp(observed) == 0:
        raise DistillError(f"target column {target!r} is constant ({observed[0]:g}): there is nothing to forecast")


def _daily_rows(table: pd.DataFrame, date_column: str) -> tuple[pd.DataFrame, pd.Series, int]:
    """Sort by date, refuse repeated dates, insert the missing days as empty rows; (table, dates, days added)."""
    if date_column not in table.columns:
        return table.reset_index(drop=True), pd.Series(pd.RangeIndex(len(table)), name="row"), 0
    order = pd.to_datetime(table[date_column], errors="coerce")
    if order.isna().any():
        raise DistillError(f"column {date_column!r} has values that are not dates")
    repeated = order[order.duplicated()]
    if len(repeated):
        raise DistillError(f"column {date_column!r} repeats {len(repeated)} date(s), first "
                           f"{repeated.iloc[0].date()}: give one row per day")
    table = table.assign(**{date_column: order}).set_index(order).sort_index()
    days = pd.date_range(table.index[0].normalize(), table.index[-1].normalize(), freq="D")
    if len(table) > len(days) or not table.index.normalize().equals(table.index):
        return table.reset_index(drop=True), pd.Series(table.index, name=date_column), 0  # not daily: keep as is
    gaps = len(days) - len(table)
    table = table.reindex(days).assign(**{date_column: days})
    return table.reset_index(drop=True), pd.Series(days, name=date_column), int(gaps)


def load_covid(target: str, path: str | Path | None = None, location: str | None = None,
               cache_dir: str | Path = DEFAULT_CACHE, missing: str = "ffill", min_days: int = 0) -> CleanFrame:
    """Load and clean a v3 location table from `path`, or from the cached download of `location`."""
    if path is None and location is None:
        raise DistillError("give data.path (a v3 location CSV) or data.location (e.g. US_TX)")
    source = Path(path) if path is not None else download_location(location, cache_dir)
    return clean_covid_table(read_table(source), target, missing=missing, min_days=min_days)

"""COVID-19 Open Data v3 per-location tables: load from a path or a cached download, and clean.

Columns: text columns and `cumulative_*` (they duplicate the `new_*` columns) are dropped, and so are the
uninformative ones - constant or empty (default), or the seed notebook's "at most 2 distinct values, NaN
counted" (`drop_rule`), which also dropped 0/1 flags. Rows are made regular (daily or weekly, gaps re-indexed),
with one line for what cannot be: repeated dates, mixed frequencies or time zones, text that is no date. Missing
values are not turned into zeros (the seed's `fillna(0)` made every unreported day a day without patients):
features are filled from the past only and the target keeps its gaps (see `clean_covid_table`). What was
dropped or filled, and why, is returned so reports can show it.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from distill.data.tensors import regular_file
from distill.errors import DistillError
from distill.io.atomic import download_atomic, write_text_atomic

V3_LOCATION_URL = "https://storage.googleapis.com/covid19-open-data/v3/location/{key}.csv"
TAIL_BYTES = 1 << 16  # how much of a file's end is read to check its last row
FLOAT32_MAX = float(np.finfo(np.float32).max)
FREQUENCIES = {"daily": pd.Timedelta(days=1), "weekly": pd.Timedelta(days=7)}
DROP_REASONS = {"constant": "constant_or_empty", "at_most_2_values": "at_most_2_distinct_values"}  # rule -> key
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
    """Read a CSV, turning every way it can fail into one DistillError line: unreadable, empty, two columns
    of one name (pandas would rename the second to `NAME.1` without a word), or cut mid-row."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise DistillError(f"data file not found: {path}")
    regular_file(path)  # a folder, a FIFO or a device is named as what it is
    try:
        table = pd.read_csv(path, low_memory=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DistillError(f"cannot read {path} as CSV: {reason}") from None
    if table.empty:
        raise DistillError(f"{path} has no data rows")
    _check_header_and_last_row(path)
    return table


def _check_header_and_last_row(path: Path) -> None:
    """One line for a repeated column name, or a file cut short: a last row with fewer fields than the header, or
    one that ends in an empty field without the final newline."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    names = [name.strip() for name in header]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DistillError(f"{path} has {len(repeated)} repeated column name(s), first {repeated[0]!r}: give every "
                           "column its own name")
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
        tail = handle.read().decode("utf-8", errors="replace")
    lines = [line for line in tail.splitlines() if line.strip()]
    if len(lines) < 2:
        return
    last = next(csv.reader([lines[-1]]), [])
    unterminated = not tail.endswith(("\n", "\r"))
    if len(last) < len(header) or (unterminated and last and not last[-1].strip()):
        raise DistillError(f"the last row of {path} has {len(last)} of its {len(header)} fields: the file looks cut "
                           "mid-row (a download or copy cut short)")


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


@dataclass
class NumericTable:
    """One series after its rows are regular and its text and `cumulative_*` columns are gone (step 1 of 2)."""

    frame: pd.DataFrame  # numeric columns, one row per period, NaN where missing
    dates: pd.Series
    gaps: int
    dropped: dict[str, list[str]]


def numeric_table(table: pd.DataFrame, target: str, date_column: str = "date", freq: str = "daily",
                  date_required: bool = False) -> NumericTable:
    """Regular rows (`regular_rows`) and the numeric columns, less the `cumulative_*` twins of `new_*`."""
    _check_target(table, target)
    table, dates, gaps = regular_rows(table, date_column, freq, date_required)
    dropped = {
        "text": [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c]) or
                 pd.api.types.is_bool_dtype(table[c])],
        "cumulative": [c for c in table.columns if str(c).startswith("cumulative_")],
    }
    numeric = table.drop(columns=dropped["text"] + [c for c in dropped["cumulative"] if c not in dropped["text"]])
    return NumericTable(numeric.astype(np.float64), dates, gaps, dropped)


def uninformative_columns(frames: list[pd.DataFrame], target: str, rule: str = "constant") -> list[str]:
    """Columns to drop, judged on the rows given (a run passes its training rows only).

    `constant`: no value, or one value on every row given (0/1 flags and other low-cardinality columns are
    kept). `at_most_2_values`: the seed notebook's rule, at most 2 distinct values with NaN counted as one (it
    drops binary flags too)."""
    pooled = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if rule == "at_most_2_values":
        return [c for c in pooled.columns if c != target and pooled[c].nunique(dropna=False) <= 2]
    return [c for c in pooled.columns if c != target and pooled[c].nunique(dropna=True) <= 1]


def clean_covid_table(table: pd.DataFrame, target: str, date_column: str = "date", missing: str = "ffill",
                      min_days: int = 0, columns: list[str] | None = None, freq: str = "daily",
                      drop_rule: str = "constant") -> CleanFrame:
    """Clean one table for forecasting; the target column must survive it and hold numbers.

    Columns: text, `cumulative_*` (twins of `new_*`) and the uninformative ones (`uninformative_columns`,
    judged here on every row: a run judges on its training rows, see `distill.data.panel`) are dropped. Rows:
    sorted by date; a repeated date is an error; missing dates are re-indexed to empty rows. `missing="ffill"`
    fills features from the past only (forward fill; 0 before a source starts) and keeps the target's gaps as
    NaN (windows that touch one are dropped later), after trimming the rows before its first and after its last
    observed day. `missing="zero"` is the seed study's NaN -> 0 everywhere, target included (a false zero for
    every unreported day).

    `columns` (serving a trained model) keeps exactly these columns in this order instead of choosing them:
    a missing or non-numeric one is an error, target-less rows at both ends are trimmed whatever `missing`
    says (a forecast starts after the last day that reports the target), and a constant target is allowed.
    """
    if columns is not None:
        _check_target(table, target)
        table, dates, gaps = regular_rows(table, date_column, freq)
        return finish_series(_saved_columns(table, columns), dates, gaps, {}, target, missing, min_days, serving=True)
    numeric = numeric_table(table, target, date_column, freq)
    reason = DROP_REASONS[drop_rule]
    dropped = {**numeric.dropped, reason: uninformative_columns([numeric.frame], target, drop_rule)}
    return finish_series(numeric.frame.drop(columns=dropped[reason]), numeric.dates, numeric.gaps, dropped, target,
                         missing, min_days)


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


def finish_series(numeric: pd.DataFrame, dates: pd.Series, gaps: int, dropped: dict, target: str, missing: str,
                  min_days: int, serving: bool = False) -> CleanFrame:
    """Fill or zero the gaps, trim target-less rows at both ends (ffill, or serving), check the target."""
    present = numeric.to_numpy()[~numeric.isna().to_numpy()]
    if not np.isfinite(present).all():
        bad = [c for c in numeric.columns if np.isinf(numeric[c]).any()]
        raise DistillError(f"the data holds infinite values in {len(bad)} column(s), e.g. {bad[0]!r}")
    if len(present) and np.abs(present).max() > FLOAT32_MAX:
        bad = [c for c in numeric.columns if (numeric[c].abs() > FLOAT32_MAX).any()]
        raise DistillError(f"column {bad[0]!r} holds values beyond +-{FLOAT32_MAX:.2e} (e.g. "
                           f"{numeric[bad[0]].abs().max():g}): they overflow 32-bit floats; rescale them")
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
    if pd.api.types.is_bool_dtype(table[target]):
        raise DistillError(f"target column {target!r} holds True/False, not numbers to forecast")
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
        raise DistillError(f"target column {target!r} is constant ({observed[0]:g}): there is nothing to "
                           "forecast")


def parse_dates(values: pd.Series, column: str) -> pd.Series:
    """A column as datetimes; one line for values that are not dates or that mix time zones."""
    try:
        parsed = pd.to_datetime(values, errors="coerce")
    except (ValueError, TypeError) as error:
        if "timezone" in str(error).lower() or "tz" in str(error):
            raise DistillError(f"column {column!r} mixes time zones: give every date in one zone (or none)") from None
        raise DistillError(f"column {column!r} cannot be read as dates: {str(error).splitlines()[0]}") from None
    if parsed.isna().any():
        first = values[parsed.isna()].iloc[0]
        raise DistillError(f"column {column!r} has {int(parsed.isna().sum())} value(s) that are not dates, first "
                           f"{first!r}")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    return parsed


def regular_rows(table: pd.DataFrame, date_column: str, freq: str = "daily",
                 date_required: bool = False) -> tuple[pd.DataFrame, pd.Series, int]:
    """Sort by date, refuse repeated dates and mixed steps, insert the missing periods as empty rows;
    (table, dates, periods added). Without the date column, rows are taken in file order (one series only)."""
    if date_column not in table.columns:
        if date_required:
            raise DistillError(f"date column {date_column!r} is not in the data; name it with data.date")
        return table.reset_index(drop=True), pd.Series(pd.RangeIndex(len(table)), name="row"), 0
    order = parse_dates(table[date_column], date_column)
    repeated = order[order.duplicated()]
    if len(repeated):
        raise DistillError(f"column {date_column!r} repeats {len(repeated)} date(s), first "
                           f"{repeated.iloc[0].date()}: give one row per {_period(freq)}")
    table = table.assign(**{date_column: order}).set_index(order).sort_index()
    step = FREQUENCIES[freq]
    if not table.index.normalize().equals(table.index):
        raise DistillError(f"column {date_column!r} holds times of day; give one row per {_period(freq)}")
    _check_steps(table.index, step, freq, date_column)
    periods = pd.date_range(table.index[0], table.index[-1], freq=step)
    gaps = len(periods) - len(table)
    table = table.reindex(periods).assign(**{date_column: periods})
    return table.reset_index(drop=True), pd.Series(periods, name=date_column), int(gaps)


def _period(freq: str) -> str:
    return "day" if freq == "daily" else "week"


def _check_steps(index: pd.DatetimeIndex, step: pd.Timedelta, freq: str, column: str) -> None:
    """The dates step by `step` (gaps of whole steps allowed); one line for another or a mixed frequency."""
    if len(index) < 2:
        return
    steps = pd.Series(index[1:] - index[:-1])
    usual = steps.mode().iloc[0]
    if usual != step:
        hint = "; set data.freq: weekly" if usual == FREQUENCIES["weekly"] else ""
        raise DistillError(f"column {column!r} steps by {usual.days} day(s) most often, not the {step.days} of "
                           f"data.freq {freq!r}{hint}")
    uneven = steps[steps % step != pd.Timedelta(0)]
    if len(uneven):
        raise DistillError(f"column {column!r} mixes frequencies: steps of {step.days} and of {uneven.iloc[0]} days")
    longer = (steps > step).to_numpy()
    runs = longer[:-2] & longer[1:-1] & longer[2:] & (steps.iloc[:-2].to_numpy() == steps.iloc[1:-1].to_numpy()) \
        & (steps.iloc[1:-1].to_numpy() == steps.iloc[2:].to_numpy())
    if runs.any():
        at = int(np.flatnonzero(runs)[0])
        raise DistillError(f"column {column!r} mixes frequencies: steps of {step.days} day(s), and from "
                           f"{index[at].date()} a run of steps of {steps.iloc[at].days} days (one row per "
                           f"{_period(freq)} throughout, gaps aside)")


def load_covid(target: str, path: str | Path | None = None, location: str | None = None,
               cache_dir: str | Path = DEFAULT_CACHE, missing: str = "ffill", min_days: int = 0) -> CleanFrame:
    """Load and clean a v3 location table from `path`, or from the cached download of `location`."""
    if path is None and location is None:
        raise DistillError("give data.path (a v3 location CSV) or data.location (e.g. US_TX)")
    source = Path(path) if path is not None else download_location(location, cache_dir)
    return clean_covid_table(read_table(source), target, missing=missing, min_days=min_days)

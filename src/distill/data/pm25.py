"""Hourly PM2.5 tables from the UCI Machine Learning Repository, in either of two layouts.

- "Beijing PM2.5": No, year, month, day, hour, pm2.5, DEWP, TEMP, PRES, cbwd, Iws, Is, Ir.
- "PM2.5 Data of Five Chinese Cities": No, year, month, day, hour, season, PM_<station>..., PM_US Post,
  DEWP, HUMI, PRES, TEMP, cbwd, Iws, precipitation, Iprec (the station columns differ by city).

`load_pm25` returns one clean frame: `time` (from year, month, day, hour; one row per hour), the target
`pm25`, the numeric weather columns and the wind direction `cbwd` one-hot encoded (cbwd_NE, cbwd_cv, ...).
Dropped: `No`, the calendar columns (they are in `time`), `season` and the PM columns that are not the target.

Missing values, rule: hours absent from the file are inserted as missing rows; a run of at most `max_gap`
consecutive missing hours with observed values on both sides is filled by linear interpolation in time
(target and weather alike); longer runs stay missing, so that later stages can skip the windows that touch
them rather than learn from invented values; rows before the first and after the last observed target are
dropped. A missing wind direction encodes as all-zero one-hot columns.
"""
from __future__ import annotations

import os

import pandas as pd

from distill.data.csv_series import read_csv_file
from distill.errors import DistillError

CALENDAR = ["year", "month", "day", "hour"]
BEIJING_TARGET = "pm2.5"
BEIJING_WEATHER = ["DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"]
FIVE_CITIES_TARGET = "PM_US Post"
FIVE_CITIES_WEATHER = ["DEWP", "HUMI", "PRES", "TEMP", "Iws", "precipitation", "Iprec"]
BEIJING_COLUMNS = ["No", *CALENDAR, BEIJING_TARGET, *BEIJING_WEATHER, "cbwd"]
FIVE_CITIES_COLUMNS = ["No", *CALENDAR, "season", *FIVE_CITIES_WEATHER, "cbwd"]
DEFAULT_MAX_GAP = 3  # hours


def detect_layout(columns: pd.Index) -> str:
    """'beijing' or 'five_cities', from the header; anything else is a DistillError."""
    present = set(columns)
    if present.issuperset(BEIJING_COLUMNS):
        return "beijing"
    if present.issuperset(FIVE_CITIES_COLUMNS) and pm_columns(columns):
        return "five_cities"
    missing_beijing = [c for c in BEIJING_COLUMNS if c not in present]
    missing_five = [c for c in FIVE_CITIES_COLUMNS if c not in present] + ([] if pm_columns(columns) else ["PM_*"])
    raise DistillError(f"unknown PM2.5 layout: not 'Beijing PM2.5' (missing {', '.join(missing_beijing)}) nor "
                       f"'Five Chinese Cities' (missing {', '.join(missing_five)})")


def pm_columns(columns: pd.Index) -> list[str]:
    """The station PM2.5 columns of the five-cities layout."""
    return [c for c in columns if str(c).startswith("PM_")]


def choose_target(layout: str, columns: pd.Index, target: str | None) -> str:
    """The column to predict: pm2.5 (Beijing), or PM_US Post / the named PM_ column (five cities)."""
    allowed = [BEIJING_TARGET] if layout == "beijing" else pm_columns(columns)
    default = BEIJING_TARGET if layout == "beijing" else FIVE_CITIES_TARGET
    chosen = default if target is None else target
    if chosen not in allowed:
        raise DistillError(f"PM2.5 target {chosen!r} is not in the file; allowed: {', '.join(allowed)}")
    return chosen


def hourly_time(frame: pd.DataFrame) -> pd.Series:
    """Timestamps from the year, month, day and hour columns."""
    try:
        return pd.to_datetime(frame[CALENDAR])
    except (ValueError, TypeError) as error:
        raise DistillError(f"PM2.5 year/month/day/hour do not form valid dates: {error}") from error


def on_hourly_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by time and insert a missing row for every absent hour; duplicate hours are a DistillError."""
    frame = frame.sort_values("time", kind="stable")
    duplicated = frame["time"].duplicated()
    if duplicated.any():
        raise DistillError(f"PM2.5 file has {int(duplicated.sum())} repeated hours, first "
                           f"{frame['time'][duplicated].iloc[0]}; allowed: one row per hour")
    grid = pd.date_range(frame["time"].iloc[0], frame["time"].iloc[-1], freq="h")
    return frame.set_index("time").reindex(grid).rename_axis("time").reset_index()


def interpolate_short_gaps(series: pd.Series, max_gap: int) -> pd.Series:
    """Fill runs of at most `max_gap` missing values that have observed values on both sides, linearly."""
    missing = series.isna()
    run = (missing != missing.shift()).cumsum()
    run_length = missing.groupby(run).transform("size")
    filled = series.interpolate(method="linear", limit_area="inside")
    return filled.where(~missing | (run_length <= max_gap))


def trim_to_observed(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Drop the rows before the first and after the last observed value of `column`."""
    observed = frame[column].notna()
    first, last = observed.idxmax(), observed[::-1].idxmax()
    return frame.loc[first:last].reset_index(drop=True)


def load_pm25(path: str | os.PathLike, target: str | None = None, max_gap: int = DEFAULT_MAX_GAP) -> pd.DataFrame:
    """Load a UCI PM2.5 file of either layout; see the module docstring for the columns and the gap rule."""
    if not isinstance(max_gap, int) or max_gap < 0:
        raise DistillError(f"max_gap must be an integer >= 0 (hours), got {max_gap!r}")
    raw = read_csv_file(path)
    layout = detect_layout(raw.columns)
    target_column = choose_target(layout, raw.columns, target)
    weather = BEIJING_WEATHER if layout == "beijing" else FIVE_CITIES_WEATHER
    numeric = raw[[target_column, *weather]].apply(pd.to_numeric, errors="coerce")
    frame = pd.concat([hourly_time(raw).rename("time"), numeric.rename(columns={target_column: "pm25"}),
                       raw["cbwd"]], axis=1)
    if frame["pm25"].isna().all():
        raise DistillError(f"PM2.5 target {target_column!r} in {str(path)!r} has no values; "
                           f"allowed: a column with at least one number")
    frame = on_hourly_grid(frame)
    for column in ["pm25", *weather]:
        frame[column] = interpolate_short_gaps(frame[column], max_gap)
    frame = trim_to_observed(frame, "pm25")
    wind = pd.get_dummies(frame.pop("cbwd"), prefix="cbwd", dtype=float)
    return pd.concat([frame, wind], axis=1)

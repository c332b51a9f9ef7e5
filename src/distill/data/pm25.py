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

`write_pm25_like` (`distill data pm25-like`) writes a SYNTHETIC series in the Beijing layout, so that the pm25
recipes run without the UCI file; its `synthetic` column says so, and the loaded frame carries that label in
`frame.attrs["synthetic"]` for the report.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from distill.data.csv_series import read_csv_file
from distill.errors import DistillError
from distill.io.atomic import atomic_open

CALENDAR = ["year", "month", "day", "hour"]
BEIJING_TARGET = "pm2.5"
BEIJING_WEATHER = ["DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"]
FIVE_CITIES_TARGET = "PM_US Post"
FIVE_CITIES_WEATHER = ["DEWP", "HUMI", "PRES", "TEMP", "Iws", "precipitation", "Iprec"]
BEIJING_COLUMNS = ["No", *CALENDAR, BEIJING_TARGET, *BEIJING_WEATHER, "cbwd"]
FIVE_CITIES_COLUMNS = ["No", *CALENDAR, "season", *FIVE_CITIES_WEATHER, "cbwd"]
DEFAULT_MAX_GAP = 3  # hours
SYNTHETIC_COLUMN = "synthetic"  # present (and non-empty) only in files written by `write_pm25_like`
WIND_DIRECTIONS = ("NW", "NE", "SE", "cv")  # the Beijing file's cbwd values (cv: calm and variable)


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
    loaded = pd.concat([frame, wind], axis=1)
    if SYNTHETIC_COLUMN in raw.columns and raw[SYNTHETIC_COLUMN].notna().any():
        loaded.attrs["synthetic"] = str(raw[SYNTHETIC_COLUMN].dropna().iloc[0])
    return loaded


def write_pm25_like(path: str | os.PathLike, hours: int = 8760, seed: int = 0) -> Path:
    """Write a synthetic hourly table in the UCI "Beijing PM2.5" layout (atomically) and return its path.

    Not measured air quality: a small physical caricature with the file's columns, units and missing values, so
    that the pm25 recipes can be tried. The wind direction is a Markov chain; north-westerly wind is dry, cold,
    high pressure and fast (Iws, its cumulated speed, grows), and it clears the air; other hours let PM2.5 build
    up, faster when it is humid (high dew point). log PM2.5 follows an AR(1) process around that drift, so the
    hours ahead and the weather sensors both tell where it goes next (what the privileged teacher reads). About
    2% of PM2.5 hours are missing in short runs and one run of 30 hours, as the real file has gaps.
    """
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 200:
        raise DistillError(f"hours must be an integer >= 200, got {hours!r}")
    rng = np.random.default_rng(seed)
    time = pd.date_range("2010-01-01", periods=hours, freq="h")
    stay = 0.96  # chance the wind keeps its direction from one hour to the next
    wind = np.empty(hours, dtype=int)
    wind[0] = 0
    for hour in range(1, hours):
        wind[hour] = wind[hour - 1] if rng.random() < stay else rng.integers(len(WIND_DIRECTIONS))
    northwest = wind == 0
    season = np.cos(2 * np.pi * (time.day_of_year.to_numpy() - 200) / 365.25)  # 1 in July, -1 in January
    daily = np.sin(2 * np.pi * (time.hour.to_numpy() - 9) / 24)
    dewp = 2 + 14 * season - 8 * northwest + np.cumsum(rng.normal(0, 0.4, hours)) * 0.2 + rng.normal(0, 1, hours)
    temp = 12 + 15 * season + 4 * daily - 3 * northwest + rng.normal(0, 1.5, hours)
    pres = 1016 - 10 * season + 6 * northwest + rng.normal(0, 1.5, hours)
    speed = np.where(northwest, rng.gamma(4, 1.5, hours), rng.gamma(2, 0.8, hours))
    iws = np.zeros(hours)
    for hour in range(1, hours):  # cumulated wind speed, restarting when the direction changes
        iws[hour] = (iws[hour - 1] if wind[hour] == wind[hour - 1] else 0.0) + speed[hour]
    drift = np.where(northwest, -0.05 - 0.0008 * np.minimum(iws, 100), 0.01 + 0.002 * (dewp - dewp.mean()))
    log_pm = np.empty(hours)
    log_pm[0] = np.log(80.0)
    for hour in range(1, hours):
        log_pm[hour] = log_pm[hour - 1] + drift[hour] + 0.03 * (np.log(80.0) - log_pm[hour - 1]) + rng.normal(0, 0.1)
        log_pm[hour] = min(max(log_pm[hour], np.log(3.0)), np.log(900.0))
    pm = np.round(np.exp(log_pm))
    gaps = rng.random(hours) < 0.004
    for start in np.flatnonzero(gaps):
        pm[start:start + int(rng.integers(1, 6))] = np.nan
    long_start = int(rng.integers(hours // 4, hours // 2))
    pm[long_start:long_start + 30] = np.nan
    frame = pd.DataFrame({"No": np.arange(1, hours + 1), "year": time.year, "month": time.month, "day": time.day,
                          "hour": time.hour, BEIJING_TARGET: pm, "DEWP": np.round(dewp), "TEMP": np.round(temp),
                          "PRES": np.round(pres), "cbwd": np.array(WIND_DIRECTIONS)[wind], "Iws": np.round(iws, 2),
                          "Is": 0, "Ir": 0,
                          SYNTHETIC_COLUMN: f"distill data pm25-like (seed {seed}); not measured air quality"})
    try:
        with atomic_open(path, newline="") as out:
            frame.to_csv(out, index=False, na_rep="NA")  # the UCI file's own marker of a missing value
    except OSError as error:
        raise DistillError(f"cannot write {path}: {error.strerror or error}") from None
    return Path(path)

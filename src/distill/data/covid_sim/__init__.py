"""A simulated COVID-19 Open Data v3 location table: the embedded default dataset.

The frame looks like a real per-location v3 file (`US_XX.csv`): text index columns, constant
demographics, `cumulative_*` twins, ~420 `search_trends_*` columns and gaps where a source had not
started yet. Its numbers come from one latent epidemic, so that a forecaster that reads 10 days of
all columns can learn `new_hospitalized_patients` 14 days ahead. The generative model, one day per
step in a population of `POPULATION`:

1. Weather: seasonal cosines plus AR(1) anomalies for temperature and humidity; rain is a
   zero-inflated gamma; the dew point follows from temperature and humidity (Magnus formula).
2. Policy: a government-response level L in 0..4, reviewed weekly against the incidence seen a
   week late (tighten above a threshold, relax below another; pandemic fatigue lowers the ceiling).
   The OxCGRT indices are steps of L, `stringency_index` is their OxCGRT average.
3. Mobility moves towards a target set by L and by fear of incidence, with a 5-day response.
4. Transmission: discrete SEIR with waning immunity. beta(t) = beta0 * variant(t) * season(temp) *
   (1 - npi * L) * (1 + mobility effect) * exp(AR(1) noise). Three variants take over logistically
   (more transmissible; the last escapes immunity). Vaccination from ~day 350 makes susceptibles
   immune.
5. Observations: expected counts are infections, times a time-varying ratio (ascertainment, IHR,
   IFR), convolved with gamma-shaped delays (symptoms 5 d, confirmation 7 d, admission 11 d,
   death 20 d); reported counts are negative binomial around them times a weekday profile
   (weekend dip, Monday catch-up). Hospital and ICU census = admissions convolved with the
   length-of-stay survival function.
6. Search trends: ~30 symptom series rise with symptomatic infections; the others are seasonal
   AR(1) noise; the rarest are withheld (all NaN), as Google withholds them below a privacy
   threshold.
7. Breakdowns by age and sex: Poisson counts around slowly drifting shares of the reported totals.
8. Gaps: each source starts on its own day (NaN before) and a few random cells are missing, except
   in the forecast target, where cleaning would turn a gap into a false zero.
   `cumulative_*` = cumulative sum of `new_*` on the days that `new_*` was reported.

Several locations (`simulate_locations`, `data.sim_locations`): the first is the single simulator above; each
other draws its own noise and traits (`draw_traits`): a population of 0.1-1.3 x the default (so waves differ
about tenfold in size), an introduction 0-60 days later (waves out of step), and its own reporting (60-100% of
admissions and 60-120% of the usual case ascertainment). The process and its realism are otherwise the same.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from distill.data.covid_sim.observation import (
    age_columns,
    epidemiology_columns,
    expected_counts,
    expected_target,
    government_columns,
    hospital_columns,
    mobility_columns,
    search_trend_columns,
    sex_columns,
    vaccination_columns,
    with_cumulative,
    with_gaps,
)
from distill.data.covid_sim.process import draw_timeline, simulate_epidemic, weather_columns
from distill.data.covid_sim.schema import LOCATION_KEY, POPULATION, TARGET, index_columns, static_columns
from distill.errors import DistillError
from distill.io.atomic import write_csv_atomic

__all__ = ["TARGET", "LocationTraits", "simulate_covid", "simulate_covid_with_oracle", "simulate_locations",
           "write_covid_sim"]
MIN_DAYS = 100  # hospital reporting starts by day 70; keep at least a month of target


def simulate_covid(days: int = 860, seed: int = 0, start: str = "2020-01-01") -> pd.DataFrame:
    """A v3-schema location table of `days` rows from `start`, deterministic for a seed."""
    return simulate_covid_with_oracle(days, seed, start)[0]


def simulate_covid_with_oracle(days: int = 860, seed: int = 0,
                               start: str = "2020-01-01") -> tuple[pd.DataFrame, pd.Series]:
    """The table and, by date, the noise-free expected value of its target (`TARGET`) that the latent epidemic
    implies: an oracle that knows the future epidemic and only cannot know the reporting noise. Its error is
    the floor of what any forecaster of this table can reach."""
    _check_arguments(days, seed, start)
    return _simulate(days, np.random.default_rng(seed), start, LocationTraits())


@dataclass(frozen=True)
class LocationTraits:
    """What sets one simulated location apart: its size, when its epidemic starts, how completely it reports.

    The defaults are the single-location simulator's; every other location draws its own (`draw_traits`)."""

    key: str = LOCATION_KEY
    population: int = POPULATION
    delay_days: int = 0  # the epidemic is introduced this many days later than the simulator's usual 40-50
    admissions_reported: float = 1.0  # share of admissions the hospitals report (the target and its breakdowns)
    cases_reported: float = 1.0  # case ascertainment relative to the usual


def draw_traits(index: int, seed: int) -> LocationTraits:
    """Location `index` (0: the single-location simulator, unchanged): population 0.1-1.3 x the default
    (log-uniform), introduction 0-60 days later, 60-100% of admissions and 60-120% of the usual cases reported."""
    if index == 0:
        return LocationTraits(key=f"{LOCATION_KEY}1")
    rng = np.random.default_rng([seed, index, 1])
    return LocationTraits(key=f"{LOCATION_KEY}{index + 1}",
                          population=int(round(POPULATION * np.exp(rng.uniform(np.log(0.1), np.log(1.3))))),
                          delay_days=int(rng.integers(0, 61)), admissions_reported=float(rng.uniform(0.6, 1.0)),
                          cases_reported=float(rng.uniform(0.6, 1.2)))


def simulate_locations(count: int = 1, days: int = 860, seed: int = 0, start: str = "2020-01-01"
                       ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]]:
    """{location key: table} and {location key: oracle} of `count` locations (1: the single simulator, key
    `US_SIM`); the epidemics differ in size, timing and reporting (`draw_traits`), each with its own noise."""
    _check_arguments(days, seed, start)
    if count == 1:
        table, oracle = _simulate(days, np.random.default_rng(seed), start, LocationTraits())
        return {LOCATION_KEY: table}, {LOCATION_KEY: oracle}
    tables, oracles = {}, {}
    for index in range(count):
        traits = draw_traits(index, seed)
        rng = np.random.default_rng(seed if index == 0 else [seed, index])
        tables[traits.key], oracles[traits.key] = _simulate(days, rng, start, traits)
    return tables, oracles


def _simulate(days: int, rng: np.random.Generator, start: str,
              traits: LocationTraits) -> tuple[pd.DataFrame, pd.Series]:
    dates = pd.date_range(start, periods=days, freq="D")
    timeline = draw_timeline(rng)
    timeline = replace(timeline, introduction=timeline.introduction + traits.delay_days)
    weather = weather_columns(dates, rng)
    epidemic = simulate_epidemic(weather["average_temperature_celsius"], timeline, rng, traits.population)
    expected = expected_counts(epidemic)
    expected["hospitalized_patients"] = expected["hospitalized_patients"] * traits.admissions_reported
    expected["confirmed"] = expected["confirmed"] * traits.cases_reported
    weekdays = dates.day_of_week.to_numpy()
    epidemiology = epidemiology_columns(expected, weekdays, timeline, rng)
    hospital = hospital_columns(expected, weekdays, timeline, rng)
    columns = {
        **index_columns(dates, traits.key),
        **with_cumulative(epidemiology),
        **with_cumulative(hospital),
        **with_cumulative(vaccination_columns(epidemic, weekdays, timeline, rng)),
        **age_columns(epidemiology, hospital, timeline, rng),
        **with_cumulative(sex_columns(epidemiology, hospital, rng)),
        **static_columns(days, traits.population),
        **mobility_columns(epidemic, dates, timeline, rng),
        **government_columns(epidemic, timeline, rng),
        **with_gaps(weather, rng),
        **search_trend_columns(expected["symptomatic_per_100k"], dates, timeline, rng),
    }
    oracle = pd.Series(expected_target(expected, weekdays, timeline), index=dates, name=TARGET)
    return pd.DataFrame(columns), oracle


def write_covid_sim(path: str | Path, days: int = 860, seed: int = 0) -> Path:
    """Simulate and write the table as CSV atomically (temp file, then rename); return the path."""
    frame = simulate_covid(days=days, seed=seed)
    try:
        return write_csv_atomic(path, frame)
    except OSError as error:
        raise DistillError(f"cannot write {path}: {error.strerror or error}") from None


def _check_arguments(days: int, seed: int, start: str) -> None:
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < MIN_DAYS:
        raise DistillError(f"days must be an integer >= {MIN_DAYS} (hospital data start by day 70), "
                           f"got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DistillError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        pd.Timestamp(start)
    except (ValueError, TypeError):
        raise DistillError(f"start must be an ISO date like 2020-01-01, got {start!r}") from None



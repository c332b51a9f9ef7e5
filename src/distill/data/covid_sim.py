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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal, stats

from distill.errors import DistillError
from distill.io.atomic import write_csv_atomic

MIN_DAYS = 100  # hospital reporting starts by day 70; keep at least a month of target
POPULATION = 29_000_000
LOCATION_KEY = "US_SIM"
TARGET = "new_hospitalized_patients"

LATENT_DAYS = 3.5
INFECTIOUS_DAYS = 5.0
BASIC_REPRODUCTION_NUMBER = 2.7
IMMUNITY_DAYS = 365.0
VACCINE_EFFICACY = 0.85
BOOSTER_EFFICACY = 0.6
IMPORTED_PER_DAY = 20.0
IMPORT_DAYS = 21
REPORTING_LAG = 7  # policy and the public see incidence a week late
RESPONSE_TRIGGER = 1.0  # infections per 100k per day that start the first response
TIGHTEN_ABOVE = 120.0
RELAX_BELOW = 40.0
FIRST_LOCKDOWN_DAYS = 42
NPI_EFFECT_PER_LEVEL = 0.1
MOBILITY_EFFECT = 0.008  # relative change in beta per point of mobility
MOBILITY_RESPONSE_DAYS = 5.0
GAP_RATE = 0.002

# Weekday reporting profiles, Monday first: weekend dip, Monday catch-up.
CASES_BY_WEEKDAY = (1.35, 1.10, 1.05, 1.00, 1.00, 0.80, 0.70)
DEATHS_BY_WEEKDAY = (1.40, 1.15, 1.05, 1.05, 1.00, 0.75, 0.60)
TESTS_BY_WEEKDAY = (1.15, 1.10, 1.05, 1.05, 1.00, 0.85, 0.80)
ADMISSIONS_BY_WEEKDAY = (1.08, 1.04, 1.02, 1.00, 1.00, 0.93, 0.93)
DOSES_BY_WEEKDAY = (0.90, 1.05, 1.10, 1.10, 1.10, 1.00, 0.75)

AGE_BINS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-")
CONFIRMED_AGE_SHARES = (0.08, 0.13, 0.19, 0.16, 0.14, 0.13, 0.09, 0.05, 0.02, 0.01)
HOSPITALIZED_AGE_SHARES = (0.02, 0.01, 0.05, 0.07, 0.09, 0.14, 0.19, 0.20, 0.15, 0.08)
DECEASED_AGE_SHARES = (0.0005, 0.001, 0.004, 0.01, 0.03, 0.08, 0.17, 0.26, 0.28, 0.16)
MALE_SHARES = {"confirmed": 0.48, "deceased": 0.58, "hospitalized_patients": 0.54}

# name -> (OxCGRT maximum, how strongly it follows the policy level)
CONTAINMENT_INDICES = {
    "school_closing": (3, 1.0),
    "workplace_closing": (3, 0.9),
    "cancel_public_events": (2, 1.2),
    "restrictions_on_gatherings": (4, 1.0),
    "public_transport_closing": (2, 0.6),
    "stay_at_home_requirements": (3, 0.8),
    "restrictions_on_internal_movement": (2, 0.7),
    "international_travel_controls": (4, 1.0),
}
ECONOMIC_INDICES = {"income_support": (2, 1.0), "debt_relief": (2, 0.8)}

# name -> (weight on latent mobility, summer amplitude, weekend shift)
MOBILITY = {
    "retail_and_recreation": (1.0, 4.0, 3.0),
    "grocery_and_pharmacy": (0.45, 2.0, 2.0),
    "parks": (0.3, 25.0, 10.0),
    "transit_stations": (1.0, 3.0, 2.0),
    "workplaces": (0.8, -3.0, 12.0),
    "residential": (-0.25, -1.0, -3.0),
}

COVID_SYMPTOMS = (
    "ageusia anosmia dysgeusia cough fever low_grade_fever chills fatigue headache myalgia "
    "sore_throat shortness_of_breath shallow_breathing nasal_congestion rhinorrhea common_cold "
    "pneumonia viral_pneumonia hypoxemia hypoxia upper_respiratory_tract_infection phlegm sputum "
    "night_sweats diarrhea nausea tachypnea wheeze throat_irritation post_nasal_drip"
).split()
# SEARCH_TRENDS, the full list of ~420 symptoms, closes the module.
WITHHELD_SEARCH_TRENDS = 26  # the rarest symptoms, all NaN as below Google's privacy threshold
SYMPTOM_SCALE = 100.0  # searches grow by gain * log(1 + symptomatic per 100k per day / SYMPTOM_SCALE)


@dataclass(frozen=True)
class Timeline:
    """Day indices on which the epidemic and each data source begin (drawn once per seed)."""

    introduction: int
    case_reporting: int
    hospital_reporting: int
    census_reporting: int
    breakdowns: int
    mobility: int
    search_trends: int
    vaccination: int
    variants: tuple[int, int, int]


@dataclass(frozen=True)
class Epidemic:
    """The latent daily path: infections, policy, mobility and vaccination."""

    infections: np.ndarray  # new infections per day
    policy_level: np.ndarray  # 0..4
    response_day: int  # first day of government response (days if none)
    mobility: np.ndarray  # percent change from baseline, negative = less movement
    first_doses: np.ndarray  # expected persons vaccinated per day
    second_doses: np.ndarray
    boosters: np.ndarray
    severity: np.ndarray  # hospitalization risk of the variant mix relative to the first strain


def simulate_covid(days: int = 860, seed: int = 0, start: str = "2020-01-01") -> pd.DataFrame:
    """A v3-schema location table of `days` rows from `start`, deterministic for a seed."""
    _check_arguments(days, seed, start)
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    timeline = _draw_timeline(rng)
    weather = _weather_columns(dates, rng)
    epidemic = _simulate_epidemic(weather["average_temperature_celsius"], timeline, rng)
    expected = _expected_counts(epidemic)
    weekdays = dates.day_of_week.to_numpy()
    epidemiology = _epidemiology_columns(expected, weekdays, timeline, rng)
    hospital = _hospital_columns(expected, weekdays, timeline, rng)
    columns = {
        **_index_columns(dates),
        **_with_cumulative(epidemiology),
        **_with_cumulative(hospital),
        **_with_cumulative(_vaccination_columns(epidemic, weekdays, timeline, rng)),
        **_age_columns(epidemiology, hospital, timeline, rng),
        **_with_cumulative(_sex_columns(epidemiology, hospital, rng)),
        **_static_columns(days),
        **_mobility_columns(epidemic, dates, timeline, rng),
        **_government_columns(epidemic, timeline, rng),
        **_with_gaps(weather, rng),
        **_search_trend_columns(expected["symptomatic_per_100k"], dates, timeline, rng),
    }
    return pd.DataFrame(columns)


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


def _draw_timeline(rng: np.random.Generator) -> Timeline:
    introduction = int(rng.integers(40, 50))
    return Timeline(
        introduction=introduction,
        case_reporting=introduction - int(rng.integers(5, 15)),
        hospital_reporting=int(rng.integers(60, 71)),
        census_reporting=int(rng.integers(85, 121)),
        breakdowns=int(rng.integers(60, 71)),
        mobility=45,
        search_trends=int(rng.integers(25, 36)),
        vaccination=int(rng.integers(345, 356)),
        variants=(int(rng.integers(370, 400)), int(rng.integers(530, 560)),
                  int(rng.integers(695, 715))),
    )


# ---------------------------------------------------------------- weather

def _weather_columns(dates: pd.DatetimeIndex, rng: np.random.Generator) -> dict[str, np.ndarray]:
    days = len(dates)
    season = np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 200) / 365.25)  # +1 in mid July
    average = 20.0 + 9.0 * season + _ar1(rng, days, phi=0.7, sd=2.5)
    spread = 4.0 + np.abs(rng.normal(0.0, 1.5, days))
    humidity = np.clip(68.0 + 6.0 * season + _ar1(rng, days, phi=0.6, sd=7.0), 15.0, 100.0)
    rains = rng.random(days) < 0.22 + 0.08 * season
    return {
        "average_temperature_celsius": average,
        "minimum_temperature_celsius": average - spread * rng.uniform(0.8, 1.2, days),
        "maximum_temperature_celsius": average + spread * rng.uniform(0.8, 1.2, days),
        "rainfall_mm": np.where(rains, rng.gamma(0.7, 9.0, days), 0.0),
        "dew_point": _dew_point(average, humidity),
        "relative_humidity": humidity,
    }


def _dew_point(celsius: np.ndarray, relative_humidity: np.ndarray) -> np.ndarray:
    """Magnus formula."""
    gamma = np.log(relative_humidity / 100.0) + 17.62 * celsius / (243.12 + celsius)
    return 243.12 * gamma / (17.62 - gamma)


def _ar1(rng: np.random.Generator, shape: int | tuple[int, ...], phi: float, sd: float) -> np.ndarray:
    """AR(1) series along axis 0 with stationary standard deviation `sd`."""
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), shape)
    shocks[0] = rng.normal(0.0, sd, np.shape(shocks[0]))
    return signal.lfilter([1.0], [1.0, -phi], shocks, axis=0)


# ---------------------------------------------------------------- latent epidemic

def _simulate_epidemic(temperature: np.ndarray, timeline: Timeline, rng: np.random.Generator) -> Epidemic:
    days = temperature.size
    first, second, boosters = _vaccine_uptake(days, timeline.vaccination)
    transmissibility, severity, escape_rate = _variant_curves(days, timeline.variants)
    drivers = (
        BASIC_REPRODUCTION_NUMBER / INFECTIOUS_DAYS
        * transmissibility
        * np.exp(-0.015 * (temperature - 20.0))  # colder days transmit a little more
        * np.exp(_ar1(rng, days, phi=0.95, sd=0.06))
    )
    imports = np.zeros(days)
    imports[timeline.introduction:timeline.introduction + IMPORT_DAYS] = IMPORTED_PER_DAY
    infections, level, mobility = np.zeros(days), np.zeros(days), np.zeros(days)
    susceptible, exposed, infectious, immune = float(POPULATION), 0.0, 0.0, 0.0
    current_level, current_mobility, response_day = 0, 0.0, days
    for t in range(days):
        seen = infections[t - REPORTING_LAG] / POPULATION * 1e5 if t >= REPORTING_LAG else 0.0
        if response_day == days and seen > RESPONSE_TRIGGER:
            response_day, current_level = t, 3
        elif t > response_day and (t - response_day) % 7 == 0:
            current_level = _review_policy(current_level, seen, t - response_day)
        mobility_goal = -12.0 * current_level - 20.0 * np.tanh(seen / 100.0)  # rules and fear
        current_mobility += (mobility_goal - current_mobility) / MOBILITY_RESPONSE_DAYS
        beta = (drivers[t] * (1.0 - NPI_EFFECT_PER_LEVEL * current_level)
                * (1.0 + MOBILITY_EFFECT * current_mobility))
        infected = min(susceptible, beta * susceptible * infectious / POPULATION + imports[t])
        immunised = (VACCINE_EFFICACY * first[t] + BOOSTER_EFFICACY * boosters[t]) * susceptible / POPULATION
        vaccinated = min(susceptible - infected, immunised)
        waned = immune * (1.0 / IMMUNITY_DAYS + escape_rate[t])
        onset, recovered = exposed / LATENT_DAYS, infectious / INFECTIOUS_DAYS
        susceptible += waned - infected - vaccinated
        exposed += infected - onset
        infectious += onset - recovered
        immune += recovered + vaccinated - waned
        infections[t], level[t], mobility[t] = infected, current_level, current_mobility
    return Epidemic(infections, level, response_day, mobility, first, second, boosters, severity)


def _review_policy(level: int, seen: float, days_since_response: int) -> int:
    """Weekly review: tighten above a threshold, relax below another (not during the first lockdown);
    pandemic fatigue lowers the ceiling and, later, the floor."""
    ceiling = 4 if days_since_response < 200 else 3 if days_since_response < 450 else 2
    floor = 1 if days_since_response < 500 else 0
    if seen > TIGHTEN_ABOVE:
        return min(level + 1, ceiling)
    if seen < RELAX_BELOW and days_since_response > FIRST_LOCKDOWN_DAYS:
        return max(level - 1, floor)
    return min(level, ceiling)


def _vaccine_uptake(days: int, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected first doses, second doses and boosters per day: logistic coverage curves."""
    t = np.arange(days, dtype=float)
    coverage = 0.55 * _logistic((t - start - 70) / 22) + 0.1 * _logistic((t - start - 320) / 20)
    booster_coverage = 0.3 * _logistic((t - start - 330) / 30)
    first = np.diff(coverage, prepend=0.0) * POPULATION * (t >= start)
    second = 0.88 * np.concatenate([np.zeros(28), first[:-28]])[:days]
    boosters = np.diff(booster_coverage, prepend=0.0) * POPULATION * (t >= start + 250)
    return first, second, boosters


def _variant_curves(
    days: int, takeover_days: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transmissibility, severity and immune-escape rate of the circulating mix (alpha, delta, omicron)."""
    t = np.arange(days, dtype=float)
    transmissibility, severity, escape_rate = np.ones(days), np.ones(days), np.zeros(days)
    for day, more_transmissible, relative_severity, escape in zip(
        takeover_days, (1.5, 1.6, 1.7), (1.1, 1.4, 0.35), (0.0, 0.05, 0.45)
    ):
        share = _logistic((t - day) / 8.0)
        transmissibility *= 1.0 + (more_transmissible - 1.0) * share
        severity *= 1.0 + (relative_severity - 1.0) * share
        escape_rate += escape * np.diff(share, prepend=0.0)
    return transmissibility, severity, escape_rate


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------- observation model

def _expected_counts(epidemic: Epidemic) -> dict[str, np.ndarray]:
    """Expected daily counts before weekday effects and noise."""
    days = epidemic.infections.size
    t = np.arange(days, dtype=float)
    infections = epidemic.infections
    covered = np.cumsum(epidemic.first_doses) / POPULATION
    ascertainment = 0.08 + 0.27 * _logistic((t - epidemic.response_day - 90) / 20)
    hospitalization_risk = 0.03 * epidemic.severity * (1.0 - 0.6 * covered)
    better_care = 1.0 - 0.4 * _logistic((t - 200) / 30)
    fatality_risk = 0.009 * epidemic.severity * (1.0 - 0.7 * covered) * better_care
    confirmed = ascertainment * _delayed(infections, mean=7.0, sd=3.0)
    admissions = _delayed(hospitalization_risk * infections, mean=11.0, sd=4.0)
    intensive_care = 0.22 * _delayed(admissions, mean=2.0, sd=1.5)
    ventilator = 0.55 * _delayed(intensive_care, mean=1.5, sd=1.0)
    since_response = t - epidemic.response_day
    capacity = 0.003 * POPULATION * _logistic((since_response - 60) / 25) * (since_response >= 0)
    return {
        "symptomatic_per_100k": _delayed(infections, mean=5.0, sd=2.0) / POPULATION * 1e5,
        "confirmed": confirmed,
        "tested": capacity + 7.0 * confirmed / (1.0 + confirmed / (capacity + 1.0)),  # saturates at capacity
        "deceased": _delayed(fatality_risk * infections, mean=20.0, sd=7.0),
        "hospitalized_patients": admissions,
        "intensive_care_patients": intensive_care,
        "ventilator_patients": ventilator,
        "current_hospitalized_patients": _in_care(admissions, mean_stay=8.0),
        "current_intensive_care_patients": _in_care(intensive_care, mean_stay=11.0),
        "current_ventilator_patients": _in_care(ventilator, mean_stay=9.0),
    }


def _delayed(series: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Convolve with a discretised gamma delay of the given mean and standard deviation (days)."""
    shape, scale = (mean / sd) ** 2, sd**2 / mean
    edges = stats.gamma.cdf(np.arange(int(mean + 5 * sd) + 2), shape, scale=scale)
    delay = np.diff(edges) / (edges[-1] - edges[0])
    return np.convolve(series, delay)[: series.size]


def _in_care(admissions: np.ndarray, mean_stay: float) -> np.ndarray:
    """Patients in care = admissions convolved with the probability of still being there."""
    still_there = stats.gamma.sf(np.arange(int(6 * mean_stay)), 2.0, scale=mean_stay / 2.0)
    return np.convolve(admissions, still_there)[: admissions.size]


def _reported(
    rng: np.random.Generator,
    expected: np.ndarray,
    weekdays: np.ndarray,
    profile: tuple[float, ...],
    dispersion: float,
) -> np.ndarray:
    """Negative-binomial counts around `expected` times the weekday profile (mean kept at 1)."""
    weights = np.asarray(profile) / np.mean(profile)
    mean = expected * weights[weekdays]
    return rng.negative_binomial(dispersion, dispersion / (dispersion + mean)).astype(float)


def _starting_on(day: int, values: np.ndarray) -> np.ndarray:
    """The series with NaN before `day` (the source had not started reporting)."""
    values = values.astype(float)
    values[:day] = np.nan
    return values


def _with_gaps(columns: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Knock out a few random cells per column, as real feeds miss days."""
    gapped = {}
    for name, values in columns.items():
        values = values.astype(float)
        values[rng.random(values.size) < GAP_RATE] = np.nan
        gapped[name] = values
    return gapped


def _with_cumulative(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns followed by the `cumulative_*` twins of the `new_*` ones (NaN where `new_*` is NaN)."""
    cumulative = {
        "cumulative_" + name.removeprefix("new_"):
            np.where(np.isnan(values), np.nan, np.cumsum(np.nan_to_num(values)))
        for name, values in columns.items()
        if name.startswith("new_")
    }
    return {**columns, **cumulative}


def _epidemiology_columns(
    expected: dict[str, np.ndarray], weekdays: np.ndarray, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    start = timeline.case_reporting
    columns = {
        "new_confirmed": _reported(rng, expected["confirmed"], weekdays, CASES_BY_WEEKDAY, 50.0),
        "new_deceased": _reported(rng, expected["deceased"], weekdays, DEATHS_BY_WEEKDAY, 30.0),
        "new_tested": _reported(rng, expected["tested"], weekdays, TESTS_BY_WEEKDAY, 40.0),
    }
    columns = _with_gaps({name: _starting_on(start, values) for name, values in columns.items()}, rng)
    columns["new_recovered"] = np.full(weekdays.size, np.nan)  # not published for US locations
    return columns


def _hospital_columns(
    expected: dict[str, np.ndarray], weekdays: np.ndarray, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    start, census_start = timeline.hospital_reporting, timeline.census_reporting
    admissions = {
        f"new_{kind}": _starting_on(
            start, _reported(rng, expected[kind], weekdays, ADMISSIONS_BY_WEEKDAY, 80.0)
        )
        for kind in ("hospitalized_patients", "intensive_care_patients", "ventilator_patients")
    }
    census = {  # a head count, not an event count: smooth, with a small relative error
        f"current_{kind}": _starting_on(
            census_start, np.round(expected[f"current_{kind}"] * np.exp(rng.normal(0.0, 0.02, weekdays.size)))
        )
        for kind in ("hospitalized_patients", "intensive_care_patients", "ventilator_patients")
    }
    gapped = _with_gaps({name: values for name, values in admissions.items() if name != TARGET}, rng)
    return {TARGET: admissions[TARGET], **gapped, **_with_gaps(census, rng)}


def _vaccination_columns(
    epidemic: Epidemic, weekdays: np.ndarray, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    people = {
        "new_persons_vaccinated": epidemic.first_doses,
        "new_persons_fully_vaccinated": epidemic.second_doses,
    }
    reported = {name: _reported(rng, expected, weekdays, DOSES_BY_WEEKDAY, 60.0)
                for name, expected in people.items()}
    boosters = _reported(rng, epidemic.boosters, weekdays, DOSES_BY_WEEKDAY, 60.0)
    reported["new_vaccine_doses_administered"] = sum(reported.values()) + boosters
    return _with_gaps({name: _starting_on(timeline.vaccination, v) for name, v in reported.items()}, rng)


def _age_columns(
    epidemiology: dict[str, np.ndarray],
    hospital: dict[str, np.ndarray],
    timeline: Timeline,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Counts by ten-year age bin (Poisson around drifting shares), cumulative twins, and the bin labels."""
    totals = {
        "confirmed": (epidemiology["new_confirmed"], CONFIRMED_AGE_SHARES),
        "deceased": (epidemiology["new_deceased"], DECEASED_AGE_SHARES),
        "hospitalized": (hospital[TARGET], HOSPITALIZED_AGE_SHARES),
    }
    days = hospital[TARGET].size
    columns: dict[str, np.ndarray] = {}
    for kind, (total, base_shares) in totals.items():
        drift = _ar1(rng, (days, len(base_shares)), phi=0.98, sd=0.15)
        shares = np.asarray(base_shares) * np.exp(drift)
        shares /= shares.sum(axis=1, keepdims=True)  # (days, age bins)
        expected = np.nan_to_num(total)[:, None] * shares
        counts = np.where(np.isnan(total)[:, None], np.nan, rng.poisson(expected).astype(float))
        counts[: timeline.breakdowns] = np.nan
        new = {f"new_{kind}_age_{b:02d}": counts[:, b] for b in range(len(AGE_BINS))}
        columns.update(_with_cumulative(new))
    for b, label in enumerate(AGE_BINS):
        labels = np.full(days, label, dtype=object)
        labels[: timeline.breakdowns] = None
        columns[f"age_bin_{b:02d}"] = labels
    return columns


def _sex_columns(
    epidemiology: dict[str, np.ndarray], hospital: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    totals = {"confirmed": epidemiology["new_confirmed"], "deceased": epidemiology["new_deceased"],
              "hospitalized_patients": hospital[TARGET]}
    columns = {}
    for kind, total in totals.items():
        male_share = np.clip(MALE_SHARES[kind] + _ar1(rng, total.size, phi=0.98, sd=0.02), 0.0, 1.0)
        for sex, share in (("male", male_share), ("female", 1.0 - male_share)):
            counts = rng.poisson(np.nan_to_num(total) * share).astype(float)
            columns[f"new_{kind}_{sex}"] = np.where(np.isnan(total), np.nan, counts)
    return columns


# ---------------------------------------------------------------- covariates

def _mobility_columns(
    epidemic: Epidemic, dates: pd.DatetimeIndex, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Google-style percent change from baseline (integers), from the latent mobility."""
    days = len(dates)
    summer = np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 200) / 365.25)
    weekend = (dates.day_of_week.to_numpy() >= 5).astype(float)
    columns = {}
    for name, (weight, summer_amplitude, weekend_shift) in MOBILITY.items():
        values = (weight * epidemic.mobility + summer_amplitude * summer + weekend_shift * weekend
                  + _ar1(rng, days, phi=0.5, sd=2.0))
        columns[f"mobility_{name}"] = _starting_on(timeline.mobility, np.round(values))
    return _with_gaps(columns, rng)


def _government_columns(
    epidemic: Epidemic, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """OxCGRT indices: closures are steps of the policy level; health policies step up over time."""
    days = epidemic.policy_level.size
    level = epidemic.policy_level / 4.0
    since_response = np.arange(days) - epidemic.response_day
    since_vaccination = np.arange(days) - timeline.vaccination
    columns = {}
    for name, (maximum, weight) in {**CONTAINMENT_INDICES, **ECONOMIC_INDICES}.items():
        columns[name] = np.clip(np.round(maximum * weight * level), 0, maximum)
    columns["fiscal_measures"] = np.zeros(days)
    columns["international_support"] = np.zeros(days)
    columns["public_information_campaigns"] = _steps(since_response, (0, 7))
    columns["testing_policy"] = _steps(since_response, (0, 60, 200))
    columns["contact_tracing"] = _steps(since_response, (30, 150))
    columns["emergency_investment_in_healthcare"] = _spending(since_response, 3, rng)
    columns["investment_in_vaccines"] = _spending(since_vaccination + 120, 2, rng)
    columns["facial_coverings"] = (since_response >= 60) * np.clip(np.round(4 * 1.1 * level), 0, 4)
    columns["vaccination_policy"] = np.clip((since_vaccination >= 0) * (1 + since_vaccination // 45), 0, 5)
    containment = [100.0 * columns[name] / maximum for name, (maximum, _) in CONTAINMENT_INDICES.items()]
    information = 100.0 * columns["public_information_campaigns"] / 2.0
    columns["stringency_index"] = np.round(np.mean([*containment, information], axis=0), 2)
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


def _steps(days_since: np.ndarray, step_days: tuple[int, ...]) -> np.ndarray:
    """An index that goes up by one on each of `step_days` (counted from an event)."""
    return np.sum([days_since >= day for day in step_days], axis=0)


def _spending(days_since_start: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Zero except on `count` random days after the start, when a sum in USD is announced."""
    amounts = np.zeros(days_since_start.size)
    candidates = np.flatnonzero(days_since_start >= 0)
    if candidates.size:
        chosen = rng.choice(candidates, size=min(count, candidates.size), replace=False)
        amounts[chosen] = np.round(rng.uniform(1e7, 1e9, chosen.size), -5)
    return amounts


def _search_trend_columns(
    symptomatic_per_100k: np.ndarray, dates: pd.DatetimeIndex, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Relative search interest: seasonal AR(1) noise around a baseline; symptoms also track infections."""
    days, count = len(dates), len(SEARCH_TRENDS)
    baseline = rng.lognormal(1.2, 0.9, count)
    phase = rng.uniform(0.0, 365.25, count)
    amplitude = rng.uniform(0.0, 0.3, count)
    seasonal = 1.0 + amplitude * np.cos(2 * np.pi * (dates.day_of_year.to_numpy()[:, None] - phase) / 365.25)
    noise = _ar1(rng, (days, count), phi=0.97, sd=0.12) + rng.normal(0.0, 0.04, (days, count))
    gain = np.array([rng.uniform(0.5, 3.0) if name in COVID_SYMPTOMS else 0.0 for name in SEARCH_TRENDS])
    covid = np.log1p(symptomatic_per_100k[:, None] / SYMPTOM_SCALE) * gain
    values = np.round(baseline * (seasonal * np.exp(noise) + covid), 2)  # (days, symptoms)
    values[rng.random(values.shape) < GAP_RATE] = np.nan
    values[: timeline.search_trends] = np.nan
    withheld = np.argsort(np.where(gain > 0, np.inf, baseline))[:WITHHELD_SEARCH_TRENDS]
    values[:, withheld] = np.nan
    return {f"search_trends_{name}": values[:, i] for i, name in enumerate(SEARCH_TRENDS)}


# ---------------------------------------------------------------- constant columns

def _index_columns(dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    days = len(dates)
    text = {
        "place_id": "ChIJSimulatedStateUSSIM0",
        "wikidata_id": "Q0000000",
        "datacommons_id": "geoId/99",
        "country_code": "US",
        "country_name": "United States of America",
        "subregion1_code": "SIM",
        "subregion1_name": "Simulated State",
        "iso_3166_1_alpha_2": "US",
        "iso_3166_1_alpha_3": "USA",
    }
    return {
        "location_key": np.full(days, LOCATION_KEY, dtype=object),
        "date": np.asarray(dates.strftime("%Y-%m-%d"), dtype=object),
        **{name: np.full(days, value, dtype=object) for name, value in text.items()},
        "aggregation_level": np.ones(days),
    }


def _static_columns(days: int) -> dict[str, np.ndarray]:
    """Demographics, economy, geography and health: constant for a location."""
    age_groups = ("00_09", "10_19", "20_29", "30_39", "40_49", "50_59", "60_69", "70_79", "80_and_older")
    age_shares = (0.14, 0.14, 0.14, 0.14, 0.13, 0.12, 0.10, 0.06, 0.03)
    constants = {
        "population": POPULATION,
        "population_male": round(0.497 * POPULATION),
        "population_female": POPULATION - round(0.497 * POPULATION),
        **{f"population_age_{group}": round(share * POPULATION)
           for group, share in zip(age_groups, age_shares)},
        "gdp_usd": 1.9e12,
        "gdp_per_capita_usd": round(1.9e12 / POPULATION),
        "openstreetmap_id": 999999,
        "latitude": 31.2,
        "longitude": -99.3,
        "elevation_m": 520.0,
        "area_sq_km": 695662.0,
        "life_expectancy": 78.5,
        "smoking_prevalence": 14.7,
        "diabetes_prevalence": 11.4,
        "hospital_beds_per_1000": 2.3,
    }
    return {name: np.full(days, float(value)) for name, value in constants.items()}


SEARCH_TRENDS = """
abdominal_obesity abdominal_pain acne actinic_keratosis acute_bronchitis adrenal_crisis ageusia
alcoholism allergic_conjunctivitis allergy amblyopia amenorrhea amnesia anal_fissure anaphylaxis
anemia angina_pectoris angioedema angular_cheilitis anosmia anxiety aphasia aphonia apnea
arthralgia arthritis ascites asperger_syndrome asphyxia asthma astigmatism ataxia atheroma
attention_deficit_hyperactivity_disorder auditory_hallucination autoimmune_disease
avoidant_personality_disorder back_pain bacterial_vaginosis balance_disorder beaus_lines
bells_palsy biliary_colic binge_eating bleeding bleeding_on_probing blepharospasm bloating
blood_in_stool blurred_vision blushing boil bone_fracture bone_tumor bowel_obstruction
bradycardia braxton_hicks_contractions breakthrough_bleeding breast_pain bronchitis bruise
bruxism bunion burn burning_chest_pain burning_mouth_syndrome candidiasis canker_sore
cardiac_arrest carpal_tunnel_syndrome cataplexy cataract chancre cheilitis chest_pain chills
chorea chronic_pain cirrhosis cleft_lip_and_cleft_palate clouding_of_consciousness
cluster_headache colitis coma common_cold compulsive_behavior compulsive_hoarding confusion
congenital_heart_defect conjunctivitis constipation convulsion cough crackles cramp crepitus
croup cyanosis dandruff delayed_onset_muscle_soreness dementia dentin_hypersensitivity
depersonalization depression dermatitis desquamation developmental_disability diabetes
diabetic_ketoacidosis diarrhea dizziness dry_eye_syndrome dysautonomia dysgeusia dysmenorrhea
dyspareunia dysphagia dysphoria dystonia dysuria ear_pain eczema edema encephalitis
encephalopathy epidermoid_cyst epilepsy epiphora erectile_dysfunction erythema
erythema_chronicum_migrans esophagitis excessive_daytime_sleepiness eye_pain eye_strain
facial_nerve_paralysis facial_swelling fasciculation fatigue fatty_liver_disease
fecal_incontinence fever fibrillation fibrocystic_breast_changes fibromyalgia flatulence floater
focal_seizure folate_deficiency food_craving food_intolerance frequent_urination
gastroesophageal_reflux_disease gastroparesis generalized_anxiety_disorder genital_wart
gingival_recession gingivitis globus_pharyngis goitre gout grandiosity granuloma guilt hair_loss
halitosis hay_fever headache heart_arrhythmia heart_murmur heartburn hematochezia hematoma
hematuria hemolysis hemoptysis hemorrhoids hepatic_encephalopathy hepatitis hepatotoxicity hiccup
hip_pain hives hot_flash hydrocephalus hypercalcaemia hypercapnia hypercholesterolemia
hyperemesis_gravidarum hyperglycemia hyperhidrosis hyperkalemia hyperlipidemia hypermobility
hyperpigmentation hypersomnia hypertension hyperthermia hyperthyroidism hypertriglyceridemia
hypertrophy hyperventilation hypocalcaemia hypochondriasis hypoglycemia hypogonadism hypokalemia
hypomania hyponatremia hypotension hypothyroidism hypoxemia hypoxia impetigo
implantation_bleeding impulsivity indigestion infection inflammation inflammatory_bowel_disease
ingrown_hair insomnia insulin_resistance intermenstrual_bleeding intracranial_pressure
iron_deficiency irregular_menstruation itch jaundice kidney_failure kidney_stone knee_pain
kyphosis lactose_intolerance laryngitis leg_cramps lesion leukorrhea lightheadedness
low_back_pain low_grade_fever lymphedema major_depressive_disorder malabsorption male_infertility
manic_disorder melasma melena meningitis menorrhagia middle_back_pain migraine milium
mitral_insufficiency mood_disorder mood_swing morning_sickness motion_sickness mouth_ulcer
muscle_atrophy muscle_weakness myalgia mydriasis myocardial_infarction myoclonus nasal_congestion
nasal_polyp nausea neck_mass neck_pain neonatal_jaundice nerve_injury neuralgia neutropenia
night_sweats night_terror nocturnal_enuresis nodule nosebleed nystagmus obesity onychorrhexis
oral_candidiasis orthostatic_hypotension osteopenia osteophyte osteoporosis otitis otitis_externa
otitis_media pain palpitations pancreatitis panic_attack papule paranoia paresthesia
pelvic_inflammatory_disease pericarditis periodontal_disease periorbital_puffiness
peripheral_neuropathy perspiration petechia phlegm photodermatitis photophobia photopsia
pleural_effusion pleurisy pneumonia podalgia polycythemia polydipsia polyneuropathy polyuria
poor_posture post_nasal_drip postural_orthostatic_tachycardia_syndrome prediabetes proteinuria
pruritus_ani psychosis ptosis pulmonary_edema pulmonary_hypertension purpura pus pyelonephritis
radiculopathy rectal_pain rectal_prolapse red_eye renal_colic restless_legs_syndrome rheum
rhinitis rhinorrhea rosacea round_ligament_pain rumination scar sciatica scoliosis
seborrheic_dermatitis self_harm sensitivity_to_sound sexual_dysfunction shallow_breathing
sharp_pain shivering shortness_of_breath shyness sinusitis skin_condition skin_rash skin_tag
skin_ulcer sleep_apnea sleep_deprivation sleep_disorder snoring sore_throat spasticity
splenomegaly sputum stomach_rumble strabismus stretch_marks stridor stroke stuttering
subdural_hematoma suicidal_ideation swelling swollen_feet swollen_lymph_nodes syncope tachycardia
tachypnea telangiectasia tenderness testicular_pain throat_irritation thrombocytopenia
thyroid_nodule tic tinnitus tonsillitis toothache tremor trichoptilosis tumor type_2_diabetes
unconsciousness underweight upper_respiratory_tract_infection urethritis urinary_incontinence
urinary_tract_infection urinary_urgency uterine_contraction vaginal_bleeding vaginal_discharge
vaginitis varicose_veins vasculitis ventricular_fibrillation ventricular_tachycardia vertigo
viral_pneumonia visual_acuity vomiting wart water_retention weakness weight_gain wheeze xeroderma
xerostomia yawn
""".split()  # the symptoms of Google's COVID-19 Search Trends symptoms dataset

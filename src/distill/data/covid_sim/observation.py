"""What the data sources report of the latent epidemic: delayed, noisy counts with weekday profiles,
hospital census, vaccinations, breakdowns by age and sex, mobility, policy indices, search trends, and
the gaps before each source starts (steps 5-8 of `distill.data.covid_sim`)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from distill.data.covid_sim.process import Epidemic, Timeline, ar1, logistic
from distill.data.covid_sim.schema import (
    AGE_BINS,
    CONTAINMENT_INDICES,
    COVID_SYMPTOMS,
    ECONOMIC_INDICES,
    MOBILITY,
    SEARCH_TRENDS,
    TARGET,
    WITHHELD_SEARCH_TRENDS,
)

GAP_RATE = 0.002


# Weekday reporting profiles, Monday first: weekend dip, Monday catch-up.
CASES_BY_WEEKDAY = (1.35, 1.10, 1.05, 1.00, 1.00, 0.80, 0.70)


DEATHS_BY_WEEKDAY = (1.40, 1.15, 1.05, 1.05, 1.00, 0.75, 0.60)


TESTS_BY_WEEKDAY = (1.15, 1.10, 1.05, 1.05, 1.00, 0.85, 0.80)


ADMISSIONS_BY_WEEKDAY = (1.08, 1.04, 1.02, 1.00, 1.00, 0.93, 0.93)


DOSES_BY_WEEKDAY = (0.90, 1.05, 1.10, 1.10, 1.10, 1.00, 0.75)


CONFIRMED_AGE_SHARES = (0.08, 0.13, 0.19, 0.16, 0.14, 0.13, 0.09, 0.05, 0.02, 0.01)


HOSPITALIZED_AGE_SHARES = (0.02, 0.01, 0.05, 0.07, 0.09, 0.14, 0.19, 0.20, 0.15, 0.08)


DECEASED_AGE_SHARES = (0.0005, 0.001, 0.004, 0.01, 0.03, 0.08, 0.17, 0.26, 0.28, 0.16)


MALE_SHARES = {"confirmed": 0.48, "deceased": 0.58, "hospitalized_patients": 0.54}


SYMPTOM_SCALE = 100.0  # searches grow by gain * log(1 + symptomatic per 100k per day / SYMPTOM_SCALE)


def expected_counts(epidemic: Epidemic) -> dict[str, np.ndarray]:
    """Expected daily counts before weekday effects and noise."""
    days = epidemic.infections.size
    t = np.arange(days, dtype=float)
    infections = epidemic.infections
    covered = np.cumsum(epidemic.first_doses) / epidemic.population
    ascertainment = 0.08 + 0.27 * logistic((t - epidemic.response_day - 90) / 20)
    hospitalization_risk = 0.03 * epidemic.severity * (1.0 - 0.6 * covered)
    better_care = 1.0 - 0.4 * logistic((t - 200) / 30)
    fatality_risk = 0.009 * epidemic.severity * (1.0 - 0.7 * covered) * better_care
    confirmed = ascertainment * _delayed(infections, mean=7.0, sd=3.0)
    admissions = _delayed(hospitalization_risk * infections, mean=11.0, sd=4.0)
    intensive_care = 0.22 * _delayed(admissions, mean=2.0, sd=1.5)
    ventilator = 0.55 * _delayed(intensive_care, mean=1.5, sd=1.0)
    since_response = t - epidemic.response_day
    capacity = 0.003 * epidemic.population * logistic((since_response - 60) / 25) * (since_response >= 0)
    return {
        "symptomatic_per_100k": _delayed(infections, mean=5.0, sd=2.0) / epidemic.population * 1e5,
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
    edges = special.gammainc(shape, np.arange(int(mean + 5 * sd) + 2) / scale)  # the gamma CDF
    delay = np.diff(edges) / (edges[-1] - edges[0])
    return np.convolve(series, delay)[: series.size]


def _in_care(admissions: np.ndarray, mean_stay: float) -> np.ndarray:
    """Patients in care = admissions convolved with the probability of still being there."""
    still_there = special.gammaincc(2.0, np.arange(int(6 * mean_stay)) / (mean_stay / 2.0))  # gamma survival
    return np.convolve(admissions, still_there)[: admissions.size]


def expected_target(expected: dict[str, np.ndarray], weekdays: np.ndarray, timeline: Timeline) -> np.ndarray:
    """The mean of the reported target on each day: expected admissions times the weekday profile (NaN before
    hospitals report). The best any forecaster can do is this value: the rest is negative-binomial noise."""
    weights = np.asarray(ADMISSIONS_BY_WEEKDAY) / np.mean(ADMISSIONS_BY_WEEKDAY)
    return _starting_on(timeline.hospital_reporting, expected["hospitalized_patients"] * weights[weekdays])


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


def with_gaps(columns: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Knock out a few random cells per column, as real feeds miss days."""
    gapped = {}
    for name, values in columns.items():
        values = values.astype(float)
        values[rng.random(values.size) < GAP_RATE] = np.nan
        gapped[name] = values
    return gapped


def with_cumulative(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns followed by the `cumulative_*` twins of the `new_*` ones (NaN where `new_*` is NaN)."""
    cumulative = {
        "cumulative_" + name.removeprefix("new_"):
            np.where(np.isnan(values), np.nan, np.cumsum(np.nan_to_num(values)))
        for name, values in columns.items()
        if name.startswith("new_")
    }
    return {**columns, **cumulative}


def epidemiology_columns(
    expected: dict[str, np.ndarray], weekdays: np.ndarray, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    start = timeline.case_reporting
    columns = {
        "new_confirmed": _reported(rng, expected["confirmed"], weekdays, CASES_BY_WEEKDAY, 50.0),
        "new_deceased": _reported(rng, expected["deceased"], weekdays, DEATHS_BY_WEEKDAY, 30.0),
        "new_tested": _reported(rng, expected["tested"], weekdays, TESTS_BY_WEEKDAY, 40.0),
    }
    columns = with_gaps({name: _starting_on(start, values) for name, values in columns.items()}, rng)
    columns["new_recovered"] = np.full(weekdays.size, np.nan)  # not published for US locations
    return columns


def hospital_columns(
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
    gapped = with_gaps({name: values for name, values in admissions.items() if name != TARGET}, rng)
    return {TARGET: admissions[TARGET], **gapped, **with_gaps(census, rng)}


def vaccination_columns(
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
    return with_gaps({name: _starting_on(timeline.vaccination, v) for name, v in reported.items()}, rng)


def age_columns(
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
        drift = ar1(rng, (days, len(base_shares)), phi=0.98, sd=0.15)
        shares = np.asarray(base_shares) * np.exp(drift)
        shares /= shares.sum(axis=1, keepdims=True)  # (days, age bins)
        expected = np.nan_to_num(total)[:, None] * shares
        counts = np.where(np.isnan(total)[:, None], np.nan, rng.poisson(expected).astype(float))
        counts[: timeline.breakdowns] = np.nan
        new = {f"new_{kind}_age_{b:02d}": counts[:, b] for b in range(len(AGE_BINS))}
        columns.update(with_cumulative(new))
    for b, label in enumerate(AGE_BINS):
        labels = np.full(days, label, dtype=object)
        labels[: timeline.breakdowns] = None
        columns[f"age_bin_{b:02d}"] = labels
    return columns


def sex_columns(
    epidemiology: dict[str, np.ndarray], hospital: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    totals = {"confirmed": epidemiology["new_confirmed"], "deceased": epidemiology["new_deceased"],
              "hospitalized_patients": hospital[TARGET]}
    columns = {}
    for kind, total in totals.items():
        male_share = np.clip(MALE_SHARES[kind] + ar1(rng, total.size, phi=0.98, sd=0.02), 0.0, 1.0)
        for sex, share in (("male", male_share), ("female", 1.0 - male_share)):
            counts = rng.poisson(np.nan_to_num(total) * share).astype(float)
            columns[f"new_{kind}_{sex}"] = np.where(np.isnan(total), np.nan, counts)
    return columns


def mobility_columns(
    epidemic: Epidemic, dates: pd.DatetimeIndex, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Google-style percent change from baseline (integers), from the latent mobility."""
    days = len(dates)
    summer = np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 200) / 365.25)
    weekend = (dates.day_of_week.to_numpy() >= 5).astype(float)
    columns = {}
    for name, (weight, summer_amplitude, weekend_shift) in MOBILITY.items():
        values = (weight * epidemic.mobility + summer_amplitude * summer + weekend_shift * weekend
                  + ar1(rng, days, phi=0.5, sd=2.0))
        columns[f"mobility_{name}"] = _starting_on(timeline.mobility, np.round(values))
    return with_gaps(columns, rng)


def government_columns(
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


def search_trend_columns(
    symptomatic_per_100k: np.ndarray, dates: pd.DatetimeIndex, timeline: Timeline, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Relative search interest: seasonal AR(1) noise around a baseline; symptoms also track infections."""
    days, count = len(dates), len(SEARCH_TRENDS)
    baseline = rng.lognormal(1.2, 0.9, count)
    phase = rng.uniform(0.0, 365.25, count)
    amplitude = rng.uniform(0.0, 0.3, count)
    seasonal = 1.0 + amplitude * np.cos(2 * np.pi * (dates.day_of_year.to_numpy()[:, None] - phase) / 365.25)
    noise = ar1(rng, (days, count), phi=0.97, sd=0.12) + rng.normal(0.0, 0.04, (days, count))
    gain = np.array([rng.uniform(0.5, 3.0) if name in COVID_SYMPTOMS else 0.0 for name in SEARCH_TRENDS])
    covid = np.log1p(symptomatic_per_100k[:, None] / SYMPTOM_SCALE) * gain
    values = np.round(baseline * (seasonal * np.exp(noise) + covid), 2)  # (days, symptoms)
    values[rng.random(values.shape) < GAP_RATE] = np.nan
    values[: timeline.search_trends] = np.nan
    withheld = np.argsort(np.where(gain > 0, np.inf, baseline))[:WITHHELD_SEARCH_TRENDS]
    values[:, withheld] = np.nan
    return {f"search_trends_{name}": values[:, i] for i, name in enumerate(SEARCH_TRENDS)}

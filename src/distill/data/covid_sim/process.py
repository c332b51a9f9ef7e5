"""The latent process of the simulated epidemic: weather, policy, mobility, SEIR transmission with waning
immunity, variants and vaccination (steps 1-4 of `distill.data.covid_sim`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from distill.data.covid_sim.schema import POPULATION

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
    population: float = POPULATION


def draw_timeline(rng: np.random.Generator) -> Timeline:
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


def weather_columns(dates: pd.DatetimeIndex, rng: np.random.Generator) -> dict[str, np.ndarray]:
    days = len(dates)
    season = np.cos(2 * np.pi * (dates.day_of_year.to_numpy() - 200) / 365.25)  # +1 in mid July
    average = 20.0 + 9.0 * season + ar1(rng, days, phi=0.7, sd=2.5)
    spread = 4.0 + np.abs(rng.normal(0.0, 1.5, days))
    humidity = np.clip(68.0 + 6.0 * season + ar1(rng, days, phi=0.6, sd=7.0), 15.0, 100.0)
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


def ar1(rng: np.random.Generator, shape: int | tuple[int, ...], phi: float, sd: float) -> np.ndarray:
    """AR(1) series along axis 0 with stationary standard deviation `sd`."""
    shocks = rng.normal(0.0, sd * np.sqrt(1.0 - phi**2), shape)
    shocks[0] = rng.normal(0.0, sd, np.shape(shocks[0]))
    for day in range(1, len(shocks)):  # x[t] = shock[t] + phi x[t-1], as scipy.signal.lfilter computes it (bit
        shocks[day] += phi * shocks[day - 1]  # for bit), without importing scipy.signal (64 MB resident)
    return shocks


def simulate_epidemic(temperature: np.ndarray, timeline: Timeline, rng: np.random.Generator,
                      population: float = POPULATION) -> Epidemic:
    days = temperature.size
    first, second, boosters = _vaccine_uptake(days, timeline.vaccination, population)
    transmissibility, severity, escape_rate = _variant_curves(days, timeline.variants)
    drivers = (
        BASIC_REPRODUCTION_NUMBER / INFECTIOUS_DAYS
        * transmissibility
        * np.exp(-0.015 * (temperature - 20.0))  # colder days transmit a little more
        * np.exp(ar1(rng, days, phi=0.95, sd=0.06))
    )
    imports = np.zeros(days)
    imports[timeline.introduction:timeline.introduction + IMPORT_DAYS] = IMPORTED_PER_DAY
    infections, level, mobility = np.zeros(days), np.zeros(days), np.zeros(days)
    susceptible, exposed, infectious, immune = float(population), 0.0, 0.0, 0.0
    current_level, current_mobility, response_day = 0, 0.0, days
    for t in range(days):
        seen = infections[t - REPORTING_LAG] / population * 1e5 if t >= REPORTING_LAG else 0.0
        if response_day == days and seen > RESPONSE_TRIGGER:
            response_day, current_level = t, 3
        elif t > response_day and (t - response_day) % 7 == 0:
            current_level = _review_policy(current_level, seen, t - response_day)
        mobility_goal = -12.0 * current_level - 20.0 * np.tanh(seen / 100.0)  # rules and fear
        current_mobility += (mobility_goal - current_mobility) / MOBILITY_RESPONSE_DAYS
        beta = (drivers[t] * (1.0 - NPI_EFFECT_PER_LEVEL * current_level)
                * (1.0 + MOBILITY_EFFECT * current_mobility))
        infected = min(susceptible, beta * susceptible * infectious / population + imports[t])
        immunised = (VACCINE_EFFICACY * first[t] + BOOSTER_EFFICACY * boosters[t]) * susceptible / population
        vaccinated = min(susceptible - infected, immunised)
        waned = immune * (1.0 / IMMUNITY_DAYS + escape_rate[t])
        onset, recovered = exposed / LATENT_DAYS, infectious / INFECTIOUS_DAYS
        susceptible += waned - infected - vaccinated
        exposed += infected - onset
        infectious += onset - recovered
        immune += recovered + vaccinated - waned
        infections[t], level[t], mobility[t] = infected, current_level, current_mobility
    return Epidemic(infections, level, response_day, mobility, first, second, boosters, severity, population)


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


def _vaccine_uptake(days: int, start: int, population: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected first doses, second doses and boosters per day: logistic coverage curves."""
    t = np.arange(days, dtype=float)
    coverage = 0.55 * logistic((t - start - 70) / 22) + 0.1 * logistic((t - start - 320) / 20)
    booster_coverage = 0.3 * logistic((t - start - 330) / 30)
    first = np.diff(coverage, prepend=0.0) * population * (t >= start)
    second = 0.88 * np.concatenate([np.zeros(28), first[:-28]])[:days]
    boosters = np.diff(booster_coverage, prepend=0.0) * population * (t >= start + 250)
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
        share = logistic((t - day) / 8.0)
        transmissibility *= 1.0 + (more_transmissible - 1.0) * share
        severity *= 1.0 + (relative_severity - 1.0) * share
        escape_rate += escape * np.diff(share, prepend=0.0)
    return transmissibility, severity, escape_rate


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))

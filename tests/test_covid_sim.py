"""The simulated v3 table: schema, determinism, size after the seed's cleaning, and epidemic signal."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distill.data.covid_sim import TARGET, simulate_covid, write_covid_sim
from distill.errors import DistillError


def clean_like_seed(table: pd.DataFrame) -> pd.DataFrame:
    """The seed study's cleaning, restated here so this test does not depend on the loader."""
    table = table.sort_values("date", kind="stable")
    numeric = table.select_dtypes("number")
    kept = [name for name in numeric.columns
            if not name.startswith("cumulative_") and numeric[name].nunique(dropna=False) > 2]
    return numeric[kept].fillna(0.0).reset_index(drop=True)


def weekly_growth(series: pd.Series) -> pd.Series:
    """Log growth of the 7-day mean over a week: free of weekday effects and of the level."""
    smooth = np.log(series.rolling(7).mean() + 1.0)
    return smooth - smooth.shift(7)


def best_lag(leader: pd.Series, follower: pd.Series, max_lag: int = 20) -> int:
    """Days by which `follower` trails `leader`: the peak of the cross-correlation of their weekly growth."""
    leader, follower = weekly_growth(leader), weekly_growth(follower)
    correlations = [leader.corr(follower.shift(-lag)) for lag in range(max_lag + 1)]
    return int(np.nanargmax(correlations))


@pytest.fixture(scope="module")
def short() -> pd.DataFrame:
    return simulate_covid(days=200, seed=0)


@pytest.fixture(scope="module")
def default() -> pd.DataFrame:
    return simulate_covid()


def test_schema_has_sorted_iso_dates_and_text_index_columns(short: pd.DataFrame) -> None:
    assert len(short) == 200
    assert all(isinstance(day, str) for day in short["date"])
    dates = pd.to_datetime(short["date"], format="%Y-%m-%d")
    assert dates.is_monotonic_increasing and (dates.diff().dropna() == pd.Timedelta(days=1)).all()
    assert short["date"].iloc[0] == "2020-01-01"
    for name in ("location_key", "country_name", "subregion1_name", "wikidata_id"):
        assert not pd.api.types.is_numeric_dtype(short[name])
    assert (short["location_key"] == "US_SIM").all()
    assert short.columns.is_unique


def test_cumulative_columns_are_running_sums_of_their_new_twins(short: pd.DataFrame) -> None:
    cumulative = [name for name in short.columns if name.startswith("cumulative_")]
    assert len(cumulative) > 30
    for name in cumulative:
        new = short["new_" + name.removeprefix("cumulative_")]
        reported = new.notna()
        np.testing.assert_array_equal(short.loc[reported, name], new.fillna(0).cumsum()[reported], err_msg=name)


def test_same_seed_gives_the_same_frame() -> None:
    pd.testing.assert_frame_equal(simulate_covid(days=200, seed=3), simulate_covid(days=200, seed=3))


def test_different_seeds_give_different_epidemics(short: pd.DataFrame) -> None:
    other = simulate_covid(days=200, seed=1)
    assert not short["new_confirmed"].equals(other["new_confirmed"])
    assert not short["search_trends_acne"].equals(other["search_trends_acne"])


def test_default_size_keeps_about_470_columns_after_cleaning(default: pd.DataFrame) -> None:
    cleaned = clean_like_seed(default)
    assert len(default) == 860
    assert 460 <= cleaned.shape[1] <= 480
    assert TARGET in cleaned.columns
    assert not cleaned.isna().any().any()
    assert sum(name.startswith("search_trends_") for name in default.columns) >= 400


def test_hospitalizations_follow_cases_and_symptom_searches(default: pd.DataFrame) -> None:
    assert 2 <= best_lag(default["new_confirmed"], default[TARGET]) <= 8
    assert 2 <= best_lag(default["search_trends_cough"], default[TARGET]) <= 10


def test_reported_cases_dip_at_the_weekend_and_catch_up_on_monday(default: pd.DataFrame) -> None:
    cases = default["new_confirmed"]
    relative = (cases / cases.rolling(7, center=True).mean()).groupby(
        pd.to_datetime(default["date"]).dt.day_of_week).mean()
    assert relative[6] < 0.85  # Sunday
    assert relative[0] > 1.15  # Monday


def test_hospitalizations_begin_after_a_nan_stretch_and_have_no_gaps(short: pd.DataFrame) -> None:
    first = short[TARGET].first_valid_index()
    assert 55 <= first <= 75
    assert short[TARGET].iloc[first:].notna().all()
    assert short["current_hospitalized_patients"].first_valid_index() > first


def test_sources_start_on_their_own_days(default: pd.DataFrame) -> None:
    first = {name: default[name].first_valid_index() for name in
             ("new_confirmed", "mobility_workplaces", "search_trends_cough", "new_persons_vaccinated")}
    assert first["search_trends_cough"] > 0
    assert first["new_confirmed"] < first["new_persons_vaccinated"]
    assert first["new_persons_vaccinated"] > 300
    assert default["stringency_index"].nunique() > 3


def test_write_creates_parents_and_a_readable_csv(tmp_path) -> None:
    target = tmp_path / "deep" / "dir" / "covid.csv"
    assert write_covid_sim(target, days=120, seed=2) == target
    table = pd.read_csv(target)
    pd.testing.assert_frame_equal(table[["new_confirmed", TARGET]],
                                  simulate_covid(days=120, seed=2)[["new_confirmed", TARGET]])
    assert [path.name for path in target.parent.iterdir()] == ["covid.csv"]


def test_failed_write_leaves_the_old_file_untouched(tmp_path, monkeypatch) -> None:
    target = tmp_path / "covid.csv"
    target.write_text("old\n")

    def broken_to_csv(*args, **kwargs) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(DistillError, match="cannot write .*disk full"):
        write_covid_sim(target, days=120)
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["covid.csv"]


@pytest.mark.parametrize("arguments", [{"days": 30}, {"days": 0}, {"days": 200.5}, {"seed": -1},
                                       {"start": "not a date"}])
def test_bad_arguments_raise_one_line_distill_error(arguments: dict) -> None:
    with pytest.raises(DistillError) as error:
        simulate_covid(**arguments)
    assert "\n" not in str(error.value)

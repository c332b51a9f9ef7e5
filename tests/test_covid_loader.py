"""COVID-19 Open Data loader: cleaning rules, real file, cached download, errors."""
import json
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distill.cli import main
from distill.data.covid import clean_covid_table, download_location, load_covid, read_table
from distill.errors import DistillError

REAL_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "covid-19-open-data" / "US_FL.csv"
TARGET = "new_hospitalized_patients"


def small_table() -> pd.DataFrame:
    days = 12
    return pd.DataFrame({
        "date": pd.date_range("2020-03-01", periods=days).strftime("%Y-%m-%d")[::-1],  # unsorted on purpose
        "location_key": ["US_XX"] * days,
        "new_hospitalized_patients": [np.nan, np.nan] + list(range(10)),
        "cumulative_hospitalized_patients": np.arange(days, dtype=float),
        "population": [1000.0] * days,
        "flag": [np.nan, 1.0] * (days // 2),
        "search_trends_cough": np.linspace(0, 1, days),
    })


def test_cleaning_drops_text_constant_and_cumulative_columns_and_records_why():
    clean = clean_covid_table(small_table().assign(promo=[0.0, 1.0] * 6), TARGET)
    assert list(clean.frame.columns) == ["new_hospitalized_patients", "search_trends_cough", "promo"]  # 0/1 kept
    assert clean.dropped["text"] == ["date", "location_key"]
    assert clean.dropped["cumulative"] == ["cumulative_hospitalized_patients"]
    assert sorted(clean.dropped["constant_or_empty"]) == ["flag", "population"]  # flag: one value where present
    seed = clean_covid_table(small_table().assign(promo=[0.0, 1.0] * 6), TARGET, drop_rule="at_most_2_values")
    assert sorted(seed.dropped["at_most_2_distinct_values"]) == ["flag", "population", "promo"]
    assert not clean.frame.isna().any().any()
    assert clean.dates.is_monotonic_increasing


def test_sorting_by_date_moves_the_values_with_their_dates():
    clean = clean_covid_table(small_table(), TARGET)
    # the table was given newest first; after sorting the search trend must run from 1 down to 0
    assert clean.frame["search_trends_cough"].iloc[0] == pytest.approx(1.0)
    assert clean.rows["trailing_trimmed"] == 2  # the two newest rows had no target: trimmed, not zero-filled
    assert clean.frame[TARGET].iloc[-1] == 0.0  # the last observed day (the oldest rows hold 9, 8, ...)


def test_features_are_filled_from_the_past_and_target_gaps_stay_missing():
    table = small_table().iloc[::-1].reset_index(drop=True)  # oldest first
    table.loc[5, "search_trends_cough"] = np.nan
    table.loc[6, TARGET] = np.nan
    clean = clean_covid_table(table, TARGET)
    assert clean.frame["search_trends_cough"].iloc[5] == pytest.approx(table["search_trends_cough"].iloc[4])  # day before
    assert np.isnan(clean.target[6]) and clean.rows["target_missing_inside"] == 1
    seed = clean_covid_table(table, TARGET, missing="zero")
    assert seed.target[6] == 0.0 and len(seed.frame) == 12  # the seed's cleaning: NaN -> 0, nothing trimmed


def test_date_gaps_are_reindexed_and_repeated_dates_refused():
    table = small_table().drop(index=[4, 5])
    clean = clean_covid_table(table, TARGET)
    assert clean.rows["date_gaps_filled"] == 2 and (clean.dates.diff().dropna() == pd.Timedelta(days=1)).all()
    with pytest.raises(DistillError, match="repeats 1 date"):
        clean_covid_table(pd.concat([small_table(), small_table().iloc[[0]]]), TARGET)


def test_constant_short_and_infinite_targets_are_refused():
    table = small_table()
    with pytest.raises(DistillError, match="observed days; need at least 48"):
        clean_covid_table(table, TARGET, min_days=48)
    with pytest.raises(DistillError, match="is constant"):
        clean_covid_table(table.assign(**{TARGET: 3.0}), TARGET)
    with pytest.raises(DistillError, match="infinite values"):
        clean_covid_table(table.assign(search_trends_cough=[np.inf] + [1.0, 2.0] * 5 + [3.0]), TARGET)


@pytest.mark.skipif(not REAL_FILE.is_file(), reason="shared data not present")
def test_real_florida_file_loads_and_cleans():
    clean = load_covid(TARGET, path=REAL_FILE)
    assert clean.frame.shape[0] == 376 and clean.rows["leading_trimmed"] == 28 and clean.rows["trailing_trimmed"] == 1
    assert load_covid(TARGET, path=REAL_FILE, missing="zero").frame.shape[0] == 405
    assert TARGET in clean.frame.columns
    assert 400 < clean.frame.shape[1] < 566
    assert all(name.startswith("cumulative_") for name in clean.dropped["cumulative"])
    assert clean.frame.dtypes.map(lambda d: d == np.float32).all()


@pytest.mark.parametrize("column, message", [("nope", "not in the data"), ("location_key", "not numeric")])
def test_bad_target_column(column, message):
    with pytest.raises(DistillError, match=message):
        clean_covid_table(small_table(), column)


def test_all_nan_target():
    table = small_table().assign(new_hospitalized_patients=np.nan)
    with pytest.raises(DistillError, match="all NaN"):
        clean_covid_table(table, TARGET)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DistillError, match="not found"):
        read_table(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DistillError, match="cannot read"):
        read_table(empty)


def test_download_uses_cache_and_fetches_once(tmp_path):
    source = tmp_path / "mirror" / "US_ZZ.csv"
    source.parent.mkdir()
    small_table().to_csv(source, index=False)
    url = source.parent.as_uri() + "/{key}.csv"
    cached = download_location("US_ZZ", tmp_path / "cache", url=url)
    assert cached.read_text() == source.read_text()
    source.unlink()  # second call must not need the source any more
    assert download_location("US_ZZ", tmp_path / "cache", url=url) == cached


def test_offline_download_is_one_clear_error_and_leaves_nothing(tmp_path):
    url = (tmp_path / "nowhere").as_uri() + "/{key}.csv"
    with pytest.raises(DistillError, match="cannot download"):
        download_location("US_TX", tmp_path / "cache", url=url)
    assert not any((tmp_path / "cache").rglob("*.csv"))
    assert not any((tmp_path / "cache").rglob("*.part"))


def test_a_truncated_cached_download_is_fetched_again(tmp_path):
    """The cut row of a truncated cache used to be read and zero-filled; now size and hash are checked on use."""
    source = tmp_path / "mirror" / "US_ZZ.csv"
    source.parent.mkdir()
    small_table().to_csv(source, index=False)
    url = source.parent.as_uri() + "/{key}.csv"
    cached = download_location("US_ZZ", tmp_path / "cache", url=url)
    record = json.loads(cached.with_name("US_ZZ.csv.json").read_text())
    assert record["bytes"] == source.stat().st_size and len(record["sha256"]) == 64
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) - 7])  # the last row cut short
    assert download_location("US_ZZ", tmp_path / "cache", url=url).read_bytes() == whole


@pytest.mark.parametrize("damage", ["truncate", "edit", "no record"])
def test_a_damaged_cache_offline_is_one_line_naming_the_file(tmp_path, damage):
    source = tmp_path / "mirror" / "US_ZZ.csv"
    source.parent.mkdir()
    small_table().to_csv(source, index=False)
    cached = download_location("US_ZZ", tmp_path / "cache", url=source.parent.as_uri() + "/{key}.csv")
    whole = cached.read_bytes()
    if damage == "truncate":
        cached.write_bytes(whole[:-7])
    elif damage == "edit":
        cached.write_bytes(whole.replace(b"1", b"2", 1))
    else:
        cached.with_name("US_ZZ.csv.json").unlink()
    offline = (tmp_path / "nowhere").as_uri() + "/{key}.csv"
    with pytest.raises(DistillError) as error:
        download_location("US_ZZ", tmp_path / "cache", url=offline)
    message = str(error.value)
    assert f"the cached {cached}" in message and "cannot be downloaded again" in message and "\n" not in message
    assert ("corrupt" in message) == (damage != "no record")


def test_a_damaged_cache_offline_stops_the_command_with_status_2(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache" / "covid19-open-data"
    cache.mkdir(parents=True)
    (cache / "US_ZZ.csv").write_text("date,new_hospitalized_patients\n2020-01-01,1\n2020-01-0")
    (cache / "US_ZZ.csv.json").write_text(json.dumps({"bytes": 999, "sha256": "0" * 64}))

    def offline(url, path, timeout):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr("distill.data.covid.download_atomic", offline)
    status = main(["run", "covid-lstm", "--out", str(tmp_path / "run"), "--set", "data.location=US_ZZ",
                   "--set", f"data.cache_dir={tmp_path / 'cache'}"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("distill: error: the cached ") and "is corrupt" in err[0]

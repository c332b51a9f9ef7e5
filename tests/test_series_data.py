"""Tests for the time-series sources: Mackey-Glass, UCI PM2.5 (both layouts) and generic CSV files."""
import numpy as np
import pandas as pd
import pytest

from distill.data.csv_series import load_csv_series
from distill.data.mackey_glass import mackey_glass, mackey_glass_frame, write_mackey_glass
from distill.data.pm25 import interpolate_short_gaps, load_pm25
from distill.errors import DistillError


def hand_written_mackey_glass(length, tau=17, a=0.1, b=0.2, history=0.9):
    x = [history] * (tau + 1)
    while len(x) < length + tau:
        x.append(x[-1] - a * x[-1] + b * x[-1 - tau] / (1 + x[-1 - tau] ** 10))
    return np.array(x[tau:])


def test_mackey_glass_follows_the_discrete_recurrence():
    assert np.allclose(mackey_glass(300), hand_written_mackey_glass(300), rtol=0, atol=1e-12)
    assert np.allclose(mackey_glass(200, tau=5, a=0.2, b=0.3, history=0.5),
                       hand_written_mackey_glass(200, tau=5, a=0.2, b=0.3, history=0.5), rtol=0, atol=1e-12)


def test_mackey_glass_stays_in_its_band_and_is_chaotic_for_tau_17():
    series = mackey_glass(3000)
    assert series[0] == 0.9 and series.min() > 0 and series.max() < 1.5
    assert series[1000:].std() > 0.1  # keeps oscillating, no fixed point
    nudged = mackey_glass(3000, history=0.9 + 1e-9)
    gap = np.abs(series - nudged)
    assert gap[:50].max() < 1e-7 and gap[2500:].max() > 0.05  # tiny differences grow: chaos


def test_mackey_glass_finer_steps_sample_once_per_time_unit():
    series = mackey_glass(40, step=0.5)
    x, history, delay = [0.9] * 35, 0.9, 34
    for _ in range(39 * 2):
        x.append(x[-1] + 0.5 * (-0.1 * x[-1] + 0.2 * x[-1 - delay] / (1 + x[-1 - delay] ** 10)))
    assert series.shape == (40,) and np.allclose(series, x[delay::2]) and series[0] == history


def test_mackey_glass_noise_is_seeded():
    assert np.array_equal(mackey_glass(100, seed=1, noise=0.01), mackey_glass(100, seed=1, noise=0.01))
    assert not np.array_equal(mackey_glass(100, seed=1, noise=0.01), mackey_glass(100, seed=2, noise=0.01))
    assert np.array_equal(mackey_glass(100, seed=1), mackey_glass(100))


@pytest.mark.parametrize("arguments, message", [
    ({"length": 1}, "length"), ({"length": 10, "tau": 0}, "tau"), ({"length": 10, "step": 0.3}, "step"),
    ({"length": 10, "step": 2}, "step"), ({"length": 10, "a": -0.1}, "a must"), ({"length": 10, "noise": -1}, "noise"),
])
def test_mackey_glass_rejects_bad_parameters(arguments, message):
    with pytest.raises(DistillError, match=message):
        mackey_glass(**arguments)


def test_mackey_glass_frame_and_atomic_write(tmp_path):
    frame = mackey_glass_frame(5, start="2020-03-01")
    assert list(frame.columns) == ["time", "value"] and frame["time"].iloc[-1] == pd.Timestamp("2020-03-05")
    path = write_mackey_glass(tmp_path / "out" / "mg.csv", 5, start="2020-03-01")
    assert [p.name for p in path.parent.iterdir()] == ["mg.csv"]  # no temporary file left behind
    assert np.allclose(pd.read_csv(path)["value"], frame["value"])


def test_interpolation_fills_short_inside_gaps_only():
    series = pd.Series([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan, np.nan, np.nan, np.nan, 9.0, np.nan])
    filled = interpolate_short_gaps(series, max_gap=3)
    assert filled.tolist()[1:5] == [1.0, 2.0, 3.0, 4.0]
    assert filled[[0, 5, 6, 7, 8, 10]].isna().all()


def write_beijing(path):
    rows = [(1, 0, np.nan, "NE"), (2, 1, np.nan, "NE"), (3, 2, 10.0, "NW"), (4, 3, np.nan, "cv"),
            (5, 4, np.nan, "cv"), (6, 5, 40.0, "SE"), (7, 7, 50.0, "SE"),  # hour 6 absent from the file
            (8, 8, np.nan, "NE"), (9, 9, np.nan, "NE"), (10, 10, np.nan, "NE"), (11, 11, np.nan, "NE"),
            (12, 12, 90.0, "NW"), (13, 13, np.nan, "NW")]
    frame = pd.DataFrame([{"No": no, "year": 2010, "month": 1, "day": 2, "hour": hour, "pm2.5": pm, "DEWP": -20 + hour,
                           "TEMP": -5.0, "PRES": 1020.0, "cbwd": wind, "Iws": 1.79, "Is": 0, "Ir": 0}
                          for no, hour, pm, wind in rows])
    frame.to_csv(path, index=False, na_rep="NA")


def test_beijing_layout(tmp_path):
    write_beijing(tmp_path / "beijing.csv")
    frame = load_pm25(tmp_path / "beijing.csv")
    assert list(frame.columns) == ["time", "pm25", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir",
                                   "cbwd_NE", "cbwd_NW", "cbwd_SE", "cbwd_cv"]
    assert frame["time"].iloc[0] == pd.Timestamp("2010-01-02 02:00") and len(frame) == 11  # 02:00 .. 12:00
    assert frame["pm25"].iloc[:6].tolist() == [10.0, 20.0, 30.0, 40.0, 45.0, 50.0]  # gaps of 2 and 1 filled
    assert frame["pm25"].iloc[6:10].isna().all() and frame["pm25"].iloc[10] == 90.0  # gap of 4 kept
    assert frame.loc[4, "DEWP"] == -14.0  # the absent hour's weather is interpolated too
    assert frame.loc[4, ["cbwd_NE", "cbwd_NW", "cbwd_SE", "cbwd_cv"]].sum() == 0
    assert frame.loc[0, "cbwd_NW"] == 1.0 and frame.loc[1, "cbwd_cv"] == 1.0


def write_five_cities(path, us_post=(np.nan, 5.0, 7.0, np.nan)):
    frame = pd.DataFrame({"No": [1, 2, 3, 4], "year": 2013, "month": 3, "day": 1, "hour": [0, 1, 2, 3], "season": 1,
                          "PM_Dongsi": [1.0, 2.0, 3.0, 4.0], "PM_Dongsihuan": np.nan, "PM_Nongzhanguan": np.nan,
                          "PM_US Post": list(us_post), "DEWP": -10.0, "HUMI": 50.0, "PRES": 1010.0,
                          "TEMP": 2.0, "cbwd": ["NE", "SW", "SW", "cv"], "Iws": 3.0, "precipitation": 0.0,
                          "Iprec": 0.0})
    frame.to_csv(path, index=False, na_rep="NA")


def test_five_cities_layout(tmp_path):
    write_five_cities(tmp_path / "beijing_5.csv")
    frame = load_pm25(tmp_path / "beijing_5.csv")
    assert list(frame.columns) == ["time", "pm25", "DEWP", "HUMI", "PRES", "TEMP", "Iws", "precipitation", "Iprec",
                                   "cbwd_SW"]
    assert frame["pm25"].tolist() == [5.0, 7.0]
    assert load_pm25(tmp_path / "beijing_5.csv", target="PM_Dongsi")["pm25"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_pm25_errors(tmp_path):
    write_five_cities(tmp_path / "city.csv")
    with pytest.raises(DistillError, match="'PM_Xuhui' is not in the file; allowed: PM_Dongsi"):
        load_pm25(tmp_path / "city.csv", target="PM_Xuhui")
    with pytest.raises(DistillError, match="not found"):
        load_pm25(tmp_path / "absent.csv")
    write_five_cities(tmp_path / "empty_target.csv", us_post=(np.nan,) * 4)
    with pytest.raises(DistillError, match="has no values"):
        load_pm25(tmp_path / "empty_target.csv")
    pd.DataFrame({"date": ["2020-01-01"], "pm": [1.0]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(DistillError, match="unknown PM2.5 layout"):
        load_pm25(tmp_path / "other.csv")


def write_series(path):
    pd.DataFrame({"date": ["2020-01-03", "2020-01-01", "2020-01-02"], "region": ["a", "b", "c"],
                  "cases": [3, 1, 2], "beds": [30.0, 10.0, 20.0]}).to_csv(path, index=False)


def test_csv_series_sorts_by_time_and_keeps_numeric_features(tmp_path):
    write_series(tmp_path / "s.csv")
    frame = load_csv_series(tmp_path / "s.csv", target="cases", time="date")
    assert list(frame.columns) == ["date", "cases", "beds"] and frame["cases"].tolist() == [1, 2, 3]
    only_beds = load_csv_series(tmp_path / "s.csv", target="cases", features=["beds"])
    assert list(only_beds.columns) == ["beds", "cases"] and only_beds["cases"].tolist() == [3, 1, 2]


@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_csv_series_errors(tmp_path):
    write_series(tmp_path / "s.csv")
    with pytest.raises(DistillError, match="column 'deaths' not found .*available: date, region, cases, beds"):
        load_csv_series(tmp_path / "s.csv", target="deaths")
    with pytest.raises(DistillError, match="target column 'region' is not numeric"):
        load_csv_series(tmp_path / "s.csv", target="region")
    with pytest.raises(DistillError, match="feature column 'region' is not numeric"):
        load_csv_series(tmp_path / "s.csv", target="cases", features=["region"])
    with pytest.raises(DistillError, match="time column 'region' does not hold dates"):
        load_csv_series(tmp_path / "s.csv", target="cases", time="region")
    with pytest.raises(DistillError, match="not found"):
        load_csv_series(tmp_path / "missing.csv", target="cases")

"""Many series, any table: long tables and several files, weekly data, columns judged on training rows, bad input."""
import numpy as np
import pandas as pd
import pytest

from distill.cli import main
from distill.data.covid import clean_covid_table, read_table
from distill.data.panel import build_panel, split_long_table
from distill.errors import DistillError
from distill.protocols import load_config
from distill.protocols.forecast.run import load_panel, run_forecast, series_arrays
from distill.protocols.forecast.windows import panel_window_table

TINY = ["train.epochs=2", "train.batch_size=64", "teacher.options.hidden=4", "report.latency_repeats=3",
        "train.final_fit=false"]


def weekly_sales(shops: int = 3, weeks: int = 120, seed: int = 0) -> pd.DataFrame:
    """Weekly sales of a few shops: a level per shop, a yearly season, a promo flag (0/1) that lifts sales."""
    rng = np.random.default_rng(seed)
    rows = []
    for shop in range(shops):
        dates = pd.date_range("2021-01-03", periods=weeks, freq="7D")
        promo = (rng.random(weeks) < 0.25).astype(float)
        season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(weeks) / 52)
        sales = (200 + 300 * shop) * season * (1 + 0.4 * promo) * rng.lognormal(0, 0.1, weeks)
        rows.append(pd.DataFrame({"shop": f"shop_{shop}", "week": dates.strftime("%Y-%m-%d"), "sales": sales.round(),
                                  "promo": promo, "temperature": 10 + 8 * np.sin(2 * np.pi * np.arange(weeks) / 52)}))
    return pd.concat(rows, ignore_index=True)


def sales_config(path, *extra):
    return load_config("covid-lstm", TINY + [f"data.table={path}", "data.series=shop", "data.date=week",
                                             "data.target=sales", "data.freq=weekly", "data.input_days=8",
                                             "data.horizon=4", "data.level_days=4", "cv.step=1",
                                             "cv.refit_every=9", *extra])


@pytest.fixture(scope="module")
def sales_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sales") / "sales.csv"
    weekly_sales().to_csv(path, index=False)
    return path


def test_a_long_weekly_table_trains_one_global_model_scored_per_series(sales_file):
    run = run_forecast(sales_config(sales_file), show_progress=False)
    results = run.results
    assert results["data"]["series"] == ["shop_0", "shop_1", "shop_2"]
    assert results["data"]["unit"] == "sales per week" and results["data"]["period"] == "week"
    assert "promo" in run.scalings[0]["columns"]  # a 0/1 feature is kept
    per_series = results["models"]["teacher"]["test"]["per_series"]
    assert set(per_series) == {"shop_0", "shop_1", "shop_2"}
    pooled = results["models"]["teacher"]["test"]["mae_original"]["mean"]
    assert min(s["mae_original"]["mean"] for s in per_series.values()) <= pooled
    assert max(s["mae_original"]["mean"] for s in per_series.values()) >= pooled
    origins = results["origins"]
    assert len(origins) >= 2 and all(len(block["origins"]) <= 9 for block in origins)
    assert all(o >= block["trained_on_windows_before"] for block in origins for o in block["origins"])
    for fit, val, test in run.splits:  # every fit's windows end before its first origin
        first_origin = run.table.starts[test].min() + 8
        assert (run.table.starts[np.concatenate([fit, val])] + 12 <= first_origin).all()


def test_no_window_crosses_two_series():
    """Two series of far apart levels: every window's inputs and targets come from one series only."""
    dates = pd.date_range("2021-01-01", periods=60)
    table = pd.concat([pd.DataFrame({"id": name, "date": dates, "y": base + np.arange(60.0)})
                       for name, base in (("low", 0.0), ("high", 10_000.0))])
    panel = build_panel(split_long_table(table, "id", "t"), "y", min_days=10)
    config = load_config("covid-lstm", ["data.target=y", "data.input_days=5", "data.horizon=3", "data.level_days=3"])
    series, _, target_index = series_arrays(panel, config)
    windows = panel_window_table(series, 5, 3)
    assert len(windows.starts) == 2 * (60 - 8 + 1)
    for k, name in enumerate(windows.series_names):
        mine = windows.series == k
        values = np.concatenate([windows.inputs[mine][:, :, target_index], windows.targets[mine]], axis=1)
        assert ((values >= 10_000) == (name == "high")).all()
        assert (np.diff(values, axis=1) == 1).all()  # consecutive days of one series
    assert (np.diff(windows.starts) >= 0).all()  # ordered by time across series


def test_columns_are_judged_on_training_rows_only():
    """A column that only varies after the first origin is dropped; one that varies before is kept."""
    days = 200
    table = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=days), "y": np.arange(days) % 17 + 1.0,
                          "late": np.r_[np.zeros(150), np.arange(50.0)], "flag": np.arange(days) % 2.0})
    rolling = build_panel({"s": table}, "y", test_share=0.3)
    assert rolling.dropped["constant_or_empty"] == ["late"] and "flag" in rolling.columns
    assert rolling.first_origin == 140
    blocked = build_panel({"s": table}, "y")
    assert blocked.dropped["constant_or_empty"] == [] and "late" in blocked.columns


def test_several_v3_files_are_one_series_each(tmp_path):
    from distill.data.covid_sim import simulate_locations
    tables, _ = simulate_locations(2, days=200, seed=3)
    paths = []
    for key, table in tables.items():
        paths.append(tmp_path / f"{key}.csv")
        table.to_csv(paths[-1], index=False)
    config = load_config("covid-lstm", TINY + [f"data.paths=[{paths[0]}, {paths[1]}]", "cv.test_share=0.4",
                                               "cv.refit_every=2"])
    panel, source = load_panel(config)
    assert [part.name for part in panel.parts] == ["US_SIM1", "US_SIM2"] and "2 v3 location files" in source


def write(tmp_path, table: pd.DataFrame, name="t.csv"):
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def long(days=60, names=("a", "b")):
    return pd.concat([pd.DataFrame({"id": n, "date": pd.date_range("2021-01-01", periods=days).strftime("%Y-%m-%d"),
                                    "y": np.arange(days) % 9 + 1.0 + k}) for k, n in enumerate(names)],
                     ignore_index=True)


BASE = ["cv.refit_every=1", "data.target=y", "data.series=id", "data.input_days=5", "data.horizon=3", "data.level_days=3"]


def refused(tmp_path, capsys, table, *overrides, match, text=None):
    path = tmp_path / "bad.csv"
    if text is not None:
        path.write_text(text)
    else:
        table.to_csv(path, index=False)
    out = tmp_path / "out"
    args = ["run", "covid-lstm", "--out", str(out), "--set", f"data.table={path}", *[a for o in (*BASE, *overrides)
                                                                                       for a in ("--set", o)]]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("distill: error:") and match in error[0], error
    assert not out.exists()


def test_bad_long_tables_are_refused_in_one_line(tmp_path, capsys):
    table = long()
    refused(tmp_path, capsys, pd.concat([table, long(10, ("c",))]), match="series 'c'")  # too few days
    refused(tmp_path, capsys, pd.concat([table, table.iloc[[3]]]), match="repeats 1 date")
    refused(tmp_path, capsys, table.assign(date=table["date"].where(table.index != 5, "soon")), match="not dates")
    mixed = table[(table["id"] == "b") | (table.index % 7 == 0) | (table.index > 30)]
    refused(tmp_path, capsys, mixed, match="mixes frequencies")
    refused(tmp_path, capsys, table.assign(id=[f"r{i}" for i in range(len(table))]), match="new value on every row")
    zones = table.assign(date=[f"{d}T00:00:00{'+01:00' if i % 2 else '+02:00'}" for i, d in enumerate(table["date"])])
    refused(tmp_path, capsys, zones, match="mixes time zones")
    refused(tmp_path, capsys, table.assign(y=table["y"] - 5), match="negative")
    refused(tmp_path, capsys, table.assign(y=table.index % 2 == 0), match="True/False")
    refused(tmp_path, capsys, table.assign(x=np.where(table.index == 3, 1e300, 1.0)), match="overflow")
    refused(tmp_path, capsys, table, "data.date=day", match="date column 'day'")
    csv = table.to_csv(index=False)
    refused(tmp_path, capsys, None, text=csv.replace("id,date,y", "id,date,y,y", 1).replace("\n", ",1\n")[:-3]
            + "\n", match="repeated column name")
    refused(tmp_path, capsys, None, text=csv[:-4], match="cut mid-row")


def test_location_with_path_is_refused(tmp_path, capsys):
    path = write(tmp_path, long())
    assert main(["run", "covid-lstm", "--out", str(tmp_path / "o"), "--set", f"data.path={path}",
                 "--set", "data.location=US_TX"]) == 2
    assert "data.path and data.location are both set" in capsys.readouterr().err


def test_a_negative_target_is_forecast_unclipped_with_minmax(tmp_path):
    days = 160
    table = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=days),
                          "y": np.sin(np.arange(days) / 5) * 5 - 5})
    assert clean_covid_table(table, "y").target.min() < -9.9  # cleaning keeps it
    config = load_config("covid-lstm", TINY + [f"data.table={write(tmp_path, table)}", "data.target=y",
                                               "data.scaling=minmax", "data.input_days=5", "data.horizon=3",
                                               "cv.refit_every=3"])
    run = run_forecast(config, show_progress=False)
    assert all(forecast["ridge"].min() < -1 and forecast["teacher"].min() < 0 for forecast in run.forecasts)


def test_duplicate_columns_cut_rows_and_overflow_in_the_table_reader(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("date,y,y\n2021-01-01,1,2\n2021-01-02,3,4\n")
    with pytest.raises(DistillError, match="repeated column name"):
        read_table(path)
    path.write_text("date,y,x\n2021-01-01,1,2\n2021-01-02,3\n")
    with pytest.raises(DistillError, match="cut mid-row"):
        read_table(path)

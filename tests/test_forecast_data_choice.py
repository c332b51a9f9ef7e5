"""data.input_days auto / a list and data.features auto: chosen on the first fit's inner validation, never on test
windows, recorded in results.json, the report and config.yaml; bad input refused in one line."""
import json

import numpy as np
import pytest
import yaml

from distill.cli import main
from distill.protocols import load_config
from distill.protocols.forecast.data_choice import choose_data, rank_columns
from distill.protocols.forecast.run import LEADING, load_panel, select_features

CHOICE = ("data.input_days=[7,14]", "data.features=auto")


def _sets(*overrides: str) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


def _inputs(config):
    """The panel's series in the pool's columns (the target first), the columns and which lead."""
    panel, _ = load_panel(config)
    columns = list(select_features(panel.parts[0].clean.frame, "all", config.data.target).columns)
    columns = [config.data.target] + [column for column in columns if column != config.data.target]
    series = [(part.name, part.clean.frame[columns].to_numpy(dtype=np.float64), part.clean.target.copy(),
               part.offset, part.oracle) for part in panel.parts]
    return series, columns, [bool(LEADING.match(c)) for c in columns], panel.first_origin


def _altered(series, rows: slice, factor: float):
    """The series with every column and the target multiplied by `factor` on `rows`."""
    changed = []
    for name, values, target, offset, oracle in series:
        values, target = values.copy(), target.copy()
        values[rows], target[rows] = values[rows] * factor, target[rows] * factor
        changed.append((name, values, target, offset, oracle))
    return changed


def test_the_choice_never_reads_a_test_window(tiny_forecast):
    config = load_config("covid-lstm", [*tiny_forecast, *CHOICE])
    series, columns, leading, first_origin = _inputs(config)
    _, record = choose_data(config, series, columns, leading, first_origin)
    # every day from the first forecast origin on (all test windows' horizons) tripled: the choice is the same
    _, after_test = choose_data(config, _altered(series, slice(first_origin, None), 3.0), columns, leading,
                                first_origin)
    assert after_test == record
    # the same change on the days before it (the first fit's inner validation) does change the scores
    _, before = choose_data(config, _altered(series, slice(first_origin - 30, first_origin), 3.0), columns, leading,
                            first_origin)
    assert [c["validation_mae"] for c in before["candidates"]] != [c["validation_mae"] for c in record["candidates"]]
    best = min(record["candidates"], key=lambda c: c["validation_mae"])
    assert (record["input_days"], record["features"]) == (best["input_days"], best["features"])
    assert {c["input_days"] for c in record["candidates"]} == {7, 14}
    assert record["columns"][0] == config.data.target and len(record["columns"]) == record["features"] + 1


def test_columns_rank_the_target_then_leading_indicators_by_correlation():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 3))  # (windows, horizon)
    strong, weak = y.mean(axis=1)[:, None], rng.normal(size=(50, 1))
    x = np.stack([rng.normal(size=(50, 1)), weak, strong, strong, np.ones((50, 1))], axis=2)  # (windows, 1, 5)
    assert rank_columns(x, y, [False, True, True, False, False]) == [0, 2, 1, 3, 4]


def test_run_records_the_choice_and_trains_on_it(tmp_path, tiny_forecast):
    out = tmp_path / "run"
    assert main(["run", "covid-lstm", "--out", str(out), "--no-progress",
                 *_sets(*tiny_forecast, *CHOICE, "cv.folds=3")]) == 0
    results = json.loads((out / "results.json").read_text())
    choice = results["data_choice"]
    assert choice["input_days"] in (7, 14) and results["data"]["features"] == choice["features"] + 1
    assert len(choice["candidates"]) == 2 * len({c["features"] for c in choice["candidates"]})
    saved = yaml.safe_load((out / "config.yaml").read_text())["data"]
    assert saved["input_days"] == choice["input_days"] and saved["features"] == choice["columns"]
    shapes = {tuple(entry["input_shape"]) for entry in results["checkpoints"].values()}
    assert shapes == {(choice["input_days"], choice["features"] + 1)}  # one input shape for every fold
    assert "data chosen on the first fit's inner validation" in (out / "report.md").read_text()


@pytest.mark.parametrize("overrides, message", [
    (("data.input_days=[]",), "empty list of candidate input days"),
    (("data.input_days=auto", "cv.inner_validation=0"), "cv.inner_validation is 0"),
    (("data.features=auto", "cv.split=blocked", "students.student_kd.teacher_labelled.recent=false"),
     "needs cv.split: rolling"),
    (("data.input_days=[7,200]",), "need at least 428 (2 x (input_days + horizon))"),
    (("data.input_days=[3,7]",), "data.level_days (7) must be at most data.input_days (3)"),
])
def test_bad_choices_are_one_line_status_2_and_nothing_written(tmp_path, capsys, tiny_forecast, overrides, message):
    out = tmp_path / "run"
    status = main(["run", "covid-lstm", "--out", str(out), "--no-progress", *_sets(*tiny_forecast, *overrides)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("distill: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()

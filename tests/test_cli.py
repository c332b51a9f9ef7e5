"""The `distill` command: recipes, run (outputs on disk), data, and one-line errors with exit status 2."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from distill.cli import main
from distill.config import read_recipe, recipe_names, recipe_time, recipe_time_text
from distill.protocols import load_config

REAL_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "covid-19-open-data" / "US_FL.csv"
TINY = ["--set", "data.sim_days=200", "--set", "train.epochs=1", "--set", "cv.folds=2", "--set",
        "teacher.options.hidden=4", "--set", "teacher.options.layers=1", "--set", "report.latency_repeats=3",
        "--set", "train.batch_size=64", "--no-progress"]


def run_cli(capsys, *args):
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_recipes_lists_names_with_time_and_one_line_each(capsys):
    status, out, _ = run_cli(capsys, "recipes")
    assert status == 0
    listing, note = out.strip().split("\n\n")
    lines = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in listing.splitlines()}
    assert set(lines) == set(recipe_names())
    for name, text in lines.items():
        shown = recipe_time_text(recipe_time(name), short=True)
        assert text.startswith(shown) and 0 < len(text[len(shown):].strip()) <= 100
    assert "measured by benchmarks/bench_recipe_times.py" in note


def test_recipes_name_shows_description_time_and_config(capsys, monkeypatch):
    import distill.cli
    status, out, _ = run_cli(capsys, "recipes", "hinton-digits")
    assert status == 0
    description = " ".join(read_recipe("hinton-digits")["description"].split())
    assert description in out and "expected time: " + recipe_time_text(recipe_time("hinton-digits")) in out
    assert out.rstrip().endswith((Path(distill.__file__).parent / "recipes/hinton-digits.yaml").read_text().rstrip())
    measured = {"seconds": 250.4, "cpu_seconds": 240.0, "cores": 2, "load_average": 1.24, "measured": "2026-12-02"}
    monkeypatch.setattr(distill.cli, "recipe_time", lambda name: measured)
    out = run_cli(capsys, "recipes", "covid-lstm")[1]
    assert ("expected time: ~4 min (250 s wall time, 240 s CPU, on 2 cores with load average 1.2 from other work "
            "when it started, measured 2026-12-02; the estimate is the wall time)") in out
    monkeypatch.setattr(distill.cli, "recipe_time", lambda name: {**measured, "seconds": 2000.0, "load_average": 13.7})
    out = run_cli(capsys, "recipes", "covid-lstm")[1]
    assert "expected time: ~4 min (2000 s wall time" in out and "the estimate is the CPU time: other work" in out
    monkeypatch.setattr(distill.cli, "recipe_time", lambda name: None)
    assert "expected time: not measured yet" in run_cli(capsys, "recipes", "covid-lstm")[1]
    status, _, err = run_cli(capsys, "recipes", "hinton-digit")
    assert status == 2 and "unknown recipe 'hinton-digit'" in err


def test_recorded_times_are_measurements_of_built_in_recipes():
    """times.json holds what benchmarks/bench_recipe_times.py measured: every field of a measurement, per recipe."""
    import distill
    times_file = Path(distill.__file__).parent / "recipes" / "times.json"
    if not times_file.is_file():
        pytest.skip("no recipe has been measured")
    times = json.loads(times_file.read_text())
    assert set(times) <= set(recipe_names())
    for entry in times.values():
        assert {"seconds", "cpu_seconds", "cores", "load_average", "measured", "torch"} <= set(entry)
        assert entry["seconds"] > 0 and entry["cpu_seconds"] > 0


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "benchmarks" / "recipes").glob("*.yaml")),
                         ids=lambda path: path.name)
def test_the_benchmarks_earlier_recipes_still_load(path):
    """benchmarks/bench_profile_forecast.py --against runs an earlier default beside today's: it must still load."""
    assert load_config(str(path)).protocol == "forecast"


def test_one_line_keeps_the_first_clause_and_cuts_at_a_word():
    from distill.cli import one_line
    assert one_line("Soft targets on digits: a CNN teacher; more") == "Soft targets on digits"
    assert one_line("As in Lopez-Paz et al. 2016. Then more.") == "As in Lopez-Paz et al. 2016"
    assert one_line("word " * 40, limit=20) == "word word word..."


def test_run_writes_report_figures_config_and_results(tmp_path, capsys):
    out_dir = tmp_path / "run"
    status, out, _ = run_cli(capsys, "run", "covid-lstm", "--out", str(out_dir), *TINY)
    assert status == 0
    assert "student_kd" in out and "persistence" in out
    assert (f"models: {out_dir / 'models'} (serve one: distill predict {out_dir} --data FILE.csv, or distill export "
            f"{out_dir} student_kd)") in out
    for name in ("results.json", "config.yaml", "report.md", "curves.png", "forecasts.png", "cost.png",
                 "models/student_kd-fold2.pt", "models/scaling-fold1.json"):
        assert (out_dir / name).stat().st_size > 0, name
    results = json.loads((out_dir / "results.json").read_text())
    assert results["models"]["teacher"]["test"]["mse"]["sem"] is not None
    assert "train:\n  epochs: 1" in (out_dir / "config.yaml").read_text()
    report = (out_dir / "report.md").read_text()
    assert "![Learning curves](curves.png)" in report and "Rolling origin: " in report  # covid-lstm: rolling origin


@pytest.mark.skipif(not REAL_FILE.is_file(), reason="shared data not present")
def test_run_on_the_real_florida_file(tmp_path, capsys):
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--out", str(tmp_path), *TINY,
                             "--set", f"data.path={REAL_FILE}")
    assert status == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["data"]["days"] == 376 and str(REAL_FILE) in results["data"]["source"]  # 405 rows, 29 without target
    assert results["data"]["rows"]["leading_trimmed"] + results["data"]["rows"]["trailing_trimmed"] == 29


def test_data_command_writes_the_simulator(tmp_path, capsys):
    target = tmp_path / "sim.csv"
    status, out, _ = run_cli(capsys, "data", "covid-sim", "--out", str(target), "--days", "120", "--seed", "3")
    assert status == 0 and "wrote" in out
    assert len(pd.read_csv(target)) == 120


def test_data_has_a_sub_command_per_generator_each_with_its_own_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["data", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and all(name in out for name in ("covid-sim", "mackey-glass", "pm25-like"))
    helps = {}
    for generator in ("covid-sim", "mackey-glass", "pm25-like"):
        with pytest.raises(SystemExit):
            main(["data", generator, "--help"])
        helps[generator] = capsys.readouterr().out
    assert "--days" in helps["covid-sim"] and "--tau" not in helps["covid-sim"]
    assert "--tau" in helps["mackey-glass"] and "--days" not in helps["mackey-glass"]
    assert "--hours" in helps["pm25-like"] and "--tau" not in helps["pm25-like"] and "synthetic" in helps["pm25-like"]


def test_pm25_pi_runs_out_of_the_box_on_a_synthetic_file_labelled_synthetic(tmp_path, capsys):
    from distill.data.pm25 import load_pm25
    uci = ["No", "year", "month", "day", "hour", "pm2.5", "DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is", "Ir"]  # its order
    data = tmp_path / "pm25.csv"
    status, out, _ = run_cli(capsys, "data", "pm25-like", "--out", str(data), "--hours", "500", "--seed", "1")
    assert status == 0 and f"distill run pm25-pi --set data.path={data}" in out
    raw = pd.read_csv(data)
    assert list(raw.columns) == [*uci, "synthetic"] and len(raw) == 500
    assert raw["pm2.5"].isna().sum() >= 30  # gaps, as the real file has: one of 30 hours, and short ones
    frame = load_pm25(data)
    assert frame["pm25"].std() > 0 and "not measured" in frame.attrs["synthetic"]
    status, out, err = run_cli(capsys, "run", "pm25-pi", "--out", str(tmp_path / "run"), "--no-progress",
                               "--set", f"data.path={data}", "--set", "cv.folds=2", "--set", "train.epochs=3",
                               "--set", "target.horizons=[3]", "--set", "target.train_sizes=[60]",
                               "--set", "report.latency_repeats=3")
    assert status == 0, err
    assert "(SYNTHETIC: distill data pm25-like (seed 1); not measured air quality" in \
        (tmp_path / "run" / "report.md").read_text()
    assert "predict" not in out.strip().splitlines()[-1]


def test_the_suggested_command_serves_a_run_that_predict_cannot(tmp_path, capsys):
    """A lupi-synthetic run's last line names `distill export` (which works), not `distill predict` (refused)."""
    run = tmp_path / "lupi"
    status, out, err = run_cli(capsys, "run", "lupi-synthetic", "--out", str(run), "--no-progress",
                               "--set", "synthetic.repetitions=2", "--set", "synthetic.epochs=5",
                               "--set", "synthetic.train_size=20", "--set", "synthetic.test_size=20")
    assert status == 0, err
    last = out.strip().splitlines()[-1]
    assert "predict" not in last
    suggested = last.split("export one: distill ")[1].rstrip(")").split()
    status, out, err = run_cli(capsys, *suggested, "--out", str(tmp_path / "model.pt2"))
    assert status == 0 and (tmp_path / "model.pt2").stat().st_size > 0, err
    assert run_cli(capsys, "predict", str(run), "--data", "x.csv")[0] == 2  # what the line no longer suggests


def write_csv(path: Path, rows: int, target_values=None) -> Path:
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=rows).strftime("%Y-%m-%d"),
                          "new_hospitalized_patients": target_values if target_values is not None else range(rows),
                          "x": [i * 0.5 for i in range(rows)]})
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case, message", [
    (["run", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
    (["run", "covid-lstm", "--set", "data.bogus=1"], "unknown config key 'data.bogus'"),
    (["run", "covid-lstm", "--set", "train.epoch=3"], "unknown config key 'train.epoch'; did you mean 'train.epochs'?"),
    (["run", "covid-lstm", "--set", "epochs=3"], "unknown config key 'epochs'; did you mean 'train.epochs'?"),
    (["run", "hinton-digits", "--set", "students.student_kd.temprature=3"],
     "did you mean 'students.student_kd.temperature'?"),
    (["run", "covid-lstm", "--set", "train.epochs=-3"], "bad value for train.epochs"),
    (["run", "covid-lstm", "--set", "cv.split=random"], "bad value for cv.split"),
    (["run", "covid-lstm", "--set", "noequals"], "--set expects key=value"),
    (["run", "covid-lstm", "--set", "data.path=/no/such/file.csv"], "data file not found"),
    (["run", "covid-lstm", "--set", "data.target=nope", "--set", "data.sim_days=120"], "target column 'nope'"),
    (["run", "missing.yaml"], "config file not found"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, case, message):
    status, out, err = run_cli(capsys, *case, "--out", str(tmp_path / "out"))
    assert status == 2
    assert err.startswith("distill: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_data_problems_in_a_user_file(tmp_path, capsys):
    short = write_csv(tmp_path / "short.csv", 20)
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--set", f"data.path={short}")
    assert status == 2 and "has 20 observed days; need at least 48 (2 x (input_days + horizon))" in err
    few = write_csv(tmp_path / "few.csv", 60)
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--set", f"data.path={few}")
    assert status == 2 and "too few" in err
    constant = write_csv(tmp_path / "constant.csv", 60, [5.0] * 60)
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--set", f"data.path={constant}")
    assert status == 2 and "is constant (5)" in err
    repeated = tmp_path / "repeated.csv"
    pd.concat([pd.read_csv(few), pd.read_csv(few).iloc[[3]]]).to_csv(repeated, index=False)
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--set", f"data.path={repeated}")
    assert status == 2 and "repeats 1 date(s), first 2020-01-04" in err
    nan_target = write_csv(tmp_path / "nan.csv", 60, [float("nan")] * 60)
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--set", f"data.path={nan_target}")
    assert status == 2 and "all NaN" in err
    text_target = write_csv(tmp_path / "text.csv", 60, ["many"] * 60)
    status, _, err = run_cli(capsys, "run", "covid-lstm", "--set", f"data.path={text_target}")
    assert status == 2 and "not numeric" in err


def test_a_failed_run_keeps_the_earlier_results(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert run_cli(capsys, "run", "covid-lstm", "--out", str(out_dir), *TINY)[0] == 0
    before = (out_dir / "results.json").read_text()
    status, _, _ = run_cli(capsys, "run", "covid-lstm", "--out", str(out_dir), *TINY, "--set", "data.target=nope")
    assert status == 2
    assert (out_dir / "results.json").read_text() == before


def test_console_script_exit_status():
    done = subprocess.run([sys.executable, "-m", "distill.cli", "run", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == "distill: error: unknown recipe 'nope'; built-in: " + \
        ", ".join(sorted(p.stem for p in (Path(__file__).parents[1] / "src/distill/recipes").glob("*.yaml")))


def test_library_run_matches_the_command(tmp_path):
    import distill

    results = distill.run("covid-lstm", out=tmp_path, overrides=[item for item in TINY if item.startswith(
        ("data.", "train.", "cv.", "teacher.", "report."))], show_progress=False)
    assert results == json.loads((tmp_path / "results.json").read_text())
    assert results["folds"] == 2


@pytest.mark.parametrize("recipe", recipe_names())
def test_every_recipe_trains_on_one_thread_unless_asked(recipe):
    """torch's one-thread-per-core default collapsed under contention (14.6 min against 51 s on 2 busy cores)."""
    config = load_config(recipe)
    if hasattr(config, "train"):
        assert config.train.threads == 1
        assert load_config(recipe, ["train.threads=null"]).train.threads is None

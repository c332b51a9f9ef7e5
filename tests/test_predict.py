"""Serving a run: `distill predict` and `distill.load` forecast new tables (and classify images) as the run trained."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import distill
from distill.cli import main
from distill.data.covid_sim import simulate_covid
from distill.errors import DistillError
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.classification import run as classification
from distill.protocols.forecast.run import forecast_output, run_forecast

TINY = ["data.sim_days=200", "train.epochs=2", "cv.folds=2", "teacher.options.hidden=4", "report.latency_repeats=3",
        "train.final_fit=false"]


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("forecast")
    config = load_config("covid-lstm", TINY)
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, out_dir)
    return run, out_dir


@pytest.fixture(scope="module")
def new_table(tmp_path_factory):
    """A later stretch of another simulated epidemic, its last two rows without the target (a late report)."""
    table = simulate_covid(days=260, seed=3).iloc[200:].reset_index(drop=True)
    table.loc[len(table) - 2:, ["new_hospitalized_patients", "new_confirmed"]] = np.nan
    path = tmp_path_factory.mktemp("data") / "new.csv"
    table.to_csv(path, index=False)
    return table, path


def test_a_fold_model_forecasts_the_test_windows_as_the_run_scored_them(forecast_run):
    run, out_dir = forecast_run
    for fold in (1, 2):
        predictor = distill.load(out_dir, "student_kd", fold=fold)
        test = run.splits[fold - 1][2]
        forecasts = predictor.predict(torch.from_numpy(run.table.inputs[test]))
        assert np.allclose(forecasts.numpy(), run.forecasts[fold - 1]["student_kd"], rtol=1e-4, atol=1e-3)


def test_the_forecast_starts_after_the_last_day_with_the_target(forecast_run, new_table):
    _, out_dir = forecast_run
    table, _ = new_table
    forecast = distill.load(out_dir, "student_kd", fold=1).predict(table)
    last = pd.Timestamp(table["date"].iloc[-3])
    assert list(forecast.columns) == ["date", "new_hospitalized_patients"]
    assert list(forecast["date"]) == list(pd.date_range(last + pd.Timedelta(days=1), periods=14))
    assert (forecast["new_hospitalized_patients"] >= 0).all()


def test_predict_command_writes_the_csv_and_conformal_intervals(forecast_run, new_table, tmp_path, capsys):
    _, out_dir = forecast_run
    out = tmp_path / "forecast.csv"
    assert main(["predict", str(out_dir), "--data", str(new_table[1]), "--fold", "2", "--intervals",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "fold 2 model" in err and "conformal intervals" in err
    written = pd.read_csv(out)
    bounds = ["lower_95", "lower_80", "lower_50", "upper_50", "upper_80", "upper_95"]
    assert list(written.columns) == ["date", "new_hospitalized_patients", *sorted(bounds, key=lambda b: (b[-2:], b))]
    assert len(written) == 14 and (np.diff(written[bounds].to_numpy(), axis=1) >= 0).all()
    expected = distill.load(out_dir, "student_kd", fold=2).predict(new_table[0])
    assert np.allclose(written["new_hospitalized_patients"], expected["new_hospitalized_patients"], rtol=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns=["new_deceased"]), "lacks 1 of the .* columns the model reads, first 'new_deceased'"),
    (lambda t: t.iloc[:8], "has 8 days up to its last day with 'new_hospitalized_patients'; the model reads the last 10"),
    (lambda t: t.assign(new_hospitalized_patients=t["new_hospitalized_patients"].where(t.index != 52)),
     "missing on .* one of the last 10 days"),
])
def test_bad_tables_are_one_line_and_exit_2(forecast_run, new_table, tmp_path, capsys, change, message):
    _, out_dir = forecast_run
    path = tmp_path / "bad.csv"
    change(new_table[0]).to_csv(path, index=False)
    assert main(["predict", str(out_dir), "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and err.count("\n") == 1
    with pytest.raises(DistillError, match=message):
        distill.load(out_dir).predict(change(new_table[0]))


def test_a_model_or_fold_the_run_did_not_save_is_one_line(forecast_run, new_table, capsys):
    _, out_dir = forecast_run
    for args in (["--model", "persistence"], ["--fold", "final"], ["--fold", "3"]):
        assert main(["predict", str(out_dir), "--data", str(new_table[1]), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("distill: error: ") and err.count("\n") == 1


def test_classification_runs_classify_image_files(tmp_path, capsys):
    config = load_config("hinton-digits", ["data.subset=120", "cv.folds=2", "train.epochs=1",
                                           "report.latency_repeats=3"])
    run = classification.run_classification(config, show_progress=False)
    write_run(classification.classification_output(run, config), config, tmp_path / "run")
    images = run.images.x[:3]  # (3, 1, 8, 8) in [0, 1]
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(images):
        Image.fromarray((image[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"{index}.png")
    out = tmp_path / "classes.csv"
    assert main(["predict", str(tmp_path / "run"), "--data", str(folder), "--fold", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["file", "predicted", *[f"p_{c}" for c in range(10)]]
    assert np.allclose(table.filter(like="p_").sum(axis=1), 1, atol=1e-4)
    probabilities = distill.load(tmp_path / "run", "student_kd", fold=1).predict(images)
    assert list(table["predicted"]) == probabilities.argmax(1).tolist()


def test_the_seed_protocol_minmax_scaling_is_served_too(tmp_path):
    config = load_config("covid-seed", ["data.sim_days=200", "train.epochs=1", "cv.folds=2", "train.batch_size=32",
                                        "report.latency_repeats=3", "data.target_mode=change"])
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, tmp_path)
    test = run.splits[1][2]
    forecasts = distill.load(tmp_path, "student_kd", fold=2).predict(torch.from_numpy(run.table.inputs[test]))
    assert np.allclose(forecasts.numpy(), run.forecasts[1]["student_kd"], rtol=1e-4, atol=1e-2)
    assert distill.load(tmp_path).fold == "final"

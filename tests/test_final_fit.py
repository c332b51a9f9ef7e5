"""train.final_fit: after cross-validation the teacher and students are fitted on every window and saved to serve."""
import json
import statistics

import numpy as np
import pytest
import torch

import distill
from distill.config import ModelSpec, TrainSection
from distill.core.final_fit import final_epochs
from distill.io.checkpoints import load_model
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.forecast.run import forecast_output, run_forecast

EPOCHS = "train.epochs=3"  # over the tiny config's 2: the final fit needs best epochs to take the median of


@pytest.fixture(scope="module")
def final_run(tmp_path_factory, tiny_forecast):
    out_dir = tmp_path_factory.mktemp("final")
    config = load_config("covid-lstm", [*tiny_forecast, EPOCHS])
    assert config.train.final_fit  # on by default in the forecasting recipes
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, out_dir)
    return run, out_dir


def test_final_epochs_are_the_median_best_epoch_of_the_folds_or_the_configured_epochs():
    train = TrainSection(epochs=60)
    assert final_epochs([{"best_epoch": 10}, {"best_epoch": 31}, {"best_epoch": 20}], ModelSpec(model="mlp"), train) == 20
    assert final_epochs([{"train": []}, {"train": []}], ModelSpec(model="mlp"), train) == 60
    assert final_epochs([{"train": []}], ModelSpec(model="mlp", epochs=7), train) == 7


def test_final_models_are_saved_with_their_scaling_and_reload(final_run):
    run, out_dir = final_run
    results = json.loads((out_dir / "results.json").read_text())
    assert results["final_fit"]["windows"] == len(run.table.starts)
    assert results["final_fit"]["scaling"] == "models/scaling-final.json"
    for name in ("teacher", "student_kd", "student_scratch"):
        assert results["checkpoints"][name]["final"] == f"models/{name}-final.pt"
        best = [curve["best_epoch"] for curve in results["curves"][name]]
        assert results["final_fit"]["epochs"][name] == max(1, round(statistics.median(best)))
        x = torch.randn(4, 10, results["data"]["features"])
        assert torch.equal(load_model(out_dir, name)(x), run.final.models[name](x))  # the default is the final one
    scaling = json.loads((out_dir / "models/scaling-final.json").read_text())
    assert scaling["columns"] == json.loads((out_dir / "models/scaling-fold1.json").read_text())["columns"]
    assert "cross-validated scores estimate their error" in (out_dir / "report.md").read_text()


def test_the_final_student_learns_from_the_final_teacher(final_run):
    run, _ = final_run
    fold_teacher = run.protocol.models[0]["teacher"]
    x = torch.randn(8, *run.protocol.input_shapes()["teacher"])
    assert not torch.equal(run.final.models["teacher"](x), fold_teacher(x))
    assert set(run.final.models) == {"teacher", "student_kd", "student_scratch"}


def test_predict_uses_the_final_model_unless_a_fold_is_named(final_run, tmp_path):
    run, out_dir = final_run
    windows = torch.from_numpy(run.table.inputs[-3:])
    final, fold = distill.load(out_dir), distill.load(out_dir, fold=1)
    assert final.fold == "final" and "final model" in final.describe()
    assert not np.allclose(final.predict(windows).numpy(), fold.predict(windows).numpy())


def test_final_fit_off_saves_no_final_model(tmp_path, tiny_forecast):
    config = load_config("covid-lstm", [*tiny_forecast, "train.final_fit=false", "train.epochs=1"])
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert "final_fit" not in results and "final" not in results["checkpoints"]["teacher"]
    assert not (tmp_path / "models/scaling-final.json").exists()

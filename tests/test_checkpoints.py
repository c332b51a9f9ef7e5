"""Saved models: every fold's trained teacher and students reload into the same function."""
import json

import numpy as np
import pytest
import torch

from distill.cli import main
from distill.config import read_recipe, validate_config
from distill.core.train import predict
from distill.errors import DistillError
from distill.io.checkpoints import export_model, load_model
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.classification import run as classification
from distill.protocols.classification.config import ClassificationConfig
from distill.protocols.classification.run import classification_output
from distill.protocols.forecast.run import forecast_output, load_panel, run_forecast, select_features


def assert_reloads(protocol, out_dir, names):
    for fold_index, fold_models in enumerate(protocol.models):
        fold = protocol.folds[fold_index]
        for name in names:
            x_test = fold.inputs(name)[1]
            loaded = load_model(out_dir, name, fold=fold_index + 1)
            assert not loaded.training
            assert torch.equal(predict(loaded, x_test), predict(fold_models[name], x_test)), (name, fold_index)


@pytest.fixture(scope="module")
def forecast_run(tiny_forecast_run):
    """The session's tiny covid-lstm run (tests/conftest.py), read only here."""
    return tiny_forecast_run


def test_forecast_models_reload_per_fold(forecast_run):
    run, out_dir = forecast_run
    entry = run.results["checkpoints"]["student_kd"]
    assert entry["model"] == "compact_mlp" and entry["outputs"] == 14
    assert entry["input_shape"] == [10, run.results["data"]["features"]]
    assert entry["files"] == ["models/student_kd-fold1.pt", "models/student_kd-fold2.pt"]
    assert (out_dir / "report.md").read_text().count("models/<name>-fold<k>.pt") == 1
    assert_reloads(run.protocol, out_dir, ["teacher", "student_kd", "student_scratch"])


def test_the_saved_scaling_turns_the_raw_table_into_the_models_inputs(forecast_run, tiny_forecast):
    run, out_dir = forecast_run
    config = load_config("covid-lstm", tiny_forecast)
    frame = select_features(load_panel(config)[0].parts[0].clean.frame, config.data.features, config.data.target)
    assert run.results["scalings"] == ["models/scaling-fold1.json", "models/scaling-fold2.json"]
    raw = frame.to_numpy(dtype=np.float64)
    for fold_index, fold in enumerate(run.protocol.folds):
        scaling = json.loads((out_dir / run.results["scalings"][fold_index]).read_text())
        assert scaling["columns"] == list(frame.columns) and scaling["scaling"] == "window_log"
        start = int(run.table.starts[int(fold.test_rows[0])])
        logged = np.sign(raw[start:start + 10]) * np.log1p(np.abs(raw[start:start + 10]))  # (days, features)
        relative = logged - logged[-scaling["level_days"]:].mean(axis=0)
        window = (relative - np.array(scaling["input_mean"])) / np.array(scaling["input_std"])
        window[:, [scaling["columns"].index(name) for name in scaling["zeroed"]]] = 0.0
        window = np.clip(window, -scaling["clip"], scaling["clip"])
        assert torch.allclose(torch.from_numpy(window.astype(np.float32)), fold.x_test[0], rtol=1e-4, atol=1e-4)


def test_each_fold_keeps_its_own_teacher_even_when_one_labels_every_fold(tmp_path, tiny_forecast):
    config = load_config("covid-lstm", [*tiny_forecast, "teacher.select=best"])
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, tmp_path)
    first, second = (load_model(tmp_path, "teacher", fold) for fold in (1, 2))
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_nst_student_with_a_learned_adapter_saves_only_its_own_parameters(tmp_path):
    raw = read_recipe("hinton-digits")
    raw = {**raw, "data": {**raw["data"], "subset": 120}, "cv": {"folds": 2}, "train": {**raw["train"], "epochs": 1},
           "report": {"latency_repeats": 3}}
    raw["students"] = {"student_nst": {**raw["students"]["student_kd"], "model": "cnn",
                                       "options": {"channels": [8], "hidden": 16}, "method": "nst",
                                       "features": {"student": "features.0", "teacher": "features.1", "adapter": True}}}
    config = validate_config(raw, ClassificationConfig)
    run = classification.run_classification(config, show_progress=False)
    write_run(classification_output(run, config), config, tmp_path)
    trained = run.protocol.models[0]["student_nst"]
    assert any(name.startswith("distill_adapter") for name in trained.state_dict())
    assert_reloads(run.protocol, tmp_path, ["teacher", "student_nst"])
    program = torch.export.load(export_model(tmp_path, "student_nst", fold=2)).module()
    images = torch.randn(4, 1, 8, 8)
    assert torch.allclose(program(images), load_model(tmp_path, "student_nst", fold=2)(images), atol=1e-5)


def test_loading_errors_name_the_problem(forecast_run, tmp_path):
    _, out_dir = forecast_run
    with pytest.raises(DistillError, match="no results.json"):
        load_model(tmp_path, "student_kd")
    with pytest.raises(DistillError, match="saved no model 'persistence'; saved: teacher, student_kd"):
        load_model(out_dir, "persistence")
    with pytest.raises(DistillError, match=r"fold must be in 1..2 or .final., got 3"):
        load_model(out_dir, "teacher", fold=3)


def test_export_command_writes_a_program_that_runs_without_distill(forecast_run, capsys, tmp_path):
    run, out_dir = forecast_run
    target = tmp_path / "student.pt2"
    assert main(["export", str(out_dir), "student_kd", "--fold", "2", "--out", str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    windows = torch.randn(5, *run.results["checkpoints"]["student_kd"]["input_shape"])
    program = torch.export.load(target).module()
    assert torch.allclose(program(windows), load_model(out_dir, "student_kd", fold=2)(windows), atol=1e-5)


def test_export_errors_are_one_line_and_write_nothing(forecast_run, capsys, tmp_path):
    _, out_dir = forecast_run
    target = tmp_path / "never.pt2"
    assert main(["export", str(out_dir), "persistence", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and err.count("\n") == 1 and not target.exists()


def test_privileged_models_reload_per_cell_and_fold(tmp_path):
    from distill.io.run_writer import RunOutput, TrainedModels
    from distill.protocols.privileged.run import run_privileged

    config = load_config("mackey-glass-pi", ["data.mackey_glass.length=300", "target.horizons=[3]",
                                             "target.train_sizes=[40]", "cv.folds=2", "train.epochs=3",
                                             "report.latency_repeats=3"])
    trained: list[TrainedModels] = []
    results = run_privileged(config, show_progress=False, trained=trained)
    write_run(RunOutput(results, lambda folder: {}, lambda figures: "", [], trained=trained), config, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())["checkpoints"]
    assert set(saved) == {"h3-n40/teacher", "h3-n40/student_distilled", "h3-n40/student_alone"}
    assert saved["h3-n40/teacher"]["files"] == ["models/h3-n40/teacher-fold1.pt", "models/h3-n40/teacher-fold2.pt"]
    for fold in (1, 2):
        for name in ("teacher", "student_distilled"):
            loaded, original = load_model(tmp_path, f"h3-n40/{name}", fold), trained[0].models[fold - 1][name]
            x = torch.randn(5, *trained[0].input_shapes[name])
            assert torch.equal(predict(loaded, x), predict(original, x))

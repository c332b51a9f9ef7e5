"""distill export --format onnx / --quantize int8: checked in onnxruntime, accuracy change measured on the CV folds."""
import json
import shutil

import numpy as np
import pytest
import torch

from distill.cli import main
from distill.errors import DistillError
from distill.io import export_formats
from distill.io.checkpoints import load_model
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.classification import run as classification
from distill.protocols.serve import export_run_model


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory, tiny_forecast_run):
    """A copy of the session's tiny covid-lstm run folder (tests/conftest.py): the exports write into it."""
    out_dir = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(tiny_forecast_run[1], out_dir)
    return out_dir


def test_onnx_export_runs_in_onnxruntime_with_any_batch_size(forecast_run, capsys):
    ort = pytest.importorskip("onnxruntime")
    assert main(["export", str(forecast_run), "teacher", "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "max abs difference" in out and "teacher-final.onnx" in out
    session = ort.InferenceSession(str(forecast_run / "models/teacher-final.onnx"))
    x = torch.randn(5, 10, json.loads((forecast_run / "results.json").read_text())["data"]["features"])
    expected = load_model(forecast_run, "teacher")(x).detach().numpy()
    assert np.abs(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0] - expected).max() < 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["onnx", "torch"])
def test_int8_writes_the_accuracy_change_on_the_cv_test_folds_beside_the_file(forecast_run, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    lines = export_run_model(forecast_run, "student_kd", fmt=fmt, quantize="int8")
    target = forecast_run / f"models/student_kd-final-int8.{'onnx' if fmt == 'onnx' else 'pt'}"
    assert target.is_file() and "int8 on the 2 CV test folds" in lines[-1]
    accuracy = json.loads((target.parent / (target.name + ".accuracy.json")).read_text())
    results = json.loads((forecast_run / "results.json").read_text())
    assert np.allclose(accuracy["float"]["per_fold"], results["models"]["student_kd"]["test"]["mae_original"]["per_fold"],
                       rtol=1e-4)
    change = np.array(accuracy["int8"]["per_fold"]) - np.array(accuracy["float"]["per_fold"])
    assert np.allclose(accuracy["change"]["per_fold"], change)
    if fmt == "torch":
        x = torch.randn(3, 10, results["data"]["features"])
        quantized, original = torch.jit.load(str(target))(x), load_model(forecast_run, "student_kd")(x)
        assert torch.allclose(quantized, original, atol=0.1) and not torch.equal(quantized, original)


def test_without_onnx_the_error_says_how_to_install_it(forecast_run, monkeypatch, capsys):
    monkeypatch.setattr(export_formats, "find_spec", lambda name: None)
    with pytest.raises(DistillError, match=r"pip install -e '.\[serve\]'"):
        export_formats.require_onnx()
    assert main(["export", str(forecast_run), "student_kd", "--format", "onnx", "--out", "never.onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ONNX export needs") and err.count("\n") == 1


def test_int8_on_a_classification_run_scores_accuracy(tmp_path):
    config = load_config("hinton-digits", ["data.subset=120", "cv.folds=2", "train.epochs=1",
                                           "report.latency_repeats=3"])
    run = classification.run_classification(config, show_progress=False)
    write_run(classification.classification_output(run, config), config, tmp_path)
    export_run_model(tmp_path, "student_kd", fold=1, fmt="torch", quantize="int8")
    accuracy = json.loads((tmp_path / "models/student_kd-fold1-int8.pt.accuracy.json").read_text())
    assert accuracy["metric"].startswith("accuracy") and accuracy["folds"] == 2
    expected = json.loads((tmp_path / "results.json").read_text())["models"]["student_kd"]["test"]["accuracy"]
    assert np.allclose(accuracy["float"]["per_fold"], expected["per_fold"])

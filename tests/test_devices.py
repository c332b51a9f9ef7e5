"""Devices: `train.device` in every recipe, resolve_device's one-line errors, profiling and export on a device.

Tests run on the CPU; the parametrised ones run again on CUDA where a GPU is present and are skipped otherwise.
"""
import json

import pytest
import torch

from distill.cli import main
from distill.config import read_recipe, validate_config
from distill.core.profiling import profile_model
from distill.core.task import FoldData
from distill.data.windows import WindowSet
from distill.devices import resolve_device, to_device
from distill.errors import DistillError
from distill.io.checkpoints import export_model
from distill.models import build_model
from distill.protocols.classification import run as classification
from distill.protocols.classification.config import ClassificationConfig

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(DistillError, match="unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")


@NO_CUDA
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu(name):
    with pytest.raises(DistillError, match="no CUDA GPU"):
        resolve_device(name)


@NO_CUDA
def test_cli_cuda_without_a_gpu_is_one_line_and_exit_2(tmp_path, capsys):
    status = main(["run", "hinton-digits", "--out", str(tmp_path / "run"), "--set", "train.device=cuda"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("distill: error: device 'cuda'")
    assert not (tmp_path / "run").exists()


def test_bad_device_value_names_the_key(tmp_path, capsys):
    status = main(["run", "hinton-digits", "--out", str(tmp_path), "--set", "train.device=gpu"])
    assert status == 2 and "train.device" in capsys.readouterr().err


def test_fold_moves_every_tensor_and_window_set():
    windows = WindowSet(torch.arange(10.0).reshape(5, 2), torch.tensor([0, 2]))
    fold = FoldData(0, windows, torch.zeros(2), torch.ones(3, 2), torch.ones(3), torch.arange(3))
    moved = fold.to(torch.device("cpu"))
    assert isinstance(moved.x_train, WindowSet) and torch.equal(moved.x_train[torch.tensor([1])], windows[torch.tensor([1])])
    assert to_device({"a": (torch.zeros(1), 3)}, torch.device("cpu"))["a"][1] == 3


@pytest.mark.parametrize("device", DEVICES)
def test_profile_on_a_device(device):
    profile = profile_model(build_model("mlp", (4,), 2, hidden=[8]), (4,), repeats=3, device=device)
    assert profile["params"] == 4 * 8 + 8 + 8 * 2 + 2 and profile["latency_ms"]["batch1"] > 0


@pytest.mark.parametrize("device", DEVICES)
def test_a_recipe_on_a_device(device, tmp_path):
    raw = read_recipe("hinton-digits")
    raw.update(data={"subset": 100}, cv={"folds": 2}, report={"latency_repeats": 3},
               train={**raw.get("train", {}), "epochs": 1, "device": device})
    config = validate_config(raw, ClassificationConfig)
    classification.execute(config, tmp_path, show_progress=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert 0 <= results["models"]["student_kd"]["test"]["accuracy"]["mean"] <= 1
    state = torch.load(tmp_path / "models" / "student_kd-fold1.pt", weights_only=True)
    assert all(value.device.type == "cpu" for value in state.values())  # saved models load anywhere
    program = torch.export.load(export_model(tmp_path, "student_kd", 1, tmp_path / "s.pt2", device=device))
    assert program.module()(torch.zeros(2, 1, 8, 8, device=device)).shape == (2, 10)

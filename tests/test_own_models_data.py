"""Your own models and data in configs: @distill.register_model, `package.module:Factory`, data.source tensors."""

import numpy as np
import pytest
import torch
from torch import nn

import distill
from distill.data.tensors import load_tensors, tensor_dataset
from distill.errors import DistillError
from distill.models import MODELS, build_model

TINY = ["cv.folds=2", "train.epochs=1", "report.latency_repeats=3"]


def blobs(n=60, dim=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    return torch.randn(3, dim, generator=generator)[y] * 3 + torch.randn(n, dim, generator=generator), y


@pytest.fixture
def registered():
    @distill.register_model("test_linear")
    class Linear(nn.Module):
        def __init__(self, input_shape, output_dim, bias: bool = True):
            super().__init__()
            self.layer = nn.Linear(int(np.prod(input_shape)), output_dim, bias=bias)

        def forward(self, x):
            return self.layer(x.flatten(1))
    yield Linear
    del MODELS["test_linear"]


def test_register_model_is_public(registered):
    assert isinstance(build_model("test_linear", (2, 3), 4, bias=False), registered)
    with pytest.raises(DistillError, match="registered twice"):
        distill.register_model("test_linear")(registered)
    with pytest.raises(DistillError, match="has no option 'width'"):
        build_model("test_linear", (2,), 1, width=3)


def test_model_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "import math\n"
        "from torch import nn\n"
        "def wide(input_shape, output_dim, width=8):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),\n"
        "                         nn.Linear(width, output_dim))\n"
        "NOT_A_MODEL = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(build_model("my_models:wide", (1, 8, 8), 10, width=4), nn.Sequential)
    with pytest.raises(DistillError, match="cannot import 'no_such_module'"):
        build_model("no_such_module:Net", (2,), 1)
    with pytest.raises(DistillError, match="no callable 'NOT_A_MODEL'"):
        build_model("my_models:NOT_A_MODEL", (2,), 1)
    results = distill.run("hinton-digits", out=tmp_path / "run", show_progress=False, overrides=[
        *TINY, "data.subset=100", "students.student_kd.model=my_models:wide", "students.student_kd.options={width: 4}"])
    assert results["models"]["student_kd"]["params"] > 0
    with pytest.raises(DistillError, match="import path 'my_models:wide'"):  # a run folder's code is not run unasked
        distill.checkpoints.load_model(tmp_path / "run", "student_kd", fold=1)
    reloaded = distill.checkpoints.load_model(tmp_path / "run", "student_kd", fold=1, trust_imports=True)
    assert isinstance(reloaded, nn.Sequential)


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_tensors_source(tmp_path, suffix, registered):
    x, y = blobs()
    path = tmp_path / f"mine{suffix}"
    if suffix == ".pt":
        torch.save({"x": x, "y": y}, path)
    else:
        np.savez(path, x=x.numpy(), y=y.numpy())
    overrides = [*TINY, "data.source=tensors", f"data.path={path}", "teacher.model=test_linear", "teacher.options={}",
                 "teacher.jitter=0", "students.student_kd.model=mlp", "students.student_kd.options={hidden: [8]}",
                 "students.student_scratch.model=mlp", "students.student_scratch.options={hidden: [8]}"]
    results = distill.run("hinton-digits", out=tmp_path / "run", overrides=overrides, show_progress=False)
    assert results["data"]["images"] == 60 and results["classes"] == ["0", "1", "2"]
    assert results["models"]["teacher"]["test"]["accuracy"]["mean"] > 0.5


def test_privileged_tensors_go_to_the_teacher_only(tmp_path, registered):
    x, y = blobs()
    privileged = nn.functional.one_hot(y, 3).float()
    torch.save({"x": x, "y": y, "privileged": privileged}, tmp_path / "mine.pt")
    overrides = [*TINY, "data.source=tensors", f"data.path={tmp_path / 'mine.pt'}", "teacher.model=test_linear",
                 "teacher.options={}", "teacher.jitter=0", "teacher.lr=0.1", "train.epochs=5",
                 "students.student_kd.model=test_linear", "students.student_kd.options={}",
                 "students.student_scratch.model=test_linear", "students.student_scratch.options={}"]
    results = distill.run("hinton-digits", out=tmp_path / "run", overrides=overrides, show_progress=False)
    shapes = {name: entry["input_shape"] for name, entry in results["checkpoints"].items()}
    assert shapes["teacher"] == [3] and shapes["student_kd"] == [5]
    assert results["models"]["teacher"]["test"]["accuracy"]["mean"] == 1.0  # it reads the labels


def test_tensor_file_errors(tmp_path):
    torch.save({"x": torch.zeros(3, 2)}, tmp_path / "no_y.pt")
    with pytest.raises(DistillError, match="keys x and y"):
        load_tensors(tmp_path / "no_y.pt")
    torch.save({"x": torch.zeros(3, 2), "y": torch.zeros(2)}, tmp_path / "short.pt")
    with pytest.raises(DistillError, match="y has 2 rows, x has 3"):
        load_tensors(tmp_path / "short.pt")
    torch.save({"x": torch.zeros(3, 2), "y": torch.tensor([0.5, 1, 2])}, tmp_path / "float.pt")
    with pytest.raises(DistillError, match="class indices"):
        load_tensors(tmp_path / "float.pt")
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(DistillError, match="cannot read"):
        load_tensors(tmp_path / "bad.npz")
    with pytest.raises(DistillError, match="not found"):
        load_tensors(tmp_path / "missing.pt")
    torch.save({"x": torch.zeros(3, 2), "y": torch.tensor([0.5, 1, 2])}, tmp_path / "regression.pt")
    assert tensor_dataset(tmp_path / "regression.pt", task="regression")[0][1].dtype == torch.float32

"""The Distiller with every method of the catalogue: a few steps on tiny tensors lower the loss and log the
method's named terms; the relational methods and DIST teach a regression student; bad inputs (a tap that does
not exist, a model without the features a method needs, CRD's bank, outputs of other sizes) fail in one line
before the first step."""
import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from distill.core import distiller as distiller_module
from distill.core.distiller import Distiller
from distill.errors import DistillError

torch.set_num_threads(1)


def cnn(width: int, outputs: int = 3) -> nn.Sequential:
    """Conv (tap "1": maps) -> flatten -> Linear (tap "3": vectors) -> ReLU -> Linear."""
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(width * 16, 16),
                         nn.ReLU(), nn.Linear(16, outputs))


def data(regression: bool = False) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(48, 1, 4, 4, generator=generator)
    y = x.flatten(1)[:, :2] if regression else (x.mean((1, 2, 3)) > 0).long() + (x[:, 0, 0, 0] > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=16)


MAPS, VECTORS = {"student": "1", "teacher": "1"}, {"student": "3", "teacher": "3"}
CASES = {"at": MAPS, "pkt": VECTORS, "rkd": VECTORS, "sp": MAPS, "vid": MAPS, "crd": VECTORS, "dkd": None,
         "dist": None}


@pytest.mark.parametrize("method", list(CASES))
def test_every_catalogue_method_trains_and_names_its_terms(method):
    torch.manual_seed(0)
    settings = {"negatives": 8, "dim": 8} if method == "crd" else None
    distiller = Distiller(cnn(8), cnn(4), method, taps=CASES[method], settings=settings, lr=1e-2)
    history = distiller.fit(data(), epochs=6)
    assert history["loss"][-1] < history["loss"][0]
    assert {"loss_hard", f"loss_{method}"} <= set(history)
    if method in ("vid", "crd"):
        assert distiller.part_ is not None and any(p.grad is not None for p in distiller.part_.parameters())


def test_dkd_warm_up_follows_the_epochs_of_the_fit():
    """At lr 0 the student never moves, so each epoch logs the same DKD term times its warm-up factor e / warmup."""
    torch.manual_seed(0)
    teacher, student = cnn(8), cnn(4)
    terms = {warmup: Distiller(teacher, copy.deepcopy(student), "dkd", settings={"warmup": warmup}, lr=0.0)
             .fit(data(), epochs=3, progress=False)["loss_dkd"] for warmup in (0, 2)}
    assert terms[0][0] > 0 and terms[0] == pytest.approx([terms[0][0]] * 3, rel=1e-6)
    assert terms[2] == pytest.approx([terms[0][0] / 2, terms[0][0], terms[0][0]], rel=1e-6)


def test_logit_standardisation_is_a_setting_of_the_logit_methods():
    torch.manual_seed(0)
    history = Distiller(cnn(8), cnn(4), "soft_target", settings={"standardise": True}, lr=1e-2).fit(data(), epochs=3)
    assert history["loss"][-1] < history["loss"][0]
    assert Distiller(cnn(8), cnn(4), "dist", settings={"standardise": True}).method_.standardise


@pytest.mark.parametrize("method, taps", [("rkd", VECTORS), ("pkt", VECTORS), ("sp", VECTORS), ("dist", None)])
def test_methods_not_tied_to_classes_teach_a_regression_student(method, taps):
    torch.manual_seed(0)
    distiller = Distiller(cnn(8, 2), cnn(4, 2), method, taps=taps, task="regression", lr=1e-2)
    history = distiller.fit(data(regression=True), epochs=6)
    assert history["loss"][-1] < history["loss"][0] and f"loss_{method}" in history
    assert "mse" in distiller.evaluate(data(regression=True))


def test_methods_tied_to_classes_refuse_a_regression_task():
    with pytest.raises(DistillError, match="compares class distributions"):
        Distiller(cnn(8), cnn(4), "dkd", task="regression")


class _RNN(nn.Module):
    """A model whose tapped module gives a tuple, not a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.head = nn.GRU(4, 8, batch_first=True), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x.flatten(1, 2))[0][:, -1])


BAD = [
    ("pkt", {"taps": {"student": "9", "teacher": "3"}}, "names no module"),
    ("at", {"taps": VECTORS}, "needs feature maps"),  # vectors have no spatial maps to attend to
    ("sp", {"taps": {"student": "rnn", "teacher": "3"}, "student": _RNN()}, "give no tensors"),
    ("crd", {"taps": VECTORS}, "negatives must be in"),  # 16384 negatives from a bank of 48 rows
    ("soft_target", {"student": cnn(4, outputs=5)}, "class count mismatch"),
    ("dist", {"student": cnn(4, outputs=5)}, "of one (batch, outputs) shape"),
    ("dkd", {"settings": {"temprature": 2}}, "no setting 'temprature'"),
]


@pytest.mark.parametrize("method, change, message", BAD)
def test_bad_input_is_one_line_before_training(method, change, message, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started before the inputs were checked")

    monkeypatch.setattr(distiller_module, "run_epochs", no_training)
    student = change.pop("student", cnn(4))
    with pytest.raises(DistillError) as error:
        Distiller(cnn(8), student, method, **change).fit(data(), epochs=1)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not student._forward_hooks and not any(m._forward_hooks for m in student.modules())  # taps removed


def test_crd_needs_the_rows_of_a_tensor_dataset(monkeypatch):
    rows = [(x, y) for x, y in zip(*data().dataset.tensors)]
    loader = DataLoader(rows, batch_size=16)
    with pytest.raises(DistillError, match="row numbers"):
        Distiller(cnn(8), cnn(4), "crd", taps=VECTORS, settings={"negatives": 8}).fit(loader, epochs=1)

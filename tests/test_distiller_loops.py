"""distill.Distiller in real training loops: progress and loggers, accumulation, schedulers per step, any
sampler, sample weights, teacher/student outputs, dict batch keys, precision, and the silent cases refused."""
import csv

import pytest
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler, TensorDataset, WeightedRandomSampler

from distill import Checkpoint, Distiller, EarlyStopping, LRScheduler
from distill.core.batches import RankBatches
from distill.core.distributed import World
from distill.core.loggers import CSVLogger, Progress, TensorBoardLogger
from distill.errors import DistillError


def blobs(n=64, dim=6, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=generator) * 3
    return centres[y] + torch.randn(n, dim, generator=generator), y


def mlp(inputs=6, outputs=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 16), nn.ReLU(), nn.Linear(16, outputs))


@pytest.fixture(scope="module")
def data():
    x, y = blobs()
    return x, y, mlp(seed=1)


def weights_of(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_progress_is_one_line_per_epoch_off_a_terminal_and_silenced_by_false(data, capsys):
    x, y, teacher = data
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    Distiller(teacher, mlp(), device="cpu").fit(loader, 3, val_loader=loader)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3: loss ") and "val_accuracy" in lines[2]
    Distiller(teacher, mlp(), device="cpu").fit(loader, 2, progress=False)
    assert capsys.readouterr().err == ""


def test_csv_and_tensorboard_loggers_write_every_epoch(data, tmp_path):
    x, y, teacher = data
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    history = Distiller(teacher, mlp(), device="cpu").fit(loader, 3, progress=False,
                                                          callbacks=[CSVLogger(tmp_path / "log.csv")])
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [float(row["epoch"]) for row in rows] == [1.0, 2.0, 3.0]
    assert [float(row["loss"]) for row in rows] == pytest.approx(history["loss"])
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    Distiller(teacher, mlp(), device="cpu").fit(loader, 2, progress=False,
                                                callbacks=[TensorBoardLogger(tmp_path / "tb")])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [event.step for event in events.Scalars("loss")] == [1, 2]


def test_accumulating_two_batches_steps_as_one_batch_twice_the_size(data):
    x, y, teacher = data
    sgd = {"optimizer": lambda p: torch.optim.SGD(p, lr=0.1), "device": "cpu"}
    big, small = mlp(), mlp()
    Distiller(teacher, big, **sgd).fit(DataLoader(TensorDataset(x, y), batch_size=32), 3, progress=False)
    Distiller(teacher, small, **sgd).fit(DataLoader(TensorDataset(x, y), batch_size=16), 3, progress=False,
                                         accumulate=2)
    assert torch.allclose(weights_of(big), weights_of(small), atol=1e-6)
    unaccumulated = mlp()
    Distiller(teacher, unaccumulated, **sgd).fit(DataLoader(TensorDataset(x, y), batch_size=16), 3, progress=False)
    assert not torch.allclose(weights_of(big), weights_of(unaccumulated), atol=1e-4)
    with pytest.raises(DistillError, match="accumulate must be >= 1"):
        Distiller(teacher, mlp(), device="cpu").fit(DataLoader(TensorDataset(x, y)), 1, accumulate=0)


def test_a_scheduler_steps_per_optimiser_step_or_per_epoch(data):
    x, y, teacher = data
    loader = DataLoader(TensorDataset(x, y), batch_size=16)  # 4 batches per epoch

    def halving(optimizer):
        return torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)

    per_step = Distiller(teacher, mlp(), lr=1.0, device="cpu").fit(
        loader, 2, progress=False, accumulate=2, callbacks=[LRScheduler(halving, interval="step")])
    assert per_step["lr"] == [0.5 ** 2, 0.5 ** 4]  # two optimiser steps per epoch; lr as the epoch ends
    per_epoch = Distiller(teacher, mlp(), lr=1.0, device="cpu").fit(loader, 2, progress=False,
                                                                   callbacks=[LRScheduler(halving)])
    assert per_epoch["lr"] == [1.0, 0.5]  # the lr each epoch trained with
    with pytest.raises(DistillError, match="interval must be"):
        LRScheduler(halving, interval="batch")


def test_any_sampler_or_batch_sampler_in_one_process_and_a_clear_error_under_ddp(data):
    x, y, teacher = data
    weights = (y == 0).double() + 0.01  # nearly every draw is class 0
    seen = []

    class Rows(Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            seen.append(int(y[i]))
            return x[i], y[i]

    sampler = WeightedRandomSampler(weights, num_samples=64)
    Distiller(teacher, mlp(), device="cpu").fit(DataLoader(Rows(), batch_size=16, sampler=sampler), 2, progress=False)
    assert seen.count(0) > 0.8 * len(seen)
    tensors = DataLoader(TensorDataset(x, y), batch_sampler=BatchSampler(SequentialSampler(range(64)), 8, False))
    history = Distiller(teacher, mlp(), device="cpu").fit(tensors, 2, progress=False)
    assert len(history["loss"]) == 2
    with pytest.raises(DistillError, match="WeightedRandomSampler cannot be split across 2 processes"):
        RankBatches(DataLoader(Rows(), batch_size=16, sampler=sampler), World(0, 2), 0)


def test_sample_weights_weight_each_rows_loss(data):
    """Rows of weight 0 change nothing: a fit on all 32 rows with the last 16 weighted 0 is a fit on the first 16;
    weights 1 are the unweighted fit."""
    x, y, teacher = data
    x, y = x[:32], y[:32]
    sgd = {"optimizer": lambda p: torch.optim.SGD(p, lr=0.1), "device": "cpu"}

    class Weighted(Dataset):
        def __init__(self, weight):
            self.weight = weight

        def __len__(self):
            return len(self.weight)

        def __getitem__(self, i):
            return {"x": x[i], "y": y[i], "weight": self.weight[i]}

    half, first = mlp(), mlp()
    Distiller(teacher, half, **sgd).fit(DataLoader(Weighted(torch.cat([torch.ones(16), torch.zeros(16)])),
                                                   batch_size=32), 3, progress=False)
    Distiller(teacher, first, **sgd).fit(DataLoader(TensorDataset(x[:16], y[:16]), batch_size=16), 3, progress=False)
    assert torch.allclose(weights_of(half), weights_of(first), atol=1e-6)
    ones, plain = mlp(), mlp()
    Distiller(teacher, ones, **sgd).fit(DataLoader(Weighted(torch.ones(32)), batch_size=16), 2, progress=False)
    Distiller(teacher, plain, **sgd).fit(DataLoader(TensorDataset(x, y), batch_size=16), 2, progress=False)
    assert torch.allclose(weights_of(ones), weights_of(plain), atol=1e-6)


class TupleTeacher(nn.Module):
    """Returns (logits, hidden), as many research models do."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x), x


class Output(dict):
    """A Hugging Face ModelOutput in miniature: a dict whose keys are also attributes."""

    __getattr__ = dict.__getitem__


class DictStudent(TupleTeacher):
    def forward(self, x):
        return Output(logits=self.net(x), hidden=x)


class ObjectTeacher(TupleTeacher):
    def forward(self, x):
        return type("Out", (), {"logits": self.net(x)})()


def test_teacher_and_student_outputs_picked_by_index_key_or_function(data):
    x, y, teacher = data
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    reference = Distiller(teacher, mlp(), device="cpu").fit(loader, 2, progress=False)
    for wrapped, pick in ((TupleTeacher(teacher), 0), (ObjectTeacher(teacher), "logits"),
                          (TupleTeacher(teacher), lambda out: out[0])):
        student = DictStudent(mlp())
        history = Distiller(wrapped, student, device="cpu", teacher_output=pick, student_output="logits").fit(
            loader, 2, progress=False)
        assert history["loss"] == pytest.approx(reference["loss"])
    distiller = Distiller(TupleTeacher(teacher), DictStudent(mlp()), device="cpu", teacher_output=0,
                          student_output="logits")
    distiller.fit(loader, 1, progress=False)
    assert distiller.evaluate(loader)["agreement"] >= 0
    with pytest.raises(DistillError, match="the teacher returns a tuple, not a tensor; pass teacher_output="):
        Distiller(TupleTeacher(teacher), mlp(), device="cpu").fit(loader, 1, progress=False)
    with pytest.raises(DistillError, match="student_output='scores' does not pick"):
        Distiller(teacher, DictStudent(mlp()), device="cpu", student_output="scores").fit(loader, 1, progress=False)


def test_dict_batches_with_their_own_keys(data):
    x, y, teacher = data

    class Named(Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"input": x[i], "label": y[i]}

    history = Distiller(teacher, mlp(), device="cpu", batch_keys={"x": "input", "y": "label"}).fit(
        DataLoader(Named(), batch_size=16), 2, progress=False)
    assert len(history["loss"]) == 2
    with pytest.raises(DistillError, match="needs keys 'x' and 'y'"):
        Distiller(teacher, mlp(), device="cpu").fit(DataLoader(Named(), batch_size=16), 1, progress=False)
    with pytest.raises(DistillError, match="unknown field"):
        Distiller(teacher, mlp(), batch_keys={"inputs": "input"})


def test_the_silent_cases_are_one_line_errors(data):
    x, y, teacher = data
    with pytest.raises(DistillError, match="targets are float32 values, but method 'soft_target' reads class"):
        Distiller(teacher, mlp(), device="cpu").fit(DataLoader(TensorDataset(x, y.float()), batch_size=16), 1)
    with pytest.raises(DistillError, match="3-item batch .* for sample weights yield a dict"):
        Distiller(teacher, mlp(), device="cpu").fit(
            DataLoader(TensorDataset(x, y, torch.ones(len(y))), batch_size=16), 1)


def test_bf16_on_the_cpu_runs_the_forward_in_bfloat16_and_learns(data):
    x, y, teacher = data
    student, dtypes = mlp(), set()
    student[0].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    distiller = Distiller(teacher, student, method="none", device="cpu", precision="bf16", lr=1e-2)
    distiller.fit(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), 10, progress=False)
    assert torch.bfloat16 in dtypes
    assert distiller.evaluate(DataLoader(TensorDataset(x, y)))["accuracy"] > 0.8


def test_resume_in_process_continues_exactly(data, tmp_path):
    """A fit of 2 epochs saved, resumed to 5, equals a fit of 5 (shuffled batches, dropout, Adam, a scheduler,
    early stopping): the quick version of the SIGKILL test in test_distiller_resume.py."""
    x, y, teacher = data
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)

    def student():
        torch.manual_seed(3)
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))

    def callbacks(path):
        return [EarlyStopping("loss", mode="max", patience=10),  # the best is epoch 1, restored at the end
                LRScheduler(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (1 + step))),
                Checkpoint(path)]

    torch.manual_seed(0)
    whole = student()
    expected = Distiller(teacher, whole, device="cpu", seed=1).fit(loader, 5, progress=False,
                                                                   callbacks=callbacks(tmp_path / "a.pt"))
    torch.manual_seed(0)
    Distiller(teacher, student(), device="cpu", seed=1).fit(loader, 2, progress=False,
                                                            callbacks=callbacks(tmp_path / "b.pt"))
    torch.manual_seed(123)  # the checkpoint restores the RNG
    resumed = student()
    history = Distiller(teacher, resumed, device="cpu", seed=1).fit(
        loader, 5, progress=True, callbacks=callbacks(tmp_path / "b.pt"), resume=tmp_path / "b.pt")  # progress has no state
    assert history == expected
    assert torch.equal(weights_of(resumed), weights_of(whole))
    (tmp_path / "planted.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DistillError, match="resume: .*planted.pt is not a checkpoint distill wrote"):
        Distiller(teacher, student(), device="cpu").fit(loader, 1, resume=tmp_path / "planted.pt")
    with pytest.raises(DistillError, match="resume: no checkpoint at"):
        Distiller(teacher, student(), device="cpu").fit(loader, 1, resume=tmp_path / "missing.pt")
    with pytest.raises(DistillError, match="callbacks"):
        Distiller(teacher, student(), device="cpu").fit(loader, 5, progress=False, resume=tmp_path / "b.pt")


def test_compile_runs_the_student_through_torch_compile(data):
    """The eager backend (no code generation, so the test takes seconds): the same numbers as without."""
    x, y, teacher = data
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    plain = Distiller(teacher, mlp(), device="cpu").fit(loader, 2, progress=False)
    compiled = Distiller(teacher, mlp(), device="cpu", compile={"backend": "eager"}).fit(loader, 2, progress=False)
    assert compiled["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    with pytest.raises(DistillError, match="compile"):
        Distiller(teacher, mlp(), compile={"colour": "blue"}).fit(loader, 1, progress=False)


def test_progress_on_a_terminal_is_a_bar_over_the_epochs(data, capsys):
    x, y, teacher = data
    Distiller(teacher, mlp(), device="cpu").fit(DataLoader(TensorDataset(x, y), batch_size=16), 2, progress=False,
                                                callbacks=[Progress(2, terminal=True)])
    err = capsys.readouterr().err
    assert "2/2" in err and "epoch" in err and "loss=" in err and "epoch 1/2:" not in err


def test_a_monitored_checkpoint_saves_only_when_the_score_improves(data, tmp_path):
    x, y, teacher = data
    path = tmp_path / "best.pt"
    Distiller(teacher, mlp(), lr=1e-2, device="cpu").fit(
        DataLoader(TensorDataset(x, y), batch_size=16), 4, progress=False,
        callbacks=[Checkpoint(path, monitor="loss", mode="max")])  # the loss falls: epoch 1 is the best
    assert torch.load(path, weights_only=True)["epoch"] == 1

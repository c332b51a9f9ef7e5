"""distill.Distiller: every method on tiny data, the frozen and cached teacher, callbacks, batches, devices."""
import io

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import distill
from distill import Checkpoint, Distiller, EarlyStopping, EpochEnd, GradientClipping, LRScheduler
from distill.errors import DistillError

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def blobs(n=96, dim=6, classes=3, seed=0):
    """Separable classes: x ~ N(centre of class, 1)."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=generator) * 3
    return centres[y] + torch.randn(n, dim, generator=generator), y


def mlp(inputs, outputs, hidden=16, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def trained_teacher(x, y, outputs, epochs=60):
    teacher = mlp(x.shape[1], outputs, hidden=32, seed=1)
    optimizer = torch.optim.Adam(teacher.parameters(), 1e-2)
    loss = nn.functional.mse_loss if y.dtype.is_floating_point else nn.functional.cross_entropy
    for _ in range(epochs):
        optimizer.zero_grad()
        loss(teacher(x), y).backward()
        optimizer.step()
    return teacher


class Rows(Dataset):
    """A map-style dataset that is not a TensorDataset (the general DataLoader path), counting reads."""

    def __init__(self, *tensors, as_dict=False):
        self.tensors, self.as_dict, self.reads = tensors, as_dict, 0

    def __len__(self):
        return len(self.tensors[0])

    def __getitem__(self, index):
        self.reads += 1
        row = tuple(t[index] for t in self.tensors)
        return dict(zip(("x", "y", "privileged"), row)) if self.as_dict else row


@pytest.fixture(scope="module")
def classification():
    x, y = blobs()
    return x, y, trained_teacher(x, y, 3)


def test_soft_target_learns_and_reports_fidelity(classification):
    x, y, teacher = classification
    distiller = Distiller(teacher, mlp(6, 3), temperature=2, alpha=0.5, lr=1e-2, device="cpu")
    history = distiller.fit(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), epochs=15,
                            val_loader=DataLoader(TensorDataset(x, y), batch_size=32))
    assert set(history) == {"epoch", "loss", "loss_hard", "loss_kd", "lr", "val_loss", "val_accuracy",
                            "val_agreement", "val_kl"}
    assert len(history["loss"]) == 15 and history["loss"][-1] < history["loss"][0]
    for loss, hard, kd in zip(history["loss"], history["loss_hard"], history["loss_kd"]):
        assert loss == pytest.approx(hard + kd, rel=1e-5) and hard > 0 and kd > 0
    scores = distiller.evaluate(DataLoader(TensorDataset(x, y), batch_size=32))
    assert scores["accuracy"] > 0.9 and scores["agreement"] > 0.9
    assert distiller.evaluate(DataLoader(TensorDataset(x, y), batch_size=32), model="teacher")["accuracy"] > 0.9


def test_teacher_is_frozen_and_computed_once_per_row(classification):
    x, y, teacher = classification
    before = [p.detach().clone() for p in teacher.parameters()]
    calls = []
    handle = teacher.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    Distiller(teacher, mlp(6, 3), device="cpu").fit(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True),
                                                    epochs=3)
    handle.remove()
    assert sum(calls) == len(x)  # once per row, not once per row and epoch
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))


def test_unshuffled_dataset_caches_by_position_and_shuffled_does_not(classification):
    x, y, teacher = classification
    for shuffle, expected in ((False, 6), (True, 19)):  # 6 batches per epoch; uncached: + the preflight's first batch
        calls = []
        handle = teacher.register_forward_hook(lambda module, inputs, output, calls=calls: calls.append(1))
        Distiller(teacher, mlp(6, 3), device="cpu").fit(DataLoader(Rows(x, y), batch_size=16, shuffle=shuffle),
                                                        epochs=3)
        handle.remove()
        assert sum(calls) == expected


def test_tensor_dataset_and_general_dataset_train_the_same(classification):
    x, y, teacher = classification
    students = []
    for dataset in (TensorDataset(x, y), Rows(x, y, as_dict=True)):
        student = mlp(6, 3)
        Distiller(teacher, student, device="cpu", seed=3).fit(DataLoader(dataset, batch_size=16, shuffle=True), 2)
        students.append(student)
    for a, b in zip(*(s.parameters() for s in students)):
        torch.testing.assert_close(a, b)


def test_regression_lambda_mix():
    x = torch.randn(128, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]])
    teacher = trained_teacher(x, y, 1, epochs=200)
    distiller = Distiller(teacher, mlp(4, 1), method="regression", alpha=0.5, lr=1e-2, device="cpu")
    history = distiller.fit(DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True), epochs=30)
    scores = distiller.evaluate(DataLoader(TensorDataset(x, y), batch_size=64))
    assert set(scores) == {"loss", "mse", "mae", "fidelity_mse"}
    assert scores["mse"] < 0.5 * float(y.var()) and history["loss"][-1] < history["loss"][0]


def test_generalized_teacher_reads_privileged_inputs_the_student_never_sees(classification):
    x, y, _ = classification
    privileged = nn.functional.one_hot(y, 3).float() * 5  # the teacher reads the labels: a perfect teacher
    teacher = trained_teacher(privileged, y, 3)
    distiller = Distiller(teacher, mlp(6, 3), method="generalized", temperature=2, alpha=0.5, lr=1e-2, device="cpu")
    distiller.fit(DataLoader(TensorDataset(x, y, privileged), batch_size=16, shuffle=True), epochs=10)
    assert distiller.evaluate(DataLoader(TensorDataset(x, y, privileged), batch_size=32))["agreement"] > 0.9
    with pytest.raises(DistillError, match="privileged"):
        Distiller(teacher, mlp(6, 3), method="generalized", device="cpu").fit(
            DataLoader(TensorDataset(x, y), batch_size=16), 1)


def conv(channels, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(channels * 16, 3))


@pytest.mark.parametrize("method, adapter", [("nst", False), ("hint", True)])
def test_feature_methods_tap_module_paths(method, adapter):
    x = torch.randn(48, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(48) % 3
    distiller = Distiller(conv(8, 1), conv(4, 2), method=method, taps={"student": "1", "teacher": "1"},
                          device="cpu")
    history = distiller.fit(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), epochs=3)
    assert all(torch.isfinite(torch.tensor(history["loss"])))
    assert (distiller.adapter_ is not None) == adapter  # hint maps 4 student channels to the teacher's 8
    with pytest.raises(DistillError, match="names no module"):
        Distiller(conv(8, 1), conv(4, 2), method=method, taps={"student": "nope", "teacher": "1"},
                  device="cpu").fit(DataLoader(TensorDataset(x, y), batch_size=16), 1)


def test_subclass_method(classification):
    x, y, _ = classification
    teacher = mlp(6, 6, seed=4)
    distiller = Distiller(teacher, mlp(6, 6), method="subclass", classes=3, subclasses=2, device="cpu")
    distiller.fit(DataLoader(TensorDataset(x, y), batch_size=16), epochs=2)
    assert set(distiller.evaluate(DataLoader(TensorDataset(x, y), batch_size=32))) == {
        "loss", "accuracy", "agreement", "kl"}


def test_callbacks(classification, tmp_path):
    x, y, teacher = classification
    seen = []
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)  # nothing improves by 10
    history = Distiller(teacher, mlp(6, 3), device="cpu").fit(
        DataLoader(TensorDataset(x, y), batch_size=16), epochs=20, val_loader=DataLoader(TensorDataset(x, y)),
        callbacks=[EpochEnd(lambda epoch, logs: seen.append(epoch)), stopper, GradientClipping(0.5),
                   LRScheduler(lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)),
                   Checkpoint(tmp_path / "student.pt")])
    assert seen == [1, 2] and history["epoch"] == [1.0, 2.0] and stopper.best_epoch_ == 1  # one numbering
    assert history["lr"] == [1e-3, 5e-4]
    state = Checkpoint.student_state(tmp_path / "student.pt")
    assert set(state) == set(mlp(6, 3).state_dict())
    with pytest.raises(DistillError, match="val_loss"):
        Distiller(teacher, mlp(6, 3), device="cpu").fit(DataLoader(TensorDataset(x, y), batch_size=16), 1,
                                                        callbacks=[EarlyStopping()])


def test_gradient_clipping_bounds_the_step(classification):
    x, y, teacher = classification
    start = mlp(6, 3)
    student = mlp(6, 3)
    Distiller(teacher, student, optimizer=lambda p: torch.optim.SGD(p, lr=1.0), device="cpu").fit(
        DataLoader(TensorDataset(x, y), batch_size=96), epochs=1, callbacks=[GradientClipping(1e-3)])
    moved = torch.cat([(a - b).detach().flatten() for a, b in zip(student.parameters(), start.parameters())])
    assert float(moved.norm()) <= 1e-3 + 1e-6


def test_bad_arguments(classification):
    x, y, teacher = classification
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    with pytest.raises(DistillError, match="unknown method"):
        Distiller(teacher, mlp(6, 3), method="magic")
    with pytest.raises(DistillError, match="taps"):
        Distiller(teacher, mlp(6, 3), method="nst")
    with pytest.raises(DistillError, match="precision='fp16' .* needs a CUDA device"):
        Distiller(teacher, mlp(6, 3), device="cpu", precision="fp16").fit(loader, 1)
    with pytest.raises(DistillError, match="unknown precision"):
        Distiller(teacher, mlp(6, 3), precision="fp8")
    with pytest.raises(DistillError, match="a batch must be"):
        Distiller(teacher, mlp(6, 3), device="cpu").fit(DataLoader(TensorDataset(x), batch_size=16), 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line(classification):
    x, y, teacher = classification
    with pytest.raises(DistillError, match="no CUDA GPU"):
        Distiller(teacher, mlp(6, 3), device="cuda").fit(DataLoader(TensorDataset(x, y), batch_size=16), 1)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("precision", ["fp32", "bf16", pytest.param("fp16", marks=CUDA)])
def test_devices(classification, device, precision):
    if precision == "fp16" and device == "cpu":
        pytest.skip("fp16 is CUDA only")
    x, y, teacher = classification
    distiller = Distiller(teacher, mlp(6, 3), device=device, precision=precision, lr=1e-2)
    distiller.fit(DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), epochs=10)
    assert next(distiller.student.parameters()).device.type == device
    assert distiller.evaluate(DataLoader(TensorDataset(x, y), batch_size=32))["accuracy"] > 0.8
    assert distiller.predict(DataLoader(TensorDataset(x, y), batch_size=32)).device.type == "cpu"


def test_exported_from_the_package():
    assert distill.Distiller is Distiller


def test_early_stopping_restores_the_best_epoch_when_epochs_run_out_before_patience(classification):
    """The training loss falls every epoch, so in mode "max" epoch 1 is the best; patience never runs out."""
    x, y, teacher = classification
    student, after_epoch = mlp(6, 3), []
    remember = EpochEnd(lambda epoch, logs: after_epoch.append(
        {key: value.clone() for key, value in student.state_dict().items()}))
    stopper = EarlyStopping(monitor="loss", mode="max", patience=100)
    history = Distiller(teacher, student, lr=1e-2, device="cpu").fit(
        DataLoader(TensorDataset(x, y), batch_size=16), epochs=4, callbacks=[remember, stopper])
    assert len(history["loss"]) == 4 and stopper.best_epoch_ == 1
    for key, value in student.state_dict().items():
        assert torch.equal(value, after_epoch[0][key]) and not torch.equal(value, after_epoch[-1][key])
    kept = mlp(6, 3)
    Distiller(teacher, kept, lr=1e-2, device="cpu").fit(
        DataLoader(TensorDataset(x, y), batch_size=16), epochs=4,
        callbacks=[EarlyStopping(monitor="loss", mode="max", patience=100, restore_best=False)])
    assert all(torch.equal(value, after_epoch[-1][key]) for key, value in kept.state_dict().items())


class _Holder:
    """What a callback reads of a Distiller: its student."""

    def __init__(self, student: nn.Module) -> None:
        self.student = student


def test_early_stopping_state_saves_and_resumes():
    """A stopper rebuilt from its saved `state_dict` mid-fit decides as the one that ran on and restores its best."""
    model, scores = nn.Linear(2, 1), [3.0, 2.0, 2.5, 2.4, 2.6]
    holder = _Holder(model)

    def epoch_end(stopper, epoch):  # epochs from 1, as the Distiller numbers them
        with torch.no_grad():
            model.weight.fill_(scores[epoch - 1])
        return stopper.on_epoch_end(holder, epoch, {"loss": scores[epoch - 1]})

    whole, first = EarlyStopping(monitor="loss", patience=3), EarlyStopping(monitor="loss", patience=3)
    whole.on_fit_start(holder)
    first.on_fit_start(holder)
    decisions = [epoch_end(whole, epoch) for epoch in range(1, 6)]
    for epoch in range(1, 3):
        epoch_end(first, epoch)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = EarlyStopping(monitor="loss", patience=3)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert [epoch_end(resumed, epoch) for epoch in range(3, 6)] == decisions[2:] == [False, False, True]
    assert resumed.best_epoch_ == whole.best_epoch_ == 2
    resumed.on_fit_end(holder)
    assert torch.equal(model.weight.detach(), torch.full((1, 2), 2.0))  # epoch 2's weights, restored

"""`Distiller.fit` under 2 CPU processes (gloo, DistributedDataParallel) with the catalogue's feature methods:
AT (hooked maps, no random draws in training) gives the weights and history of one process with the same global
batch; CRD (negatives drawn on each rank) keeps its memory banks identical across the ranks, every rank's bank
taking every rank's rows of each step."""
import json
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from distill.core.distiller import Distiller
from distill.core.distributed import current_world, launch

ROWS, BATCH, EPOCHS = 32, 8, 2
TAPS = {"at": {"student": "0", "teacher": "0"}, "crd": {"student": "3", "teacher": "3"}}
SETTINGS = {"at": {}, "crd": {"negatives": 8, "dim": 4}}


def cnn(width: int) -> nn.Sequential:
    """Conv (tap "0": maps) -> ReLU -> flatten -> Linear (tap "3": vectors) -> ReLU -> Linear; no batch norm."""
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(width * 16, 8),
                         nn.ReLU(), nn.Linear(8, 3))


def distil(method: str, out_dir: str) -> None:
    """One fit (in every process of the group, or alone): rank r writes its student, history and CRD banks."""
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, 1, 4, 4, generator=generator)
    y = (x.mean((1, 2, 3)) > 0).long() + (x[:, 0, 0, 0] > 0).long()
    torch.manual_seed(1)
    teacher, student = cnn(6), cnn(3)
    distiller = Distiller(teacher, student, method, taps=TAPS[method], settings=SETTINGS[method], lr=1e-2, seed=3,
                          device="cpu")
    history = distiller.fit(DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True), epochs=EPOCHS,
                            progress=False)
    part = distiller.part_
    banks = {} if part is None else {name: part.get_buffer(name).tolist() for name in ("student_bank", "teacher_bank")}
    rank = current_world().rank
    torch.save(student.state_dict(), Path(out_dir, f"student{rank}.pt"))
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"history": history, "banks": banks}))


def test_at_on_two_processes_gives_the_weights_and_history_of_one(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    distil("at", str(tmp_path / "one"))
    launch(distil, 2, "at", str(tmp_path / "two"))
    one = torch.load(tmp_path / "one" / "student0.pt", weights_only=True)
    alone = json.loads((tmp_path / "one" / "rank0.json").read_text())["history"]
    assert set(alone) >= {"loss", "loss_hard", "loss_at"} and len(alone["loss"]) == EPOCHS
    for rank in range(2):
        two = torch.load(tmp_path / "two" / f"student{rank}.pt", weights_only=True)
        for key in one:
            torch.testing.assert_close(two[key], one[key], atol=1e-5, rtol=1e-4)
        history = json.loads((tmp_path / "two" / f"rank{rank}.json").read_text())["history"]
        for key, values in alone.items():
            torch.testing.assert_close(torch.tensor(history[key]), torch.tensor(values), atol=1e-5, rtol=1e-4)
    moved = torch.load(tmp_path / "two" / "student0.pt", weights_only=True)
    assert any(not torch.equal(moved[key], cnn(3).state_dict()[key]) for key in moved)  # it trained


def test_crd_memory_banks_agree_across_two_processes(tmp_path):
    launch(distil, 2, "crd", str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    for name in ("student_bank", "teacher_bank"):
        banks = [torch.tensor(rank["banks"][name]) for rank in ranks]
        assert banks[0].shape == (ROWS, SETTINGS["crd"]["dim"])
        torch.testing.assert_close(banks[0], banks[1], atol=1e-6, rtol=0)
        torch.testing.assert_close(banks[0].norm(dim=1), torch.ones(ROWS))  # every row updated: a unit vector
    assert ranks[0]["history"] == ranks[1]["history"] and "loss_crd" in ranks[0]["history"]
    students = [torch.load(tmp_path / f"student{rank}.pt", weights_only=True) for rank in range(2)]
    for key in students[0]:
        torch.testing.assert_close(students[0][key], students[1][key], atol=1e-6, rtol=0)

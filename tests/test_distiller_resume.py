"""A `Distiller.fit` killed by SIGKILL mid-run and resumed from its `Checkpoint` (`fit(resume=path)`) ends with
the numbers of the fit never interrupted: history and weights, bit for bit (shuffled batches, dropout, Adam, a
per-step LR schedule, early stopping's state, accumulation)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

SCRIPT = '''
import json, sys, time
from pathlib import Path
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from distill import Checkpoint, Distiller, EarlyStopping, EpochEnd, LRScheduler

torch.set_num_threads(1)
checkpoint, out, resume = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "resume"
generator = torch.Generator().manual_seed(0)
x, y = torch.randn(96, 6, generator=generator), torch.arange(96) % 3
torch.manual_seed(1)
teacher = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
student = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
callbacks = [EarlyStopping("loss", patience=50),
             LRScheduler(lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, 0.98), interval="step"),
             Checkpoint(checkpoint), EpochEnd(lambda epoch, logs: time.sleep(0.15))]
history = Distiller(teacher, student, lr=1e-2, device="cpu", seed=4).fit(
    DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True), 12, callbacks=callbacks, accumulate=2,
    progress=False, resume=checkpoint if resume and checkpoint.exists() else None)
weights = torch.cat([p.detach().flatten() for p in student.parameters()]).tolist()
out.write_text(json.dumps({"history": history, "weights": weights}))
'''

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(script: Path, checkpoint: Path, out: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(checkpoint), str(out), mode], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def saved_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["epoch"])
    except (OSError, RuntimeError, EOFError):  # not written yet
        return 0


def test_a_killed_fit_resumes_to_the_uninterrupted_numbers(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    whole = run(script, tmp_path / "whole.pt", tmp_path / "whole.json", "fresh")
    killed = run(script, tmp_path / "killed.pt", tmp_path / "killed.json", "fresh")
    try:
        deadline = time.monotonic() + 120
        while saved_epoch(tmp_path / "killed.pt") < 3:
            assert killed.poll() is None, f"the fit ended before it was killed: {killed.stderr.read()!r}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait() == -signal.SIGKILL
    finally:
        killed.kill()
    assert not (tmp_path / "killed.json").exists() and saved_epoch(tmp_path / "killed.pt") < 12
    resumed = run(script, tmp_path / "killed.pt", tmp_path / "killed.json", "resume")
    assert resumed.wait(120) == 0, resumed.stderr.read()
    assert whole.wait(120) == 0, whole.stderr.read()
    expected, actual = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("whole", "killed"))
    assert actual == expected
    assert actual["history"]["epoch"] == [float(epoch) for epoch in range(1, 13)]

"""A run killed by SIGKILL at any point continues with `distill run ... --resume --out DIR` from its last saved
epoch and ends with the numbers of an uninterrupted run: here a real run is killed mid-training (twice: the
resumed run is killed again), fold-parallel and one fold at a time."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from distill.cli import main
from distill.core.resume import resume_folder

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_golden import numbers, tiny  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "DISTILL_CHECKPOINT_SECONDS": "0"}  # every epoch


def recipe(work: Path, fold_parallel: bool) -> Path:
    raw = tiny("covid-lstm", work)
    raw["train"].update(epochs=30, fold_parallel=fold_parallel)  # long enough to be killed mid-training
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def command(path: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "distill.cli", "run", str(path), "--out", str(out), "--no-progress", *extra]


def kill_when(args: list[str], checkpoint: Path, env: dict = ENV) -> None:
    """Start a real run and SIGKILL it as soon as `checkpoint` (a training loop's first saved epoch) exists."""
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not checkpoint.exists():
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read()!r}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()


def results(out: Path) -> dict:
    return numbers(json.loads((out / "results.json").read_text()), str(out))


@pytest.mark.parametrize("fold_parallel, seconds", [(True, "0"), (False, "0"), (True, "0.05")])
def test_a_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path, fold_parallel, seconds):
    path = recipe(tmp_path, fold_parallel)
    env = {**ENV, "DISTILL_CHECKPOINT_SECONDS": seconds}  # 0: save every epoch; else every that many seconds
    whole, killed = tmp_path / "whole" / "out", tmp_path / "killed" / "out"
    assert main(["run", str(path), "--out", str(whole), "--no-progress"]) == 0
    assert not resume_folder(whole).exists()  # checkpoints go when the run is published

    store = resume_folder(killed)
    kill_when(command(path, killed), store / "unit-0002.pt", env)  # the teacher(s) trained, the next model under way
    assert not killed.exists() and store.is_dir()
    kill_when(command(path, killed, "--resume"), store / "unit-0004.pt", env)  # the resumed run killed too
    assert not killed.exists()
    assert main(["run", str(path), "--out", str(killed), "--no-progress", "--resume"]) == 0
    assert results(killed) == results(whole)
    assert sorted(p.name for p in killed.parent.iterdir()) == ["out"]  # no checkpoints, lock or staging left


def test_resume_with_other_settings_or_for_lupi_is_refused_with_one_line(tmp_path, capsys):
    path = recipe(tmp_path, True)
    out = tmp_path / "out"
    kill_when(command(path, out), resume_folder(out) / "unit-0001.pt")
    code = main(["run", str(path), "--out", str(out), "--no-progress", "--resume", "--set", "seed=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("distill: error: --resume") and err.count("\n") == 1
    assert main(["run", "lupi-synthetic", "--out", str(tmp_path / "l"), "--resume"]) == 2
    assert main(["run", str(path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "lupi-synthetic" in err and "--resume needs --out" in err

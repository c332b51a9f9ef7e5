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
from distill.core.resume import ResumeStore, checkpointing, resume_folder, unit_for

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


def kill_when(args: list[str], store: Path, units: int, env: dict = ENV) -> None:
    """Start a real run and SIGKILL it as soon as `units` training loops have checkpoints in `store`."""
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while len(list(store.glob("unit-*.pt"))) < units:
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read()!r}"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()


def results(out: Path) -> dict:
    return numbers(json.loads((out / "results.json").read_text()), str(out))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """`uninterrupted(fold_parallel)`: the results of the recipe run without a kill, made once per setting (how
    often a killed run saves does not change the numbers, so the parametrisations that differ only there share
    one)."""
    runs: dict[bool, dict] = {}

    def run(fold_parallel: bool) -> dict:
        if fold_parallel not in runs:
            work = tmp_path_factory.mktemp("uninterrupted")
            whole = work / "whole" / "out"
            assert main(["run", str(recipe(work, fold_parallel)), "--out", str(whole), "--no-progress"]) == 0
            assert not resume_folder(whole).exists()  # checkpoints go when the run is published
            runs[fold_parallel] = results(whole)
        return runs[fold_parallel]
    return run


@pytest.mark.parametrize("fold_parallel, seconds", [(True, "0"), (False, "0"), (True, "0.05")])
def test_a_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path, fold_parallel, seconds, uninterrupted):
    path = recipe(tmp_path, fold_parallel)
    env = {**ENV, "DISTILL_CHECKPOINT_SECONDS": seconds}  # 0: save every epoch; else every that many seconds
    killed = tmp_path / "killed" / "out"
    store = resume_folder(killed)
    kill_when(command(path, killed), store, 2, env)  # the teacher(s) trained, the next model under way
    assert not killed.exists() and store.is_dir()
    kill_when(command(path, killed, "--resume"), store, 4, env)  # the resumed run killed too
    assert not killed.exists()
    assert main(["run", str(path), "--out", str(killed), "--no-progress", "--resume"]) == 0
    assert results(killed) == uninterrupted(fold_parallel)
    assert sorted(p.name for p in killed.parent.iterdir()) == ["out"]  # no checkpoints, lock or staging left


def test_resume_with_other_settings_or_for_lupi_is_refused_with_one_line(tmp_path, capsys):
    path = recipe(tmp_path, True)
    out = tmp_path / "out"
    kill_when(command(path, out), resume_folder(out), 1)
    code = main(["run", str(path), "--out", str(out), "--no-progress", "--resume", "--set", "seed=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("distill: error: --resume") and err.count("\n") == 1
    assert main(["run", "lupi-synthetic", "--out", str(tmp_path / "l"), "--resume"]) == 2
    assert main(["run", str(path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "lupi-synthetic" in err and "--resume needs --out" in err


def test_units_are_keyed_by_role_fold_and_member_not_by_call_order(tmp_path):
    store = ResumeStore(tmp_path / ".out.resume", "recipe", resume=False)
    assert store.unit(("teacher", 0, 1)).path.name == "unit-teacher-fold0-member1.pt"
    assert store.unit(("student kd", "stack", 0)).path.name == "unit-student_kd-foldstack-member0.pt"
    with pytest.raises(RuntimeError, match="twice"):
        store.unit(("teacher", 0, 1))
    with checkpointing(tmp_path / "out", "recipe", resume=False):
        assert unit_for(None) is None  # a loop without a key (an extra fit) takes no unit and shifts none
        first = unit_for(("student", 1, 0))
        assert unit_for(("teacher", 1, 0)).path != first.path
    assert unit_for(("teacher", 0, 0)) is None  # outside a checkpointing run

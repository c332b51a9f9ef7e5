"""`distill run NAME --nproc 2`: a classification recipe trained by 2 CPU processes (gloo, DistributedDataParallel)
gives the results of 1 process with the same global batch, to float tolerance; rank 0 alone writes the run."""
import json
import os
import subprocess
import sys

from distill import protocols
from distill.cli import main

# tiny hinton-digits without random draws in training (dropout, jitter), so 2 processes must match 1 exactly;
# the CNN teacher keeps its batch norms (normalised over the global batch on every rank)
TINY = ["cv.folds=2", "train.epochs=2", "students.student_kd.epochs=3", "students.student_scratch.epochs=3",
        "teacher.options.dropout=0", "teacher.jitter=0", "report.latency_repeats=3"]
MEASURED = {"latency_ms", "distributed"}  # timings differ between any two runs


def close(expected, actual, where=""):
    """Every place where two results differ beyond float tolerance (timings skipped)."""
    if isinstance(expected, dict):
        assert set(expected) - MEASURED == set(actual) - MEASURED, where
        return [d for key in expected if key not in MEASURED for d in close(expected[key], actual[key], f"{where}.{key}")]
    if isinstance(expected, list):
        assert len(expected) == len(actual), where
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in close(e, a, f"{where}[{i}]")]
    if isinstance(expected, float):
        return [] if abs(expected - actual) <= 1e-5 + 1e-4 * abs(expected) else [f"{where}: {expected} != {actual}"]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def test_two_processes_give_the_results_of_one(tmp_path):
    protocols.execute(protocols.load_config("hinton-digits", TINY), tmp_path / "one", show_progress=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "distill.cli", "run", "hinton-digits", "--nproc", "2", "--no-progress",
               "--out", str(tmp_path / "two"), *[arg for key in TINY for arg in ("--set", key)]]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("report:") == 1  # rank 0 alone prints and writes
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["distributed"] == {"world_size": 2, "backend": "gloo"} and "distributed" not in one
    assert close(one, two) == []
    assert sorted(p.name for p in (tmp_path / "two" / "models").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one" / "models").iterdir())
    assert not list(tmp_path.glob(".two.*"))  # no staging folder left by another rank


def test_nproc_is_for_the_classification_recipes(capsys):
    assert main(["run", "lupi-synthetic", "--nproc", "2"]) == 2
    assert "one process" in capsys.readouterr().err


def test_a_user_error_in_a_training_process_is_one_line(tmp_path, capsys):
    assert main(["run", "hinton-digits", "--nproc", "2", "--out", str(tmp_path / "run"), "--set", "cv.folds=2",
                 "--set", "data.source=tensors", "--set", f"data.path={tmp_path / 'missing.pt'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and "Traceback" not in err

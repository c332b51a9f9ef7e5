"""The recipes' `train.log`: the per-epoch training loss of every training loop in the run folder's logs/."""
import csv

import pytest

from distill.cli import main
from distill.core.run_log import live_folder


@pytest.mark.parametrize("kind", ["csv", "tensorboard"])
def test_train_log_writes_every_epoch_of_every_loop_into_the_run_folder(tmp_path, tiny_classification, kind):
    if kind == "tensorboard":
        pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    args = ["run", "hinton-digits", "--out", str(out), "--no-progress", *(
        item for setting in (*tiny_classification, "train.epochs=2", f"train.log={kind}") for item in ("--set", setting))]
    assert main(args) == 0
    assert not live_folder(out).exists()
    if kind == "tensorboard":
        runs = sorted(path.name for path in (out / "logs" / "tensorboard").iterdir())
        assert "teacher-fold0-member0" in runs and "student_kd-fold1-member0" in runs
        return
    rows = list(csv.DictReader((out / "logs" / "train.csv").open()))
    assert {row["model"] for row in rows} == {"teacher", "student_kd", "student_scratch"}
    teacher = [(row["fold"], row["epoch"]) for row in rows if row["model"] == "teacher"]
    assert teacher == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]  # 2 folds, train.epochs=2, from 1
    assert all(float(row["loss"]) > 0 for row in rows)


def test_train_log_is_none_by_default_and_checked(tmp_path, tiny_classification):
    out = tmp_path / "run"
    assert main(["run", "hinton-digits", "--out", str(out), "--no-progress",
                 *(item for setting in tiny_classification for item in ("--set", setting))]) == 0
    assert not (out / "logs").exists()
    assert main(["run", "hinton-digits", "--out", str(out), "--set", "train.log=json"]) != 0


@pytest.mark.parametrize("kind", ["csv", "tensorboard"])
def test_train_log_holds_the_loops_a_worker_process_trained(tmp_path, tiny_forecast, kind):
    if kind == "tensorboard":
        pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    settings = (*tiny_forecast, "train.workers=2", "train.final_fit=false", f"train.log={kind}")
    assert main(["run", "covid-lstm", "--out", str(out), "--no-progress",
                 *(item for setting in settings for item in ("--set", setting))]) == 0
    members = {str(m) for m in range(4)}  # teacher.ensemble=1 + the blend's 3 copies, on 2 processes
    if kind == "tensorboard":
        runs = {path.name for path in (out / "logs" / "tensorboard").iterdir()}
        assert {f"teacher-foldstack-member{m}" for m in members} <= runs
        return
    rows = list(csv.DictReader((out / "logs" / "train.csv").open()))
    assert {row["member"] for row in rows if row["model"] == "teacher"} == members

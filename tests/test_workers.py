"""`train.workers`: independent training loops on several processes (`distill.core.workers`)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from distill.core.workers import can_fork, run_jobs
from distill.errors import DistillError

pytestmark = pytest.mark.skipif(not can_fork("cpu"), reason="needs fork")


class CountingBar:
    def __init__(self) -> None:
        self.n = 0

    def update(self, n=1) -> None:
        self.n += n

    def set_description(self, desc=None, refresh=True) -> None:
        pass


def square_job(value: int, ticks: int = 3):
    def job(bar):
        for _ in range(ticks):
            time.sleep(0.1)  # long enough for the child to start and take jobs too
            bar.update(1)
        return {"value": torch.tensor([value * value]), "pid": os.getpid()}
    return job


def keep(result):
    return result


def test_results_come_back_in_order_from_both_processes_and_every_tick_reaches_the_bar():
    bar = CountingBar()
    results = run_jobs([square_job(v) for v in range(6)], 2, bar, pack=keep, unpack=lambda index, packed: packed)
    assert [int(r["value"]) for r in results] == [v * v for v in range(6)]
    assert bar.n == 18
    assert len({r["pid"] for r in results}) == 2  # the caller and one child both worked


def test_unpack_sees_the_index_of_the_job_a_child_ran():
    seen = []

    def unpack(index, packed):
        seen.append(index)
        return {**packed, "unpacked": True}

    results = run_jobs([square_job(v, ticks=0) for v in range(4)], 2, CountingBar(), pack=keep, unpack=unpack)
    assert all(results[i].get("unpacked") for i in seen)
    assert all(not r.get("unpacked") for i, r in enumerate(results) if i not in seen)


def test_one_worker_runs_the_jobs_in_this_process():
    results = run_jobs([square_job(v) for v in range(3)], 1, CountingBar(), pack=keep, unpack=keep)
    assert {r["pid"] for r in results} == {os.getpid()}


def failing_in_child(parent: int, error: BaseException):
    def job(bar):
        if os.getpid() != parent:
            raise error
        time.sleep(0.3)  # the child takes a job meanwhile
        return {}
    return job


def test_a_user_error_in_a_child_is_raised_with_its_own_message():
    jobs = [failing_in_child(os.getpid(), DistillError("data.path 'x.csv' does not exist"))] * 8
    with pytest.raises(DistillError, match=r"^data.path 'x.csv' does not exist$"):
        run_jobs(jobs, 2, CountingBar(), pack=keep, unpack=keep)


def test_a_crash_in_a_child_is_raised_with_its_traceback():
    with pytest.raises(RuntimeError, match=r"a training worker failed \(ZeroDivisionError\)"):
        run_jobs([failing_in_child(os.getpid(), ZeroDivisionError("boom"))] * 8, 2, CountingBar(),
                 pack=keep, unpack=keep)


def test_a_child_that_dies_ends_the_run_with_one_line():
    parent = os.getpid()

    def dies(bar):
        if os.getpid() != parent:
            os._exit(9)
        time.sleep(0.3)
        return {}

    with pytest.raises(DistillError, match="ended with exit code 9 before finishing its jobs"):
        run_jobs([dies] * 8, 2, CountingBar(), pack=keep, unpack=keep)


def test_teacher_students_and_final_models_are_the_same_trained_on_two_processes(tiny_forecast):
    from distill.protocols import load_config
    from distill.protocols.forecast.run import run_forecast

    scores, finals = [], []
    for workers in (1, 2):
        run = run_forecast(load_config("covid-lstm", [*tiny_forecast, f"train.workers={workers}"]), show_progress=False)
        scores.append({name: [(o.test, o.curves, o.fidelity) for o in outcomes]
                       for name, outcomes in run.protocol.outcomes.items()})
        finals.append({name: model.state_dict() for name, model in run.final.models.items()})
    assert scores[0] == scores[1]
    assert finals[0].keys() == finals[1].keys() == {"teacher", "student_kd", "student_scratch"}
    for name, state in finals[0].items():
        assert all(torch.equal(state[key], finals[1][name][key]) for key in state), name


CHILD_PRINTS_ITS_PID = """
import os, sys, time
from distill.core.workers import run_jobs
class Bar:
    def update(self, n=1): pass
    def set_description(self, desc=None, refresh=True): pass
parent = os.getpid()
def job(bar):
    if os.getpid() != parent:
        print(os.getpid(), flush=True)
    time.sleep(60)
    return {}
run_jobs([job, job], 2, Bar(), pack=lambda r: r, unpack=lambda i, r: r)
"""


def test_a_killed_run_leaves_no_worker_behind():
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    process = subprocess.Popen([sys.executable, "-c", CHILD_PRINTS_ITS_PID], stdout=subprocess.PIPE, text=True)
    try:
        child = int(process.stdout.readline())
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and "Z" not in _state(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)
    finally:
        process.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_students_of_a_chain_train_link_by_link_and_siblings_together():
    from types import SimpleNamespace as Spec

    from distill.core.workers import student_groups

    students = {"kd": Spec(teacher="teacher"), "scratch": Spec(teacher="teacher"), "ta": Spec(teacher="teacher"),
                "small": Spec(teacher="ta"), "smaller": Spec(teacher="small"), "sibling": Spec(teacher="ta")}
    assert student_groups(students) == [["kd", "scratch", "ta"], ["small"], ["smaller", "sibling"]]

"""The memory of a process and the worker processes it forks, sampled from Linux /proc while it runs
(`TreeSampler`, `measured_run`); used by bench_profile_forecast.py --cli and bench_rolling.py."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.1


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = Path(f"/proc/{current}/task").iterdir()
            pending += [int(child) for task in tasks for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree_memory_kb(pid: int) -> tuple[int, int]:
    """(sum of Pss, sum of Rss) in kB over the process tree at `pid`: Pss shares each copy-on-write page among
    the processes holding it (what the tree takes from the machine); Rss counts such a page in every process."""
    pss = rss = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("Pss", "Rss"):
                    amount = int(value.split()[0])
                    pss, rss = (pss + amount, rss) if key == "Pss" else (pss, rss + amount)
        except OSError:
            continue
    return pss, rss


class TreeSampler(threading.Thread):
    """Samples the tree's memory every `SAMPLE_SECONDS` until stopped; keeps the peaks (a spike shorter than the
    interval can be missed)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_pss, self.peak_rss, self.most_processes = pid, 0, 0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            pss, rss = _tree_memory_kb(self.pid)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.most_processes = max(self.most_processes, len(_tree(self.pid)))


@dataclass
class MeasuredRun:
    """One command run to its end: wall seconds, the kernel's resource usage of it and its descendants
    (`ru_maxrss`: the largest single process), and the sampled memory of its process tree."""

    wall: float
    usage: os.struct_rusage  # type: ignore[name-defined]
    sampler: TreeSampler


def measured_run(command: list[str], env: dict[str, str]) -> MeasuredRun:
    """Run `command` (output discarded), sampling its process tree's memory; exits with its error if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    sampler = TreeSampler(process.pid)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    sampler.stopped.set()
    sampler.join()
    if status:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return MeasuredRun(wall, usage, sampler)

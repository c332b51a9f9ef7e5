"""Independent training loops on several processes: `train.workers: N` (`run_jobs`).

A run's independent training units - an ensemble's copies; the students that learn from models already trained, in
cross-validation and in the final fit - each build their models from their own seed (`torch.manual_seed` right
before building them) and draw their batch order and augmentations from their own generators, so they give the same
numbers whichever process trains them and in whatever order. `run_jobs` forks `N - 1` child processes (the calling
process works too); every process takes the next job from a shared counter (the caller lists the longest first),
trains with torch at one thread, and a child sends its result back as plain data (tensors, lists, dicts:
`torch.save` bytes read with `weights_only=True`) through a pipe. Progress ticks of the children reach the caller's
bar as they happen; a child's error is raised in the caller with its own message; a child that dies (killed, out of
memory) ends the run with a one-line error, every child is stopped when the caller fails, and a child dies with its
parent. A child maps its large blocks on their own (freed at once).

Why processes, not threads: dropout draws on torch's one global generator, so threads would interleave their
draws and lose reproducibility. Why it pays: at these model sizes one torch thread is the efficient setting
(`train.threads`), which leaves the second core idle; two one-thread processes use both without the spinning of
a two-thread pool, and on a busy machine they degrade as two ordinary processes do. The memory cost is what the
child adds to the pages it shares with its parent (copy-on-write): `benchmarks/bench_profile_forecast.py --cli`
prints the process tree's proportional set size.

Falls back to training one job after another - with the same results - for one worker or one job, where `fork`
does not exist, inside a `torch.distributed` process group (one process per rank already) and on an accelerator
(a CUDA context does not survive a fork).
"""
from __future__ import annotations

import io
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch
import torch.distributed as dist

from distill.core.memory import c_library, map_large_allocations, release_freed_memory
from distill.core.run_log import run_log
from distill.errors import DistillError

POLL_SECONDS = 0.5  # how often a waiting caller checks that its children are alive
PR_SET_PDEATHSIG = 1  # linux/prctl.h
CHILD_MMAP_THRESHOLD = 1 << 20  # a child maps blocks over 1 MB on their own, freed at once (docs/speed.md section 7)


class Bar(Protocol):
    """The part of a tqdm bar that training loops use."""

    def update(self, n: float | None = 1) -> Any: ...

    def set_description(self, desc: str | None = None, refresh: bool | None = True) -> Any: ...


Job = Callable[[Bar], Any]


def can_fork(device: torch.device | str) -> bool:
    """Whether jobs may train in forked processes here (see the module docstring)."""
    in_group = dist.is_available() and dist.is_initialized()
    return "fork" in multiprocessing.get_all_start_methods() and not in_group and torch.device(device).type == "cpu"


def run_jobs(jobs: Sequence[Job], workers: int, bar: Bar, pack: Callable[[Any], Any],
             unpack: Callable[[int, Any], Any], device: torch.device | str = "cpu") -> list[Any]:
    """Every job's result, in the jobs' order; each job is called with a progress bar. With `workers > 1`
    (see the module docstring) up to `workers` processes run them at once: a child sends `pack(result)` (plain
    data: tensors, numbers, strings, lists and dicts of them) and the caller keeps `unpack(job's index, packed)`;
    the jobs the caller ran itself are kept as they are."""
    count = min(workers, len(jobs))
    if count <= 1 or not can_fork(device):
        return [job(bar) for job in jobs]
    return _Pool(jobs, count, bar, pack, unpack).run()


def student_groups(students: Mapping[str, Any]) -> list[list[str]]:
    """Students (name -> spec with a `teacher`) in order, in runs that may train at once: none of a run learns
    from another student of the same run (a teacher-assistant chain trains link by link)."""
    groups: list[list[str]] = []
    for name, spec in students.items():
        if groups and spec.teacher not in groups[-1]:
            groups[-1].append(name)
        else:
            groups.append([name])
    return groups


class _RelayBar:
    """A child's progress bar: every tick goes to the caller's bar through the queue."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def update(self, n: float | None = 1) -> None:
        self.queue.put(("tick", n))

    def set_description(self, desc: str | None = None, refresh: bool | None = True) -> None:
        pass


class _DrainingBar:
    """The caller's bar while children run: each of its own ticks also takes in what the children sent."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool

    def update(self, n: float | None = 1) -> None:
        self.pool.bar.update(n)
        self.pool.drain()

    def set_description(self, desc: str | None = None, refresh: bool | None = True) -> None:
        self.pool.bar.set_description(desc, refresh)


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when its parent dies (Linux `prctl(PR_SET_PDEATHSIG)`), so a killed run
    leaves no worker training on and holding its output folder's lock; elsewhere the parent's exit ends it."""
    libc = c_library()
    if libc is None or not hasattr(libc, "prctl"):  # not Linux
        return
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call took effect
        os._exit(1)


def _to_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


class _Pool:
    def __init__(self, jobs: Sequence[Job], count: int, bar: Bar, pack: Callable[[Any], Any],
                 unpack: Callable[[int, Any], Any]) -> None:
        context = multiprocessing.get_context("fork")
        self.jobs, self.bar, self.pack, self.unpack = jobs, bar, pack, unpack
        self.counter = context.Value("i", 0)
        self.queue = context.SimpleQueue()
        self.results: dict[int, Any] = {}
        self.exited: set[int] = set()
        self.parent = os.getpid()
        self.children = [context.Process(target=self._child, daemon=True) for _ in range(count - 1)]

    def _next(self) -> int | None:
        with self.counter.get_lock():
            index = self.counter.value
            if index >= len(self.jobs):
                return None
            self.counter.value = index + 1
            return index

    def _child(self) -> None:
        _die_with(self.parent)
        torch.set_num_threads(1)
        map_large_allocations(CHILD_MMAP_THRESHOLD)
        relay = _RelayBar(self.queue)
        try:
            while (index := self._next()) is not None:
                self.queue.put(("done", index, _to_bytes(self.pack(self.jobs[index](relay)))))
        except BaseException as error:  # noqa: BLE001 - every failure is reported to the caller
            message = str(error) if isinstance(error, DistillError) else traceback.format_exc()
            self.queue.put(("error", type(error).__name__, message, isinstance(error, DistillError)))
        finally:
            log = run_log()
            if log is not None:
                self.queue.put(("log", log.rows))
                log.close()
            self.queue.put(("exit", os.getpid()))

    def drain(self) -> None:
        """Take in every message the children have sent so far."""
        while not self.queue.empty():
            self._take(self.queue.get())

    def _take(self, message: tuple) -> None:
        kind = message[0]
        if kind == "tick":
            self.bar.update(message[1])
        elif kind == "done":
            self.results[message[1]] = self.unpack(message[1], torch.load(io.BytesIO(message[2]), weights_only=True))
        elif kind == "log":
            log = run_log()
            if log is not None:
                log.merge(message[1])
        elif kind == "exit":
            self.exited.add(message[1])
        else:
            _, name, text, user_error = message
            raise DistillError(text) if user_error else RuntimeError(f"a training worker failed ({name}):\n{text}")

    def run(self) -> list[Any]:
        release_freed_memory()  # what the parent freed is not carried into the children's share of the pages
        for child in self.children:
            child.start()
        try:
            mine = _DrainingBar(self)
            while (index := self._next()) is not None:
                self.results[index] = self.jobs[index](mine)
            self._wait()
        finally:
            for child in self.children:
                if child.is_alive():
                    child.terminate()
                child.join()
        return [self.results[index] for index in range(len(self.jobs))]

    def _wait(self) -> None:
        while len(self.exited) < len(self.children):
            self.drain()
            for child in self.children:
                child.join(timeout=POLL_SECONDS / len(self.children))
                if child.exitcode is not None and child.pid not in self.exited and self.queue.empty():
                    raise DistillError(f"a training worker process (train.workers) ended with exit code "
                                       f"{child.exitcode} before finishing its jobs (out of memory?)")
        self.drain()

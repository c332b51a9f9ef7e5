"""Resuming a killed run (`distill run ... --resume --out DIR`) from its last saved epoch.

While a run trains, every training loop (`distill.core.train.fit`, `distill.core.fold_parallel.fit_stacked`:
every model, every fold, a fold-parallel stack as one unit) writes a checkpoint at each epoch end, atomically,
into `.<DIR name>.resume/` beside the output folder: the model and optimiser state, the shuffling generators,
torch's global RNG (dropout), the epoch, whether early stopping ended the loop, and the caller's own state
(curves, best-epoch weights). A unit is named by what it trains, (role, fold, member) - `UnitKey` - not by
the order of the calls, so an extra training loop does not shift the others. With --resume, a unit whose
checkpoint says it is done is loaded instead of trained, an unfinished one continues from its last epoch,
and the rest train as usual: the same steps with the same random numbers as an uninterrupted run, so the
same results. To keep the cost small, a loop saves at its end and otherwise at most once every
`DISTILL_CHECKPOINT_SECONDS` seconds (environment, default 1; 0 saves every epoch): a killed run loses at most
that much training. The folder is deleted when the run is published; a run without
--resume discards an earlier one. The recipe (config.yaml text) is kept there so that --resume with another
recipe or other settings is refused.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from distill.errors import DistillError

FINGERPRINT = "config.yaml"
UnitKey = tuple[str, int | str, int]  # (role: "teacher", a student's name...; fold index or "stack"; member)
INTERVAL_VARIABLE = "DISTILL_CHECKPOINT_SECONDS"


def save_interval() -> float:
    text = os.environ.get(INTERVAL_VARIABLE, "1")
    try:
        return max(0.0, float(text))
    except ValueError:
        raise DistillError(f"{INTERVAL_VARIABLE}={text!r} is not a number of seconds") from None


def resume_folder(out_dir: Path) -> Path:
    """`.<name>.resume` beside `out_dir`: where a run's epoch checkpoints live until it is published."""
    return out_dir.parent / f".{out_dir.name}.resume"


class ResumeStore:
    """The checkpoints of one run; `unit(key)` hands out a training unit's file, once per key."""

    def __init__(self, folder: Path, fingerprint: str, resume: bool) -> None:
        self.folder, self.interval = folder, save_interval()
        self.given: set[UnitKey] = set()
        saved = folder / FINGERPRINT
        if resume and saved.is_file():
            if saved.read_text(encoding="utf-8") != fingerprint:
                raise DistillError(f"--resume: the interrupted run in {folder} used other settings; run the same "
                                   "recipe and --set options, or drop --resume to start again")
        else:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic_bytes(saved, fingerprint.encode("utf-8"))

    def unit(self, key: UnitKey) -> Unit:
        if key in self.given:
            raise RuntimeError(f"training unit {key} was handed out twice in one run")
        self.given.add(key)
        role, fold, member = key
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in role)
        return Unit(self.folder / f"unit-{safe}-fold{fold}-member{member}.pt", self.interval)


class Unit:
    """One training loop's checkpoint file."""

    def __init__(self, path: Path, interval: float = 0.0) -> None:
        self.path, self.interval, self.last = path, interval, time.monotonic()

    def due(self, final: bool) -> bool:
        """Whether this epoch end is saved: the loop's last one always, others once `interval` has passed."""
        return final or time.monotonic() - self.last >= self.interval

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=False)

    def save(self, state: dict) -> None:
        temporary = self.path.with_suffix(".tmp")
        torch.save(state, temporary)
        os.replace(temporary, self.path)
        self.last = time.monotonic()


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


_active: ResumeStore | None = None


def unit_for(key: UnitKey | None) -> Unit | None:
    """The checkpoint of the training unit `key`, or None when no run is checkpointing (library use, several
    processes) or the loop has no key."""
    from distill.core.distributed import current_world

    if key is None or _active is None or current_world().size > 1:
        return None
    return _active.unit(key)


@contextmanager
def checkpointing(out_dir: Path, fingerprint: str, resume: bool) -> Iterator[None]:
    """Checkpoint every training loop of the block. The checkpoints are deleted when the block ends normally or
    with a user error (running again would fail the same way); a kill, Ctrl-C or a crash leaves them to resume."""
    global _active
    store = ResumeStore(resume_folder(out_dir), fingerprint, resume)
    _active = store
    try:
        yield
    except DistillError:
        shutil.rmtree(store.folder, ignore_errors=True)
        raise
    finally:
        _active = None
    shutil.rmtree(store.folder, ignore_errors=True)


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])


def rng_state() -> dict:
    state: dict[str, torch.Tensor | list[torch.Tensor]] = {"rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state

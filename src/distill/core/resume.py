"""Resuming a killed run (`distill run ... --resume --out DIR`) from its last saved epoch.

While a run trains, every training loop (`distill.core.train.fit`, `distill.core.fold_parallel.fit_stacked`:
every model, every fold, a fold-parallel stack as one unit) writes a checkpoint at each epoch end, atomically,
into `.<DIR name>.resume/` beside the output folder: the model and optimiser state, the shuffling generators,
torch's global RNG (dropout), the epoch, whether early stopping ended the loop, and the caller's own state
(curves, best-epoch weights). A unit is named by what it trains, (role, fold, member) - `UnitKey` - not by
the order of the calls, so an extra training loop does not shift the others. With --resume, a unit whose
checkpoint says it is done is loaded instead of trained, an unfinished one continues from its last epoch, and
the rest train as usual: the same steps with the same random numbers as an
uninterrupted run, so the same results. To keep the cost small, a loop saves at its end and otherwise at most once
every `DISTILL_CHECKPOINT_SECONDS` seconds (environment, default 1; 0 saves every epoch): a killed run loses
at most that much training. The folder is deleted when the run is published; a run without
--resume discards an earlier one (and says so). Its fingerprint (`run_fingerprint`: the config.yaml text, the size
and SHA-256 of every data file the config names - of a data folder, its files' names, sizes and modification
times -, distill's version and a hash of its source) is kept there, so
that --resume with another recipe, other settings, changed data or another distill is refused.

A checkpoint holds tensors and plain containers only (dicts, lists, numbers, strings: `plain`) and is read with
`torch.load(weights_only=True)`, so a planted file in the folder cannot run code: it is refused in one line.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from distill.config import Section, config_to_yaml
from distill.errors import DistillError
from distill.io.atomic import write_failed
from distill.io.run_folder import notice

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


DATA_KEYS = ("path", "csv", "checkpoint")  # config keys that name the files a run reads
CODE_MARK, DATA_MARK = "# distill code: ", "# data: "


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"{path.stat().st_size} bytes, sha256 {digest.hexdigest()}"


def _folder_digest(folder: Path) -> str:
    """A folder of data (image classes, MNIST files): every file's relative name, size and modification time
    (hashing gigabytes of images at every run start would cost more than a resume saves)."""
    digest, count = hashlib.sha256(), 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        status = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
        count += 1
    return f"{count} files, names/sizes/times sha256 {digest.hexdigest()}"


def data_fingerprint(value: object, key: str = "") -> list[str]:
    """One line per data file or folder the config names (under the keys in `DATA_KEYS`)."""
    if isinstance(value, dict):
        return [line for name, item in value.items() for line in data_fingerprint(item, f"{key}{name}.")]
    name = key.rstrip(".")
    if not isinstance(value, str) or name.rsplit(".", 1)[-1] not in DATA_KEYS:
        return []
    path = Path(value)
    if path.is_file():
        return [f"{DATA_MARK}{name} = {value}: {_file_digest(path)}"]
    if path.is_dir():
        return [f"{DATA_MARK}{name} = {value}: {_folder_digest(path)}"]
    return []


def code_fingerprint() -> str:
    """distill's version and a SHA-256 of its Python source and recipes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("distill")
    except PackageNotFoundError:
        installed = "unknown"

    package = Path(__file__).resolve().parent.parent  # the distill package
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        digest.update(f"{path.relative_to(package)}\0".encode() + path.read_bytes())
    return f"{CODE_MARK}{installed}, source sha256 {digest.hexdigest()}"


def run_fingerprint(config: Section) -> str:
    """What must not change between a killed run and its --resume: the resolved config.yaml, the data files it
    names (size and content) and the code."""
    lines = data_fingerprint(config.model_dump(mode="json"))
    return "\n".join([config_to_yaml(config).rstrip("\n"), *lines, code_fingerprint()]) + "\n"


def _difference(saved: str, current: str) -> str:
    """What changed between two fingerprints, for the refusal."""
    def part(text: str, mark: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith(mark)]
    if part(saved, CODE_MARK) != part(current, CODE_MARK):
        return "another version of distill (its code changed)"
    changed = sorted(set(part(current, DATA_MARK)) - set(part(saved, DATA_MARK)))
    if changed:
        return f"other data ({changed[0][len(DATA_MARK):].split(':')[0]} changed)"
    return "other settings; run the same recipe and --set options"


class ResumeStore:
    """The checkpoints of one run; `unit(key)` hands out a training unit's file, once per key."""

    def __init__(self, folder: Path, fingerprint: str, resume: bool) -> None:
        self.folder, self.interval = folder, save_interval()
        self.given: set[UnitKey] = set()
        saved = folder / FINGERPRINT
        if resume and saved.is_file():
            text = saved.read_text(encoding="utf-8", errors="replace")
            if text != fingerprint:
                raise DistillError(f"--resume: the interrupted run in {folder} used {_difference(text, fingerprint)}"
                                   "; drop --resume to start again")
        else:
            if resume:
                notice(f"--resume: no interrupted run to continue in {folder}; training from the start")
            elif folder.exists():
                units = len(list(folder.glob("unit-*.pt")))
                notice(f"discarded {folder}, the checkpoints of an interrupted run ({units} training loops); "
                       "--resume would have continued it")
            shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomic_bytes(saved, fingerprint.encode("utf-8"))
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise write_failed(saved, error) from None

    def unit(self, key: UnitKey) -> Unit:
        if key in self.given:
            raise RuntimeError(f"training unit {key} was handed out twice in one run")
        self.given.add(key)
        role, fold, member = key
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in role)
        return Unit(self.folder / f"unit-{safe}-fold{fold}-member{member}.pt", self.interval)


class Unit:
    """One training loop's checkpoint file (`prefix` and `advice` word a refused file for the CLI's --resume)."""

    prefix = "--resume: "

    def advice(self) -> str:
        return f"Delete {self.path.parent} or drop --resume to start again"

    def __init__(self, path: Path, interval: float = 0.0) -> None:
        self.path, self.interval, self.last = path, interval, time.monotonic()

    def due(self, final: bool) -> bool:
        """Whether this epoch end is saved: the loop's last one always, others once `interval` has passed."""
        return final or time.monotonic() - self.last >= self.interval

    def load(self) -> dict | None:
        """The saved state, read without running code (`weights_only=True`); anything else is one line."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # UnpicklingError for a planted object, RuntimeError/EOFError for a cut file
            first = (str(error).strip().splitlines() or [type(error).__name__])[0].split(". ")[0][:120]
            raise DistillError(f"{self.prefix}{self.path} is not a checkpoint distill wrote ({first}); nothing in it "
                               f"was run. {self.advice()}") from None
        if not isinstance(state, dict) or not SAVED_KEYS <= set(state):
            raise DistillError(f"{self.prefix}{self.path} is not a checkpoint distill wrote (it lacks "
                               f"{', '.join(sorted(SAVED_KEYS))}). {self.advice()}")
        return state

    def save(self, state: dict) -> None:
        temporary = self.path.with_suffix(".tmp")
        try:
            torch.save(plain(state), temporary)
            os.replace(temporary, self.path)
        except (OSError, RuntimeError) as error:  # a full disk: torch.save raises RuntimeError("unexpected pos")
            temporary.unlink(missing_ok=True)
            raise write_failed(self.path, error) from None
        self.last = time.monotonic()


SAVED_KEYS = {"model", "optimizer", "generators", "rng", "epoch", "stopped", "extra"}


def plain(value: object) -> object:
    """`value` as tensors, numbers, strings, None and dicts / lists / tuples of them: what `weights_only=True`
    reads back (numpy scalars become Python numbers, numpy arrays tensors). Anything else is a programming
    error, raised when saving rather than when a resumed run cannot read its checkpoint."""
    if isinstance(value, np.generic):  # first: numpy's float64 is also a float
        return value.item()
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    raise TypeError(f"a resume checkpoint cannot hold a {type(value).__name__}")


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

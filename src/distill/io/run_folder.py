"""A run's output folder never mixes two runs.

Before any training the folder is checked (`check_out_dir`: a new folder, an empty one or an earlier distill
run's, in a writable place) and claimed with a lock beside it (`claim_run_folder`), so a second run into the
same folder is refused at once. The writer builds the run in a temporary sibling folder (`staging_folder`) and
moves it into place only when every file is written (`publish`): until then an earlier complete run stays
whole, and a crash leaves it untouched. The lock is an flock on `.<name>.lock`: the kernel releases it when the
process dies, even by SIGKILL, so a killed run never blocks the next one.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from distill.errors import DistillError

RUN_ENTRIES = re.compile(r"(results\.json|config\.yaml|report\.md|[^/]*\.png|models)")
SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))


def default_out_dir(recipe: str) -> Path:
    """`runs/<recipe>-<timestamp>`; a recipe name is reduced to letters, digits, '.', '_' and '-' (no leading
    dot), so no name can steer the folder outside `runs/`."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", recipe).lstrip(".-") or "run"
    return Path("runs") / f"{safe}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def permissions(mode: int) -> int:
    """`mode` under the process umask (0o777 -> 0o755 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_out_dir(out_dir: Path) -> None:
    """Raise DistillError unless `out_dir` can take a run: not a file, not under /proc, /sys or /dev, holding
    nothing but an earlier run's files, inside a folder this process may write."""
    resolved = out_dir.resolve()
    for tree in SYSTEM_TREES:
        if resolved == tree or tree in resolved.parents:
            raise DistillError(f"--out {out_dir} is inside {tree}, a system folder; choose a folder of your own")
    if out_dir.exists() and not out_dir.is_dir():
        raise DistillError(f"--out {out_dir} is an existing file; give a folder (new, empty or an earlier run's)")
    if out_dir.is_dir():
        foreign = sorted(entry.name for entry in out_dir.iterdir() if not RUN_ENTRIES.fullmatch(entry.name))
        if foreign:
            raise DistillError(f"--out {out_dir} holds files that are not a distill run's ({', '.join(foreign[:3])}"
                               f"{', ...' if len(foreign) > 3 else ''}); a run replaces its whole folder, so "
                               "choose a new or empty folder")
    ancestor = _existing_ancestor(resolved.parent)
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise DistillError(f"--out {out_dir}: {ancestor} is not a writable folder")


def _lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.lock"


@contextmanager
def claim_run_folder(out_dir: Path) -> Iterator[None]:
    """Check `out_dir` and hold its lock for the block; a folder another live run holds is refused."""
    check_out_dir(out_dir)
    lock = _lock_path(out_dir)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(lock, os.O_RDWR | os.O_CREAT, permissions(0o666))
    except OSError as error:
        raise DistillError(f"--out {out_dir}: cannot create the run folder ({error.strerror})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DistillError(f"--out {out_dir} is in use by another run (lock {lock}); wait for it to finish "
                               "or choose another folder") from None
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still locked: a waiting run then creates a fresh lock file
        os.close(handle)


def staging_folder(out_dir: Path) -> Path:
    """A new, empty, temporary sibling of `out_dir` (`.<name>.<random>.tmp`, usual permissions)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    staging.chmod(permissions(0o777))
    return staging


def publish(staging: Path, out_dir: Path) -> None:
    """Move the finished run into place: an earlier run at `out_dir` is set aside, replaced, then deleted."""
    previous = None
    if out_dir.exists():
        previous = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old.", suffix=".tmp"))
        os.replace(out_dir, previous / "run")
    os.replace(staging, out_dir)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)

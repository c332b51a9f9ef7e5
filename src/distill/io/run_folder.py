"""A run's output folder never mixes two runs.

Before any training the folder is checked (`check_out_dir`: a new folder, an empty one or an earlier distill run's,
in a writable place) and claimed with a lock beside it (`claim_run_folder`), so a second run into the same folder
is refused at once. The writer builds the run in a temporary sibling folder (`staging_folder`) and moves it into
place only when every file is written (`publish`): until then an earlier complete run stays whole, and a crash
leaves it untouched; the new folder keeps the earlier one's mode (and, for root, its owner). The lock is an flock
on `.<name>.lock`: the kernel releases it when the process dies, even by SIGKILL, so a killed run never blocks the
next one (a forked child closes its copy of the descriptor). Only the run holding the lock removes the lock file,
and a run whose lock file was replaced while it waited tries again, so a third run is refused like the second. What
a killed run left (its lock, its staging folders `.<name>.<random>.tmp`) is cleared by the next run that holds the
lock, which says so on stderr. `--out` may not be a symbolic link (the run would replace the link, not write where
it points), end in `..` or `.`, or have a name longer than `MAX_NAME_BYTES`.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from distill.errors import DistillError

RUN_ENTRIES = re.compile(r"(results\.json|config\.yaml|report\.md|[^/]*\.png|models)")
SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))
RANDOM = "[a-z0-9_]{8}"  # the random part of tempfile.mkdtemp's names
MAX_NAME_BYTES = 255 - len(".") - len(".old-xxxxxxxx.tmp")  # the longest sibling distill makes fits in 255 bytes


def notice(text: str) -> None:
    """A line on stderr about something distill did that the user did not ask for."""
    print(f"distill: {text}", file=sys.stderr)


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
    if out_dir.name in ("", ".", ".."):
        raise DistillError(f"--out {str(out_dir) or repr('')} does not name a folder; give the run folder's own name "
                           "(e.g. runs/my-run)")
    too_long = [part for part in out_dir.parts if len(os.fsencode(part)) > 255]
    if too_long or len(os.fsencode(out_dir.name)) > MAX_NAME_BYTES:
        part = too_long[0] if too_long else out_dir.name
        raise DistillError(f"--out: the name {part[:40]}... is {len(os.fsencode(part))} bytes; a run folder's name "
                           f"is at most {MAX_NAME_BYTES} bytes (and every folder above it at most 255)")
    if out_dir.is_symlink():
        raise DistillError(f"--out {out_dir} is a symbolic link (to {os.readlink(out_dir)}); a run replaces its folder "
                           "whole, so give the folder itself")
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


def _open_lock(out_dir: Path, lock: Path) -> tuple[int, bool]:
    """The lock file's descriptor, and whether the file was already there (left by a killed run, or in use)."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, permissions(0o666)), False
        except FileExistsError:
            return os.open(lock, os.O_RDWR), True
    except FileNotFoundError:  # removed between the two opens by the run that held it: try again
        return _open_lock(out_dir, lock)
    except OSError as error:
        raise DistillError(f"--out {out_dir}: cannot create the run folder ({error.strerror})") from None


def _acquire(out_dir: Path, lock: Path) -> tuple[int, bool]:
    """Hold the flock on the file now at `lock`: a file the previous holder unlinked while this run opened it is
    let go and the new one tried, so two runs never hold two different lock files of one folder."""
    while True:
        handle, existed = _open_lock(out_dir, lock)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise DistillError(f"--out {out_dir} is in use by another run (lock {lock}); wait for it to finish "
                               "or choose another folder") from None
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(handle).st_ino:
            return handle, existed
        os.close(handle)


def _clear_leftovers(out_dir: Path, stale_lock: bool) -> None:
    """Remove the staging folders a killed run left beside `out_dir` (this run holds the lock, so no live run
    owns them) and say what was found."""
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(old-)?{RANDOM}\.tmp")
    found = [entry for entry in out_dir.parent.iterdir() if pattern.fullmatch(entry.name)] \
        if out_dir.parent.is_dir() else []
    for entry in found:
        if entry.is_dir() and not entry.is_symlink():
            size = sum(path.lstat().st_size for path in entry.rglob("*"))
            shutil.rmtree(entry, ignore_errors=True)
        else:
            size = entry.lstat().st_size
            entry.unlink(missing_ok=True)
        notice(f"removed {entry} ({size / 1e6:.1f} MB), the unfinished output of an interrupted run")
    if stale_lock and not found and not out_dir.parent.joinpath(f".{out_dir.name}.resume").exists():  # else said there
        notice(f"took over the lock {_lock_path(out_dir)} of an interrupted run (the earlier run at {out_dir}, if "
               "any, is whole)")


_held_locks: set[int] = set()  # this process's lock descriptors, which a forked child must not keep


def _close_held_locks_in_child() -> None:
    """A forked child (a training worker, a data loader) closes its copies of the lock descriptors: the flock
    stays with the parent, and a child that outlives a killed parent for a moment does not hold the folder."""
    for handle in _held_locks:
        try:
            os.close(handle)
        except OSError:
            pass
    _held_locks.clear()


os.register_at_fork(after_in_child=_close_held_locks_in_child)


@contextmanager
def claim_run_folder(out_dir: Path) -> Iterator[None]:
    """Check `out_dir` and hold its lock for the block; a folder another live run holds is refused. Leftovers of
    a killed run are cleared (and reported) once the lock is held."""
    check_out_dir(out_dir)
    lock = _lock_path(out_dir)
    handle, existed = _acquire(out_dir, lock)
    _held_locks.add(handle)
    try:
        _clear_leftovers(out_dir, existed)
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still locked: a waiting run then creates a fresh lock file
        _held_locks.discard(handle)
        os.close(handle)


def staging_folder(out_dir: Path) -> Path:
    """A new, empty, temporary sibling of `out_dir` (`.<name>.<random>.tmp`, usual permissions)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    staging.chmod(permissions(0o777))
    return staging


def _keep_owner_and_mode(earlier: Path, staging: Path) -> None:
    """The new run folder gets the earlier one's mode and, when distill runs as root, its owner (every file)."""
    status = earlier.stat()
    staging.chmod(status.st_mode & 0o7777)
    if os.geteuid() == 0 and (status.st_uid, status.st_gid) != (0, 0):
        for path in [staging, *staging.rglob("*")]:
            os.lchown(path, status.st_uid, status.st_gid)


def publish(staging: Path, out_dir: Path) -> None:
    """Move the finished run into place: an earlier run at `out_dir` is set aside, replaced, then deleted."""
    previous = None
    if out_dir.exists():
        _keep_owner_and_mode(out_dir, staging)
        previous = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-", suffix=".tmp"))
        os.replace(out_dir, previous / "run")
    os.replace(staging, out_dir)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)

"""Atomic file writes: write beside the target under a temporary name, then rename over it.

A crash, an error or Ctrl-C mid-write leaves the old file (if any) untouched and no partial file behind.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pandas as pd

from distill.errors import DistillError

FULL_BYTES = 1 << 20  # less free space than this where a write failed: the disk is full


def write_failed(path: str | os.PathLike, error: Exception) -> DistillError:
    """One line for a write that failed: an OSError (disk full, quota, read-only, ...) or torch.save's
    RuntimeError, which hides ENOSPC behind "unexpected pos ..."."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        full = shutil.disk_usage(where).free < FULL_BYTES
    except OSError:
        full = False
    if full or getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the device"
    elif isinstance(error, OSError):
        reason = error.strerror or str(error)
    else:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return DistillError(f"cannot write {path}: {reason}")


def _file_mode() -> int:
    """0o666 under the process umask: 0644 under the usual 022."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **options) -> Iterator[IO]:
    """Open a temporary file next to `path`; rename it onto `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, _file_mode())  # mkstemp makes 0600; a result is for others to read too (0644)
        with os.fdopen(handle, mode, **options) as out:
            yield out
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path) as out:
        out.write(text)
    return Path(path)


def write_csv_atomic(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    with atomic_open(path, newline="") as out:
        frame.to_csv(out, index=False)
    return Path(path)


def download_atomic(url: str, path: str | os.PathLike, timeout: float = 60.0) -> Path:
    """Stream `url` into `path`; raises urllib/OS errors for the caller to word."""
    with atomic_open(path, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        shutil.copyfileobj(response, out, 1 << 20)
    return Path(path)

"""Your own data as tensors: a `.pt` (torch.save of a dict) or `.npz` (numpy.savez) file holding `x`, `y` and,
optionally, `privileged` (inputs only the teacher sees), each with one row per example.

    torch.save({"x": x, "y": y}, "mine.pt")        # then data.source: tensors, data.path: mine.pt
    distill.data.tensors.tensor_dataset("mine.pt")  # or a TensorDataset for distill.Distiller

`.pt` files are read with `torch.load(..., weights_only=True)` and `.npz` files without pickles, so a data
file cannot run code.
"""
from __future__ import annotations

import os
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from distill.errors import DistillError

KEYS = ("x", "y", "privileged")


def regular_file(path: Path, what: str = "data file") -> Path:
    """`path`, if it is a regular file (or a link to one); else one line saying what it is instead."""
    if path.is_file():
        return path
    if not path.exists() and not path.is_symlink():
        raise DistillError(f"{what} {path} not found")
    target = f" (a link to {os.path.realpath(path)})" if path.is_symlink() else ""
    mode = path.stat().st_mode if path.exists() else 0
    kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a broken link")
    raise DistillError(f"{what} {path}{target} is {kind}, not a regular file")


def _read(path: Path) -> dict:
    regular_file(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                return {key: torch.from_numpy(arrays[key]) for key in arrays.files}
        if path.suffix == ".pt":
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, ValueError, RuntimeError, EOFError, OSError) as error:
        raise DistillError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    raise DistillError(f"data file {path} must end in .pt (torch.save of a dict) or .npz (numpy.savez)")


def load_tensors(path: str | Path, task: str = "classification",
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x float32, y, privileged float32 or None) from the file; y int64 class indices for classification,
    float32 for regression. One-line errors name the file and what is wrong."""
    path = Path(path)
    saved = _read(path)
    if not isinstance(saved, dict) or not {"x", "y"} <= set(saved):
        found = ", ".join(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
        raise DistillError(f"{path} must hold a dict with keys x and y (and optionally privileged); found {found}")
    unknown = sorted(set(saved) - set(KEYS))
    if unknown:
        raise DistillError(f"{path} holds unknown key {unknown[0]!r}; allowed: {', '.join(KEYS)}")
    x, y, privileged = (torch.as_tensor(saved[key]) if key in saved else None for key in KEYS)
    for name, value in (("y", y), ("privileged", privileged)):
        if value is not None and len(value) != len(x):
            raise DistillError(f"{path}: {name} has {len(value)} rows, x has {len(x)}; one row per example")
    if task == "classification":
        if y.dtype.is_floating_point and not torch.equal(y, y.round()) or y.dim() != 1:
            raise DistillError(f"{path}: y must be a vector of class indices 0..C-1, got {y.dtype} {tuple(y.shape)}")
        y = y.long()
        if len(y) and int(y.min()) < 0:
            raise DistillError(f"{path}: y must be class indices 0..C-1, found {int(y.min())}")
        if len(torch.unique(y)) < 2:
            raise DistillError(f"{path}: y holds {len(torch.unique(y))} class; a classifier needs at least 2")
    else:
        y = y.float()
    if not torch.isfinite(x.float()).all():
        raise DistillError(f"{path}: x holds NaN or infinite values; fill or drop them first")
    return x.float(), y, None if privileged is None else privileged.float()


def tensor_dataset(path: str | Path, task: str = "classification") -> TensorDataset:
    """The file as a TensorDataset of (x, y) or (x, y, privileged) rows, ready for a DataLoader."""
    return TensorDataset(*(t for t in load_tensors(path, task) if t is not None))

"""Where tensors live: `resolve_device("auto" | "cpu" | "cuda" | "cuda:N" | "mps")` and moving batches there.

`auto` takes a CUDA GPU when there is one, then Apple's MPS, else the CPU. Asking for a device the machine
does not have is a user error (one line, exit 2 from the CLI), never a silent fall-back to the CPU. Under
a multi-process launch, plain `cuda` means this process's GPU (`LOCAL_RANK`).
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

import torch

from distill.errors import DistillError

DEVICES = "auto, cpu, cuda, cuda:N, mps"


def _cuda(index: int | None) -> torch.device:
    if not torch.cuda.is_available():
        name = "cuda" if index is None else f"cuda:{index}"
        raise DistillError(f"device {name!r} asked for, but this machine has no CUDA GPU (or torch is a CPU "
                           "build); use device cpu or auto")
    if index is None:
        index = int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count()
    if not 0 <= index < torch.cuda.device_count():
        raise DistillError(f"device 'cuda:{index}' asked for, but this machine has {torch.cuda.device_count()} "
                           f"CUDA GPU(s): cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return torch.device("cuda", index)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device a config or caller names; a DistillError for a device this machine lacks."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return _cuda(None)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DistillError("device 'mps' asked for, but Apple's MPS backend is not available here; "
                               "use device cpu or auto")
        return torch.device("mps")
    if name == "cuda":
        return _cuda(None)
    if name.startswith("cuda:") and name[5:].isdigit():
        return _cuda(int(name[5:]))
    raise DistillError(f"unknown device {name!r}; allowed: {DEVICES}")


def to_device(value: Any, device: torch.device) -> Any:
    """A tensor, or tensors nested in tuples, lists and dicts, moved to `device` (other values unchanged)."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=device.type == "cuda")
    if isinstance(value, dict):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(item, device) for item in value)
    return value


def autocast(device: torch.device, enabled: bool):
    """float16 autocast on CUDA when enabled (mixed precision); a no-op context otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (timing a GPU needs it; the CPU runs eagerly)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()

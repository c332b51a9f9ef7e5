"""Intermediate features for feature-based distillation, taken by forward hooks on module paths.

A model's forward is never edited: a `FeatureTap` hooks the module at a dotted path ("layer3",
"body.2") and keeps its latest output. `make_adapter` builds the learned map from the student's channel
count to the teacher's when a feature loss needs equal channels.
"""
from __future__ import annotations

from types import TracebackType
from typing import Any

from torch import nn

from distill.errors import DistillError

LISTED_NAMES = 8


def _available(module: nn.Module) -> str:
    """A few child names of `module`, for error messages."""
    names = [name for name, _ in module.named_children()]
    shown = ", ".join(names[:LISTED_NAMES]) or "(no submodules)"
    return shown + (", ..." if len(names) > LISTED_NAMES else "")


def _deepest_parent(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """The longest prefix of `path` that names a module, with that module."""
    prefix, module = "", model
    for part in path.split("."):
        child = module._modules.get(part)
        if not isinstance(child, nn.Module):
            break
        prefix, module = f"{prefix}.{part}" if prefix else part, child
    return prefix, module


def resolve_module(model: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted `path`; a DistillError listing the names available where the path breaks."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        prefix, parent = _deepest_parent(model, path)
        where = f" in {prefix}" if prefix else ""
        raise DistillError(f"feature path {path!r} names no module in {type(model).__name__}; "
                           f"available{where}: {_available(parent)}") from None


class FeatureTap:
    """Keeps the output of the module at `path` from the latest forward pass in `.value`.

    Use as a context manager, or call `.close()` to remove the hook. The output is kept as the module
    returns it (with its autograd graph, so a student's features can carry a loss); for modules that
    return tuples, such as `nn.LSTM`, `.value` is that tuple.
    """

    def __init__(self, model: nn.Module, path: str) -> None:
        self.path = path
        self.value: Any = None
        self._handle = resolve_module(model, path).register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self.value = output

    def close(self) -> None:
        """Remove the hook; `.value` keeps the last captured output."""
        self._handle.remove()

    def __enter__(self) -> FeatureTap:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def make_adapter(student_channels: int, teacher_channels: int, rank: int) -> nn.Module:
    """A learned per-position linear map from student to teacher channels, for features of `rank` dims.

    rank 4 (batch, channels, H, W): 1x1 Conv2d; rank 3 (batch, channels, length): Conv1d with kernel 1;
    rank 2 (batch, features): Linear. Each has a bias.
    """
    if student_channels < 1 or teacher_channels < 1:
        raise DistillError(f"adapter channel counts must be >= 1, got student {student_channels}, "
                           f"teacher {teacher_channels}")
    if rank == 4:
        return nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
    if rank == 3:
        return nn.Conv1d(student_channels, teacher_channels, kernel_size=1)
    if rank == 2:
        return nn.Linear(student_channels, teacher_channels)
    raise DistillError(f"adapter rank must be 2, 3 or 4 (feature tensor dimensions), got {rank}")

"""The option ranges every model family shares, checked when a config is read and again when a model is built."""
from __future__ import annotations

import math
from typing import TypeGuard

from distill.errors import DistillError

MODEL_SIZES = ("hidden", "layers", "channels", "head", "levels", "depth")  # an int or a list of ints, each >= 1


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_model_option(model: str, option: str, value: object) -> None:
    """The ranges every model family shares, checked when the config is read (before any training) and again
    by `build_model`: sizes (widths, layer counts, channels, depth) are whole numbers >= 1, alone or in a list;
    `dropout` is a probability in [0, 1); `width` (a multiplier) is a finite number > 0."""
    where = f"model {model!r} option {option}"
    if option in MODEL_SIZES:
        sizes = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in sizes):
            raise DistillError(f"{where}: {value!r} is not allowed; sizes are whole numbers >= 1 (or a list of them)")
    elif option == "dropout" and not (_number(value) and 0.0 <= value < 1.0):
        raise DistillError(f"{where}: {value!r} is not allowed; dropout is a probability in [0, 1)")
    elif option == "width" and not (_number(value) and value > 0):
        raise DistillError(f"{where}: {value!r} is not allowed; width is a finite multiplier > 0")

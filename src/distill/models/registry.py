"""The model registry: `@register_model("name")` on a family's class, `build_model(name, ...)` to build one.

A family is a class whose constructor takes `(input_shape, output_dim, **options)`. The registry is filled
when `distill.models` imports the family modules, in the order listed there.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from distill.errors import DistillError

MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make the family buildable as `name` (each name once)."""
    def register(family: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice: {MODELS[name].__name__}, {family.__name__}")
        MODELS[name] = family
        return family
    return register


def build_model(name: str, input_shape: tuple[int, ...], output_dim: int, **options) -> nn.Module:
    """Build a model by registry name; unknown names or options raise a one-line DistillError."""
    if name not in MODELS:
        raise DistillError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
    family = MODELS[name]
    allowed = set(inspect.signature(family).parameters) - {"input_shape", "output_dim"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DistillError(f"model {name!r} has no option {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    return family(tuple(input_shape), output_dim, **options)

"""The model registry: `@register_model("name")` on a family's class, `build_model(name, ...)` to build one.

A family is a class (or function) taking `(input_shape, output_dim, **options)` and returning an nn.Module.
The built-in families register when `distill.models` imports them, in the order listed there; your own
register with the public `@distill.register_model("name")` when your module is imported, or are named in a
config by import path, `model: "package.module:Factory"`, which imports the module itself.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from torch import nn

from distill.config import check_model_option
from distill.errors import DistillError

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator (public as `distill.register_model`): make a family buildable as `name` in configs and
    `build_model` (each name once). The family takes `(input_shape, output_dim, **options)`."""
    def register(family: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if ":" in name:
            raise DistillError(f"model name {name!r} may not contain ':' (that form names an import path)")
        if name in MODELS:
            raise DistillError(f"model {name!r} is registered twice: {MODELS[name].__name__}, {family.__name__}")
        MODELS[name] = family
        return family
    return register


def imported_family(path: str) -> Callable[..., nn.Module]:
    """The factory named `package.module:Factory` (importing the module); one-line errors."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise DistillError(f"model {path!r}: cannot import {module_name!r} ({error}); is it on PYTHONPATH?") from None
    family = getattr(module, attribute, None)
    if not callable(family):
        raise DistillError(f"model {path!r}: module {module_name!r} has no callable {attribute!r}")
    return family


def build_model(name: str, input_shape: tuple[int, ...], output_dim: int, **options) -> nn.Module:
    """Build a model by registry name or `package.module:Factory` path; unknown names or options raise a
    one-line DistillError."""
    if ":" in name:
        family = imported_family(name)
    elif name in MODELS:
        family = MODELS[name]
        for option, value in options.items():
            check_model_option(name, option, value)  # the shared ranges of the built-in families
    else:
        raise DistillError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))} or package.module:Factory")
    parameters = inspect.signature(family).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        allowed = set(parameters) - {"input_shape", "output_dim"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise DistillError(f"model {name!r} has no option {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    model = family(tuple(input_shape), output_dim, **options)
    if not isinstance(model, nn.Module):
        raise DistillError(f"model {name!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model

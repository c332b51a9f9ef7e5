"""The model registry: `@register_model("name")` on a family's class, `build_model(name, ...)` to build one.

A family is a class (or function) taking `(input_shape, output_dim, **options)` and returning an nn.Module.
The built-in families register when `distill.models` imports them, in the order listed there; your own
register with the public `@distill.register_model("name")` when your module is imported, or are named in a
config by import path, `model: "package.module:Factory"`, which imports the module itself: from the import path
as it is and, when the module is not found there, from the recipe file's folder and the current folder (added
to the import path for that one import, so `distill run my.yaml` finds `mypkg/nets.py` beside `my.yaml` or in
the folder it runs from without `PYTHONPATH=.`). The recipe's folder is kept in the environment variable
`DISTILL_RECIPE_FOLDER` (set by `distill.protocols.load_config` for a YAML file), so the ranks of a
multi-process run see it too.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from torch import nn

from distill.errors import DistillError
from distill.model_options import check_model_option

MODELS: dict[str, Callable[..., nn.Module]] = {}
RECIPE_FOLDER = "DISTILL_RECIPE_FOLDER"


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


def model_folders() -> list[str]:
    """Where a model's module is looked for beyond the import path: the recipe's folder, then the current one."""
    recipe = os.environ.get(RECIPE_FOLDER)
    return list(dict.fromkeys(str(Path(folder).resolve()) for folder in (recipe, ".") if folder))


def _import(module_name: str):
    """`module_name` from the import path, else from `model_folders()` (on the path for this import only)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):  # missing inside the module: its own error
            raise
    saved = list(sys.path)
    sys.path[:0] = model_folders()
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path[:] = saved


def imported_family(path: str) -> Callable[..., nn.Module]:
    """The factory named `package.module:Factory` (importing the module, see the module's docstring); one-line
    errors."""
    module_name, _, attribute = path.partition(":")
    try:
        module = _import(module_name)
    except ImportError as error:
        raise DistillError(f"model {path!r}: cannot import {module_name!r} ({error}); looked on the import path "
                           f"and in {', '.join(model_folders())}") from None
    family = getattr(module, attribute, None)
    if not callable(family):
        raise DistillError(f"model {path!r}: module {module_name!r} has no callable {attribute!r}")
    return family


_IMPORTS_REFUSED: ContextVar[str | None] = ContextVar("imports_refused", default=None)


@contextmanager
def refusing_imports(reason: str | None) -> Iterator[None]:
    """Inside, any model named by import path - at the top or nested in another family's options (an ensemble's
    `member`, a shrunk or quantile model's `base`) - is refused with `reason` instead of imported; None allows
    them. A run folder's models are rebuilt inside it, so a results.json cannot run code by nesting a path."""
    token = _IMPORTS_REFUSED.set(reason)
    try:
        yield
    finally:
        _IMPORTS_REFUSED.reset(token)


def build_model(name: str, input_shape: tuple[int, ...], output_dim: int, **options) -> nn.Module:
    """Build a model by registry name or `package.module:Factory` path; unknown names or options raise a
    one-line DistillError."""
    if ":" in name:
        refused = _IMPORTS_REFUSED.get()
        if refused is not None:
            raise DistillError(f"model {name!r}: {refused}")
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

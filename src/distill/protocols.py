"""The protocols a recipe can name, each a config schema and a function that runs and writes it.

A protocol's modules are imported only when a recipe names it, so `distill run covid-lstm` does not
pay for the classification stack (scikit-learn's metrics, image loaders) at start-up.
Adding a protocol is one module (schema + `execute`) and one entry in `PROTOCOLS`.
"""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import NamedTuple

from distill.config import Section, apply_override, read_recipe, validate_config
from distill.errors import DistillError


class Protocol(NamedTuple):
    schema: type[Section]
    execute: Callable[[Section, Path, bool | None], str]


# protocol name -> ("module:schema class", "module:execute function")
PROTOCOLS: dict[str, tuple[str, str]] = {
    "forecast": ("distill.config:ForecastConfig", "distill.forecasting:execute"),
    "lupi-synthetic": ("distill.lupi_recipe:LupiConfig", "distill.lupi_recipe:execute"),
    "privileged": ("distill.privileged_config:PrivilegedConfig", "distill.privileged_report:execute"),
    "classification": ("distill.classification:ClassificationConfig", "distill.classification:execute"),
}


def _load(target: str):
    module, name = target.split(":")
    return getattr(import_module(module), name)


def protocol(name: str) -> Protocol:
    """The schema and runner of a protocol, importing its modules now."""
    if name not in PROTOCOLS:
        raise DistillError(f"unknown protocol {name!r}; allowed: {', '.join(PROTOCOLS)}")
    schema, execute_function = PROTOCOLS[name]
    return Protocol(_load(schema), _load(execute_function))


def load_config(name_or_path: str, overrides: list[str] = ()) -> Section:
    """Read a recipe or YAML file, apply `--set key=value` overrides, validate against its protocol."""
    raw = read_recipe(name_or_path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate_config(raw, protocol(raw.get("protocol", "forecast")).schema)


def execute(config: Section, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run a validated config and write its outputs; returns the summary the CLI prints."""
    return protocol(config.protocol).execute(config, out_dir, show_progress)

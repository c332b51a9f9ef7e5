"""The protocols a recipe can name, each a config schema and a function that runs and writes it.

Adding a protocol is one module (schema + `execute`) and one line in `PROTOCOLS`.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from distill import classification, forecasting, lupi_recipe, privileged_config, privileged_report
from distill.config import ForecastConfig, Section, apply_override, read_recipe, validate_config
from distill.errors import DistillError


class Protocol(NamedTuple):
    schema: type[Section]
    execute: Callable[[Section, Path, bool | None], str]


PROTOCOLS: dict[str, Protocol] = {
    "forecast": Protocol(ForecastConfig, forecasting.execute),
    "lupi-synthetic": Protocol(lupi_recipe.LupiConfig, lupi_recipe.execute),
    "privileged": Protocol(privileged_config.PrivilegedConfig, privileged_report.execute),
    "classification": Protocol(classification.ClassificationConfig, classification.execute),
}


def load_config(name_or_path: str, overrides: list[str] = ()) -> Section:
    """Read a recipe or YAML file, apply `--set key=value` overrides, validate against its protocol."""
    raw = read_recipe(name_or_path)
    for assignment in overrides:
        apply_override(raw, assignment)
    protocol = raw.get("protocol", "forecast")
    if protocol not in PROTOCOLS:
        raise DistillError(f"unknown protocol {protocol!r}; allowed: {', '.join(PROTOCOLS)}")
    return validate_config(raw, PROTOCOLS[protocol].schema)


def execute(config: Section, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run a validated config and write its outputs; returns the summary the CLI prints."""
    return PROTOCOLS[config.protocol].execute(config, out_dir, show_progress)

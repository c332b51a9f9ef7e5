"""Writing a run to disk, the same way for every protocol (`write_run`): the output folder, the trained models,
the figures, the resolved config.yaml, report.md, and results.json LAST.

The run is built in a temporary sibling folder and moved into place when complete (`distill.io.run_folder`),
so a folder never holds the models of one run beside the results of another, and a crash or a bad input
never leaves a half-written result behind and never destroys an earlier one. results.json is checked against its
protocol's typed contract (`distill.io.results_schema`) before it is written: results that break it are a bug
in the protocol, raised with the key path, and nothing is published.
"""
from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from distill.config import ModelSpec, RecipeConfig, config_to_yaml
from distill.errors import DistillError
from distill.io.atomic import write_failed, write_text_atomic
from distill.io.checkpoints import checkpoint_line, save_checkpoints
from distill.io.results_schema import validate_results
from distill.io.run_folder import default_out_dir, publish, staging_folder

__all__ = ["RunOutput", "TrainedModels", "default_out_dir", "results_json", "write_atomic", "write_run"]


def write_atomic(path: Path, text: str) -> Path:
    """Write text to `path` via a temporary file in the same folder and an atomic rename."""
    return write_text_atomic(path, text)


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def results_json(results: dict) -> str:
    """results.json text; NaN (e.g. an SEM over one fold) becomes null."""
    return json.dumps(_json_safe(results), indent=2)


def checked_results_json(results: dict, protocol: str) -> str:
    """results.json text, after checking what it says (as a reader will load it) against `protocol`'s contract;
    a `ResultsContractError` names every key path that breaks it."""
    text = results_json(results)
    validate_results(json.loads(text), protocol)
    return text


@dataclass
class TrainedModels:
    """Every fold's trained models by name, the config entry each was built from, and one example's input shape.

    A run with several protocol runs (the privileged protocol's cells) saves each in its own `folder` under
    `models/` and names its entries `<prefix><name>` in results.json `checkpoints`.
    """

    models: list[dict[str, nn.Module]]
    specs: dict[str, ModelSpec | list[ModelSpec]]  # a list: one spec per fold (a teacher chosen per fold)
    input_shapes: dict[str, tuple[int, ...]]
    folder: str = "models"
    prefix: str = ""
    final: dict[str, nn.Module] = field(default_factory=dict)  # fitted on all the data after cross-validation
    final_specs: dict[str, ModelSpec] = field(default_factory=dict)


@dataclass
class RunOutput:
    """What a protocol hands the run writer.

    `figures(out_dir)` draws the figures and returns {title: file name}; `report(figures)` is report.md;
    `files(out_dir)` writes extra files beside the models and returns results.json entries to add;
    `summary` is what the terminal shows above the pointers to report.md and the models.
    """

    results: dict
    figures: Callable[[Path], dict[str, str]]
    report: Callable[[dict[str, str]], str]
    summary: list[str]
    trained: list[TrainedModels] = field(default_factory=list)
    files: Callable[[Path], dict] | None = None


def write_run(output: RunOutput, config: RecipeConfig, out_dir: Path) -> str:
    """The one output pipeline: models -> figures -> config.yaml -> report.md -> results.json (last), all into a
    temporary sibling folder that then replaces `out_dir` whole; returns the terminal summary."""
    try:
        staging = staging_folder(out_dir)
    except OSError as error:
        raise write_failed(out_dir.parent, error) from None
    try:
        _write_files(output, config, staging)
        publish(staging, out_dir)
    except OSError as error:  # a full disk, a quota, a folder gone read-only: the earlier run (if any) is whole
        raise DistillError(f"{write_failed(out_dir, error)}; the run was not written (an earlier run in that "
                           "folder is untouched)") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already unless something failed
    lines = [*output.summary, f"report: {out_dir / 'report.md'}"]
    if output.trained:
        lines.append(checkpoint_line(out_dir, config.protocol, list(output.results["checkpoints"])))
    return "\n".join(lines)


def _write_files(output: RunOutput, config: RecipeConfig, folder: Path) -> None:
    results = output.results
    for trained in output.trained:
        entries = save_checkpoints(trained.models, trained.specs, trained.input_shapes, folder, trained.folder,
                                   trained.final, trained.final_specs)
        results.setdefault("checkpoints", {}).update({trained.prefix + name: entry for name, entry in entries.items()})
    if output.files is not None:
        results.update(output.files(folder))
    figures = output.figures(folder)
    write_atomic(folder / "config.yaml", config_to_yaml(config))
    write_atomic(folder / "report.md", output.report(figures))
    write_atomic(folder / "results.json", checked_results_json(results, config.protocol))

"""The protocols a recipe can name, each a config schema and a function that runs and writes it.

A protocol's modules are imported only when a recipe names it, so `distill run covid-lstm` does not
pay for the classification stack (scikit-learn's metrics, image loaders) at start-up.
Adding a protocol is one package (config.py with its schema, run.py with `execute`, report.py, figures.py)
and one entry in `PROTOCOLS`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from importlib import import_module
from pathlib import Path
from typing import NamedTuple

from distill.config import Section, TrainSection, apply_override, read_recipe, validate_config
from distill.core.distributed import current_world, init_from_env, launch, launched
from distill.core.resume import checkpointing, run_fingerprint
from distill.core.run_log import logging_to
from distill.core.threads import thread_budget
from distill.devices import resolve_device
from distill.errors import DistillError
from distill.io.run_folder import claim_run_folder

RECIPE_FOLDER = "DISTILL_RECIPE_FOLDER"  # = distill.models.registry.RECIPE_FOLDER (importing it loads every model family)


class Protocol(NamedTuple):
    schema: type[Section]
    execute: Callable[[Section, Path, bool | None], str]


# protocol name -> (package under distill.protocols, its config schema in that package's config.py);
# every package's run.py has `execute(config, out_dir, show_progress) -> summary`
PROTOCOLS: dict[str, tuple[str, str]] = {
    "forecast": ("forecast", "ForecastConfig"),
    "lupi-synthetic": ("lupi", "LupiConfig"),
    "privileged": ("privileged", "PrivilegedConfig"),
    "classification": ("classification", "ClassificationConfig"),
    "kd-zoo": ("classification.zoo", "ZooConfig"),
}
DISTRIBUTED = ("classification",)  # protocols whose runner trains with DDP past one process (rank 0 writes)


def protocol(name: str) -> Protocol:
    """The schema and runner of a protocol, importing its modules now."""
    if not isinstance(name, str) or name not in PROTOCOLS:
        raise DistillError(f"unknown protocol {name!r}; allowed: {', '.join(PROTOCOLS)}")
    package, schema = PROTOCOLS[name]
    config = import_module(f"distill.protocols.{package}.config")
    run = import_module(f"distill.protocols.{package}.run")
    return Protocol(getattr(config, schema), run.execute)


def load_config(name_or_path: str, overrides: list[str] = ()) -> Section:
    """Read a recipe or YAML file, apply `--set key=value` overrides, validate against its protocol. A YAML
    file's folder is where its `model: package.module:Factory` is looked for (`distill.models.registry`)."""
    raw = read_recipe(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")):
        os.environ[RECIPE_FOLDER] = str(Path(name_or_path).resolve().parent)  # read at model import
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate_config(raw, protocol(raw.get("protocol", "forecast")).schema)


def execute(config: Section, out_dir: Path, show_progress: bool | None = None, nproc: int = 1,
            resume: bool = False) -> str:
    """Run a validated config and write its outputs; returns the summary the CLI prints.

    A device the machine lacks (`train.device: cuda` without a GPU) fails here, before any work; the output
    folder is checked and claimed here too, before any training (one run at a time per folder). With
    `nproc` > 1 (local processes started here) or under torchrun, the run trains with DistributedDataParallel
    and rank 0 alone writes the outputs; the other ranks return "".

    A run with one process checkpoints every training loop at each epoch end beside `out_dir`
    (`distill.core.resume`); `resume` continues a killed run from those checkpoints.
    """
    if isinstance(getattr(config, "train", None), TrainSection):
        resolve_device(config.train.device)
    if (nproc > 1 or launched()) and config.protocol not in DISTRIBUTED:
        raise DistillError(f"several processes (--nproc, torchrun) train the {', '.join(DISTRIBUTED)} recipes; "
                           f"{config.name!r} is a {config.protocol} recipe: run it with one process")
    if resume and config.protocol == "lupi-synthetic":
        raise DistillError("--resume does not apply to lupi-synthetic recipes (their own trainer saves no epochs); "
                           "run it again without --resume")
    if resume and (nproc > 1 or launched()):
        raise DistillError("--resume continues runs of one process; run without --nproc/torchrun, or without --resume")
    runner = _budgeted(protocol(config.protocol).execute)
    if launched():  # under torchrun: rank 0 claims the folder and writes
        init_from_env(resolve_device(config.train.device))
        main = current_world().is_main
        with claim_run_folder(out_dir) if main else nullcontext():
            with _logging(config, out_dir, resume) if main else nullcontext():
                return runner(config, out_dir, show_progress if main else False)
    with claim_run_folder(out_dir):
        if nproc > 1:
            launch(_execute_rank, nproc, config, out_dir, show_progress)
            return ""
        with _logging(config, out_dir, resume):
            if config.protocol == "lupi-synthetic":
                return runner(config, out_dir, show_progress)
            with checkpointing(out_dir, run_fingerprint(config), resume):
                return runner(config, out_dir, show_progress)


def _logging(config: Section, out_dir: Path, resume: bool) -> AbstractContextManager:
    """The config's `train.log` (`distill.core.run_log`), into the run folder."""
    train = getattr(config, "train", None)
    return logging_to(out_dir, train.log if isinstance(train, TrainSection) else "none", resume)


def _budgeted(runner: Callable[[Section, Path, bool | None], str]) -> Callable[[Section, Path, bool | None], str]:
    """The runner under the config's `train.threads` for torch and the BLAS (`distill.core.threads`)."""
    def run(config: Section, out_dir: Path, show_progress: bool | None) -> str:
        train = getattr(config, "train", None)
        with thread_budget(train.threads if isinstance(train, TrainSection) else None):
            return runner(config, out_dir, show_progress)
    return run


def _execute_rank(config: Section, out_dir: Path, show_progress: bool | None) -> None:
    """One of the processes `execute` launched (it holds the folder): join the group and train; rank 0 writes
    the outputs and prints the summary."""
    init_from_env(resolve_device(config.train.device))
    main = current_world().is_main
    with _logging(config, out_dir, False) if main else nullcontext():
        summary = _budgeted(protocol(config.protocol).execute)(config, out_dir, show_progress if main else False)
    if main:
        print(summary, flush=True)

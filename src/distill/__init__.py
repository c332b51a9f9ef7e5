"""distill: knowledge distillation with an honest, cross-validated comparison of teacher and students.

    import distill
    results = distill.run("covid-lstm", out="runs/demo", overrides=["train.epochs=20"])
    results["models"]["student_kd"]["test"]["mae_original"]["mean"]
"""
from __future__ import annotations

import json
from pathlib import Path

from distill.core.callbacks import Callback, Checkpoint, EarlyStopping, EpochEnd, GradientClipping, LRScheduler
from distill.core.distiller import Distiller
from distill.core.loggers import CSVLogger, TensorBoardLogger
from distill.errors import DistillError
from distill.io import checkpoints
from distill.io.run_writer import default_out_dir
from distill.models import build_model, register_model
from distill.protocols import execute, load_config
from distill.protocols.serve import load_predictor

__all__ = ["CSVLogger", "Callback", "Checkpoint", "Distiller", "DistillError", "EarlyStopping", "EpochEnd",
           "GradientClipping", "LRScheduler", "TensorBoardLogger", "build_model", "checkpoints", "load", "load_config",
           "register_model", "run"]
__version__ = "0.1.0"


def run(recipe: str, out: str | Path | None = None, overrides: list[str] = (),
        show_progress: bool | None = None, resume: bool = False) -> dict:
    """Run a built-in recipe or YAML config like `distill run`, write its outputs, return results.json.
    `resume=True` continues an interrupted run into `out` from its last saved epoch (`distill run --resume`)."""
    config = load_config(recipe, list(overrides))
    if resume and out is None:
        raise DistillError("resume needs the interrupted run's output folder (out=...)")
    out_dir = Path(out) if out is not None else default_out_dir(config.name)
    execute(config, out_dir, show_progress, resume=resume)
    return json.loads((out_dir / "results.json").read_text())


def load(run_dir: str | Path, name: str = "student_kd", fold: int | str | None = None, **options):
    """A trained model of a finished run, ready to serve (`distill predict` uses the same object):
    `.predict(table)` forecasts the days after a table's end (forecasting runs; `intervals=True` adds the fold
    models' spread), `.predict(image_files)` classifies (classification runs); tensors of raw windows or
    preprocessed images work too. `fold`: "final" (the default when the run saved one) or 1..K."""
    return load_predictor(run_dir, name, fold, **options)

"""Putting a finished run's models to work: the predictor of its protocol (`distill predict`, `distill.load`)."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

import yaml

from distill.errors import DistillError

# protocol -> (module under distill.protocols, predictor class)
PREDICTORS = {"forecast": ("forecast.predict", "ForecastPredictor"),
              "classification": ("classification.predict", "ClassificationPredictor")}


def run_protocol_name(run_dir: str | Path) -> str:
    """The protocol a finished run followed, from its config.yaml."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file() or not (Path(run_dir) / "results.json").is_file():
        raise DistillError(f"{run_dir} is not the folder of a finished run (no config.yaml and results.json)")
    return (yaml.safe_load(config_file.read_text()) or {}).get("protocol", "forecast")


def load_predictor(run_dir: str | Path, name: str = "student_kd", fold: int | str | None = None, **options):
    """The saved model `name` of a run, ready to `.predict(...)`: "final" (the default when saved) or fold K."""
    protocol = run_protocol_name(run_dir)
    if protocol not in PREDICTORS:
        raise DistillError(f"predicting serves {' and '.join(PREDICTORS)} runs; {run_dir} is a {protocol} run")
    module, cls = PREDICTORS[protocol]
    return getattr(import_module(f"distill.protocols.{module}"), cls)(run_dir, name, fold, **options)

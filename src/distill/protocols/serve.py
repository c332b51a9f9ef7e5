"""Putting a finished run's models to work: the predictor of its protocol (`distill predict`, `distill.load`) and
the serving formats with their checks (`distill export`: torch.export, ONNX, int8 with its measured accuracy change)."""
from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.config import read_recipe
from distill.errors import DistillError
from distill.io.atomic import atomic_open, write_failed, write_text_atomic
from distill.io.checkpoints import FOLDER, export_model, load_model, model_label, saved_model
from distill.io.export_formats import (
    ONNX_TOL,
    onnx_program,
    onnx_session,
    quantize_onnx,
    quantize_torch,
    require_onnx,
    run_onnx,
    torchscript_bytes,
)

# protocol -> (module under distill.protocols, predictor class)
PREDICTORS = {"forecast": ("forecast.predict", "ForecastPredictor"),
              "classification": ("classification.predict", "ClassificationPredictor")}


def run_protocol_name(run_dir: str | Path) -> str:
    """The protocol a finished run followed, from its config.yaml."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file() or not (Path(run_dir) / "results.json").is_file():
        raise DistillError(f"{run_dir} is not the folder of a finished run (no config.yaml and results.json)")
    protocol = read_recipe(str(config_file)).get("protocol", "forecast")  # a mapping, read with the bounded loader
    if not isinstance(protocol, str):
        raise DistillError(f"{config_file}: protocol is {protocol!r}, not a protocol name")
    return protocol


def load_predictor(run_dir: str | Path, name: str = "student_kd", fold: int | str | None = None, **options):
    """The saved model `name` of a run, ready to `.predict(...)`: "final" (the default when saved) or fold K."""
    protocol = run_protocol_name(run_dir)
    if protocol not in PREDICTORS:
        raise DistillError(f"predicting serves {' and '.join(PREDICTORS)} runs; {run_dir} is a {protocol} run")
    module, cls = PREDICTORS[protocol]
    return getattr(import_module(f"distill.protocols.{module}"), cls)(run_dir, name, fold, **options)


def refuse_privileged_teacher(run_dir: str | Path, name: str, action: str) -> None:
    """A teacher that read `data.privileged` columns on the horizon days needs values no forecast time has."""
    data = read_recipe(str(Path(run_dir) / "config.yaml")).get("data") or {}
    privileged = data.get("privileged") if isinstance(data, dict) else None
    if name == "teacher" and privileged:
        raise DistillError(f"the teacher of {run_dir} reads {', '.join(map(str, privileged))} on the horizon days "
                           f"(data.privileged), unknown at forecast time: it cannot be {action}; serve a student")


def _module(run_dir: str | Path):
    protocol = run_protocol_name(run_dir)
    if protocol not in PREDICTORS:
        raise DistillError(f"int8 accuracy is measured for {' and '.join(PREDICTORS)} runs; {run_dir} is a {protocol} "
                           "run")
    return import_module(f"distill.protocols.{PREDICTORS[protocol][0]}")


def _int8_outputs(model: nn.Module, x: torch.Tensor, fmt: str) -> np.ndarray:
    """A fold model's outputs after the same int8 quantisation the exported file went through."""
    if fmt == "onnx":
        program = quantize_onnx(onnx_program(model, tuple(x.shape[1:]))[0])
        return run_onnx(onnx_session(program), x)
    with torch.no_grad():
        return quantize_torch(model)(x).numpy()


def int8_accuracy(run_dir: str | Path, name: str, fmt: str, trust_imports: bool = False) -> dict:
    """The accuracy change int8 quantisation costs, on the run's CV test folds: each fold's model scored as
    trained and after the same quantisation, paired over folds."""
    from distill.core.stats import summarize  # imported here: scipy.stats would add 0.5 s to `distill predict`

    metric, tests = _module(run_dir).cv_test_folds(run_dir)
    float_scores, int8_scores = [], []
    for k, (x, score) in enumerate(tests, start=1):
        model = load_model(run_dir, name, k, trust_imports)
        with torch.no_grad():
            float_scores.append(score(model(x).numpy()))
        int8_scores.append(score(_int8_outputs(model, x, fmt)))
    return {"model": name, "metric": metric, "folds": len(tests), "float": summarize(float_scores),
            "int8": summarize(int8_scores), "change": summarize([b - a for a, b in zip(float_scores, int8_scores)]),
            "measured_on": "each fold's model on its own cross-validation test fold, as trained and after int8 "
                           "dynamic quantisation of its Linear and LSTM layers (the same quantiser as the file)"}


def export_run_model(run_dir: str | Path, name: str, fold: int | str | None = None, fmt: str = "torch",
                     quantize: str | None = None, out: str | Path | None = None, device: str = "cpu",
                     trust_imports: bool = False) -> list[str]:
    """`distill export`: write a saved model as torch.export (.pt2), ONNX (.onnx, checked in onnxruntime) or int8
    (ONNX via onnxruntime's quantiser, or TorchScript via torch's); int8 adds `<file>.accuracy.json`, the
    accuracy change measured on the CV test folds. Returns the lines the command prints."""
    refuse_privileged_teacher(run_dir, name, "exported")
    if fmt == "torch" and quantize is None:
        path = export_model(run_dir, name, fold, out, device, trust_imports)
        return [f"wrote {path} (run it with torch.export.load(path).module()(x); the batch size is free)"]
    if fmt == "onnx":
        require_onnx()
    model, fold, input_shape = saved_model(run_dir, name, fold, trust_imports)
    suffix = {"onnx": ".onnx", "torch": ".pt"}[fmt]
    default = Path(run_dir) / FOLDER / f"{name}-{model_label(fold)}{'-int8' if quantize else ''}{suffix}"
    target = Path(out) if out is not None else default
    if target.is_dir():
        raise DistillError(f"--out {target} is a folder; give the file to write")
    lines = []
    if fmt == "onnx":
        program, difference = onnx_program(model, input_shape)
        lines.append(f"onnxruntime reproduces the PyTorch model: max abs difference {difference:.2g} (tolerance "
                     f"{ONNX_TOL:g}, batches of 1 and 3)")
        program = quantize_onnx(program) if quantize else program
    else:
        program = torchscript_bytes(quantize_torch(model), input_shape)
    accuracy = int8_accuracy(run_dir, name, fmt, trust_imports) if quantize else None  # measured before any write
    report = target.with_name(target.name + ".accuracy.json")
    try:
        with atomic_open(target, "wb") as handle:  # the program lands last: never a file without its accuracy
            handle.write(program)
            if accuracy is not None:
                write_text_atomic(report, json.dumps(accuracy, indent=2))
    except OSError as error:
        raise write_failed(target, error) from None
    lines.append(f"wrote {target} (" + ("onnxruntime.InferenceSession(path).run(None, {'x': x})" if fmt == "onnx"
                                        else "torch.jit.load(path)(x)") + "; the batch size is free)")
    if accuracy is not None:
        change = accuracy["change"]
        lines.append(f"int8 on the {accuracy['folds']} CV test folds: {accuracy['metric']} "
                     f"{accuracy['float']['mean']:.4g} -> {accuracy['int8']['mean']:.4g} (change {change['mean']:+.3g} "
                     f"+- {change['sem']:.2g} SEM); written to {report}")
    return lines

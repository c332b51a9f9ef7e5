"""The trained models of a run, kept: one state dict per model and fold in `models/` beside results.json.

A cross-validated run trains K copies of every model; each fold's copy is saved, so the student a report
praises can be put to work (or a saved teacher reused as `teacher.pretrained.checkpoint` on another data set:
on the same one, fold k's teacher has trained on the other folds' test rows). results.json
records, per model, how to rebuild it (`model`, `options`, `input_shape`, `outputs`) and its files, and

    student = distill.checkpoints.load_model("runs/covid-lstm-...", "student_kd", fold=1)

gives back the fold's trained model in eval mode (files are loaded with `weights_only=True`);
`export_model` (`distill export`) writes one as a `torch.export` program that runs without distill. Modules that
only serve training (an NST student's learned adapter) are not saved: a checkpoint holds exactly the
parameters of the architecture its entry names.

A run folder may come from someone else, so what results.json says is checked before anything is built or read:
an entry naming its model by import path (`package.module:Factory`) would import and run that code, so it is
refused unless the caller trusts the folder (`trust_imports=True`, `--trust-imports`; registered models need no
trust), and every checkpoint file must lie inside the run folder (no absolute paths, no `..`, no link out).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from distill.config import ModelSpec
from distill.devices import resolve_device
from distill.errors import DistillError
from distill.io.atomic import atomic_open, write_failed
from distill.models import build_model
from distill.models.registry import refusing_imports

FOLDER = "models"
FINAL = "final"


def _architecture(spec: ModelSpec, model: nn.Module, input_shape: tuple[int, ...]) -> dict:
    with torch.no_grad():
        outputs = int(model.eval()(torch.zeros(1, *input_shape)).shape[1])  # (1, outputs[, quantile levels])
    return {"model": spec.model, "options": dict(spec.options), "input_shape": list(input_shape),
            "outputs": outputs}


def _save_state(model: nn.Module, spec: ModelSpec, input_shape: tuple[int, ...], outputs: int, path: Path) -> None:
    """The model's own parameters (not a training-only adapter's), written atomically."""
    own_keys = build_model(spec.model, input_shape, outputs, **spec.options).state_dict().keys()
    try:
        with atomic_open(path, "wb") as out:
            torch.save({key: value for key, value in model.state_dict().items() if key in own_keys}, out)
    except (OSError, RuntimeError) as error:  # a full disk: torch.save raises RuntimeError("unexpected pos")
        raise write_failed(path, error) from None


def save_checkpoints(models: list[dict[str, nn.Module]], specs: dict[str, ModelSpec | list[ModelSpec]],
                     input_shapes: dict[str, tuple[int, ...]], out_dir: Path, folder: str = FOLDER,
                     final: dict[str, nn.Module] | None = None,
                     final_specs: dict[str, ModelSpec] | None = None) -> dict[str, dict]:
    """Write `<folder>/<name>-fold<k>.pt` (default `models/`) for every fold's model of every role in `specs`;
    return the `checkpoints` entries of results.json (architecture and relative file paths per model).

    A role whose folds were built from different specs (a teacher picked per fold among candidates) gets a
    list of specs, one per fold, and its entry a `fold_architectures` list beside the first fold's. `final`
    models (fitted on all the data after cross-validation, built from `final_specs`) are written as
    `<folder>/<name>-final.pt`, the entry's `final` (and `final_architecture` where it differs)."""
    entries = {}
    for name, spec in specs.items():
        fold_specs = spec if isinstance(spec, list) else [spec] * len(models)
        architectures = [_architecture(s, fold_models[name], input_shapes[name])
                         for s, fold_models in zip(fold_specs, models)]
        entry = dict(architectures[0])
        if any(a != architectures[0] for a in architectures):
            entry["fold_architectures"] = architectures
        entry["files"] = []
        for fold, (fold_spec, fold_models) in enumerate(zip(fold_specs, models), start=1):
            relative = f"{folder}/{name}-fold{fold}.pt"
            _save_state(fold_models[name], fold_spec, input_shapes[name], entry["outputs"], out_dir / relative)
            entry["files"].append(relative)
        if final and name in final:
            final_spec = (final_specs or {})[name]  # every final model has its spec
            architecture = _architecture(final_spec, final[name], input_shapes[name])
            if architecture != architectures[0]:
                entry["final_architecture"] = architecture
            entry[FINAL] = f"{folder}/{name}-{FINAL}.pt"
            _save_state(final[name], final_spec, input_shapes[name], entry["outputs"], out_dir / entry[FINAL])
        entries[name] = entry
    return entries


Fold = int | str | None  # 1..K, "final" (the model fitted on all the data), or None: final if saved, else 1


def _entry(run_dir: Path, name: str, fold: Fold) -> tuple[dict, int | str]:
    """The results.json `checkpoints` entry of model `name` and the fold it resolves to (checked)."""
    results_file = run_dir / "results.json"
    if not results_file.is_file():
        raise DistillError(f"no results.json in {run_dir}: not the folder of a finished run")
    checkpoints = _read_checkpoints(results_file)
    if name not in checkpoints:
        raise DistillError(f"run {run_dir} saved no model {name!r}; saved: {', '.join(checkpoints) or 'none'}")
    entry = checkpoints[name]
    if fold is None:
        fold = FINAL if FINAL in entry else 1
    if fold == FINAL:
        if FINAL not in entry:
            raise DistillError(f"run {run_dir} has no final {name!r} (train.final_fit was off); pick a fold model")
        return entry, fold
    if not isinstance(fold, int) or not 1 <= fold <= len(entry["files"]):
        raise DistillError(f"fold must be in 1..{len(entry['files'])} or 'final', got {fold!r}")
    return entry, fold


def _read_checkpoints(results_file: Path) -> dict:
    """results.json `checkpoints`; a file that is not a run's results.json is one DistillError line."""
    try:
        checkpoints = json.loads(results_file.read_text(encoding="utf-8")).get("checkpoints", {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise DistillError(f"{results_file} is not a distill results.json ({str(error).splitlines()[0]})") from None
    if not isinstance(checkpoints, dict) or not all(
            isinstance(entry, dict) and {"model", "options", "input_shape", "outputs", "files"} <= set(entry)
            and isinstance(entry["files"], list) for entry in checkpoints.values()):
        raise DistillError(f"{results_file}: its `checkpoints` entries lack model, options, input_shape, outputs "
                           "or files; not a results.json this version wrote")
    return checkpoints


def _checked_architecture(run_dir: Path, name: str, architecture: dict, trust_imports: bool) -> dict:
    """A results.json architecture, refused in one line when it is malformed or names code to import."""
    model, options = architecture.get("model"), architecture.get("options")
    if not isinstance(model, str) or not isinstance(options, dict):
        raise DistillError(f"{run_dir / 'results.json'}: model {name!r} has model {model!r} and options "
                           f"{options!r}; expected a model name and a mapping of options")
    if ":" in model and not trust_imports:
        raise DistillError(f"{run_dir / 'results.json'} names model {name!r} by import path {model!r}: building it "
                           "would import and run that code, so distill does not unless you trust this run folder "
                           "(--trust-imports, or trust_imports=True)")
    return architecture


def checkpoint_path(run_dir: Path, relative: object) -> Path:
    """A file results.json names, inside the run folder; an absolute path, `..` or a link out is refused."""
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise DistillError(f"{run_dir / 'results.json'} names checkpoint {relative!r}; checkpoint paths are relative "
                           "to the run folder and stay inside it")
    path = run_dir / relative
    if not path.resolve().is_relative_to(run_dir.resolve()):
        raise DistillError(f"checkpoint {path} links outside the run folder {run_dir}; refused")
    return path


def _load_state(path: Path) -> dict:
    """A saved state dict (weights only); a missing, truncated or foreign file is one DistillError line."""
    if not path.is_file():
        raise DistillError(f"checkpoint {path} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for a bad file
        first = str(error).splitlines()[0].split(". ")[0] if str(error) else type(error).__name__
        raise DistillError(f"checkpoint {path} cannot be read as saved weights ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise DistillError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict of tensors")
    return state


def _rebuild(run_dir: Path, name: str, entry: dict, fold: int | str, trust_imports: bool) -> nn.Module:
    if isinstance(fold, str):  # FINAL: `_entry` resolves every other fold to an int
        architecture, relative = entry.get("final_architecture", entry), entry[FINAL]
    else:
        architectures = entry.get("fold_architectures", [entry] * fold)
        architecture, relative = architectures[fold - 1] if isinstance(architectures, list) else None, \
            entry["files"][fold - 1]
    if not isinstance(architecture, dict):
        raise DistillError(f"{run_dir / 'results.json'}: model {name!r} has no architecture for fold {fold}")
    architecture = _checked_architecture(run_dir, name, architecture, trust_imports)
    path = checkpoint_path(run_dir, relative)
    if not (isinstance(entry["input_shape"], list) and all(isinstance(d, int) and d >= 1 for d in entry["input_shape"])
            and isinstance(entry["outputs"], int) and entry["outputs"] >= 1):
        raise DistillError(f"{run_dir / 'results.json'}: model {name!r} has input_shape {entry['input_shape']!r} and "
                           f"outputs {entry['outputs']!r}; expected positive whole numbers")
    refusal = None if trust_imports else (f"{run_dir / 'results.json'} names it by import path inside model {name!r}: "
                                          "building it would import and run that code, so distill does not unless "
                                          "you trust this run folder (--trust-imports, or trust_imports=True)")
    with refusing_imports(refusal):
        model = build_model(architecture["model"], tuple(entry["input_shape"]), entry["outputs"],
                            **architecture["options"])
    try:
        model.load_state_dict(_load_state(path))
    except RuntimeError as error:
        raise DistillError(f"checkpoint {path} does not fit its model {architecture['model']!r}: "
                           f"{str(error).splitlines()[1 if len(str(error).splitlines()) > 1 else 0].strip()}") from None
    return model.eval()


def load_model(run_dir: str | Path, name: str, fold: Fold = None, trust_imports: bool = False) -> nn.Module:
    """The trained model `name` of the run written to `run_dir`, in eval mode: fold `fold` (1-based), or
    "final" (fitted on all the data after cross-validation); by default the final model if the run saved one,
    else fold 1. `trust_imports=True` lets results.json name a model by import path (that code is run)."""
    run_dir = Path(run_dir)
    entry, fold = _entry(run_dir, name, fold)
    return _rebuild(run_dir, name, entry, fold, trust_imports)


def saved_model(run_dir: str | Path, name: str, fold: Fold = None,
                trust_imports: bool = False) -> tuple[nn.Module, int | str, tuple[int, ...]]:
    """The saved model (eval mode), the fold it resolved to (1..K or "final") and one example's input shape."""
    run_dir = Path(run_dir)
    entry, fold = _entry(run_dir, name, fold)
    return _rebuild(run_dir, name, entry, fold, trust_imports), fold, tuple(entry["input_shape"])


def saved_folds(run_dir: str | Path, name: str, fold: Fold = None) -> tuple[int | str, int]:
    """The fold `fold` resolves to for the saved model `name` (checked; None: "final" if saved, else 1) and how
    many fold models the run saved."""
    entry, fold = _entry(Path(run_dir), name, fold)
    return fold, len(entry["files"])


def model_input_shape(run_dir: str | Path, name: str) -> tuple[int, ...]:
    """One example's input shape for the saved model `name`."""
    return tuple(_entry(Path(run_dir), name, 1)[0]["input_shape"])


def model_label(fold: int | str) -> str:
    """How a file name says which model it holds: `final` or `fold<k>`."""
    return FINAL if fold == FINAL else f"fold{fold}"


def export_model(run_dir: str | Path, name: str, fold: Fold = None, out: str | Path | None = None,
                 device: str = "cpu", trust_imports: bool = False) -> Path:
    """Write a saved model as a self-contained `torch.export` program (default `models/<name>-<final|fold<k>>.pt2`).

    The batch size stays free; the program needs no distill to run: `torch.export.load(path).module()(x)`.
    It is traced on `device` (auto, cpu, cuda, cuda:N, mps) and runs there. Before it is written, the exported
    program is checked against the eager model on a random batch.
    """
    run_dir = Path(run_dir)
    target_device = resolve_device(device)
    entry, fold = _entry(run_dir, name, fold)
    model = _rebuild(run_dir, name, entry, fold, trust_imports).to(target_device)
    input_shape = tuple(entry["input_shape"])
    target = Path(out) if out is not None else run_dir / FOLDER / f"{name}-{model_label(fold)}.pt2"
    if target.is_dir():
        raise DistillError(f"--out {target} is a folder; give the .pt2 file to write")
    batch = torch.export.Dim("batch", min=1)
    try:
        with warnings.catch_warnings():  # nn.LSTM re-assigns its flat weights while tracing: harmless, noisy
            warnings.filterwarnings("ignore", message=".*were assigned during export")
            program = torch.export.export(model, (torch.zeros(2, *input_shape, device=target_device),),
                                          dynamic_shapes=({0: batch},))
    except Exception as error:  # torch raises many types here; the user needs one line
        raise DistillError(f"model {name!r} cannot be exported: {str(error).splitlines()[0]}") from None
    check = torch.randn(3, *input_shape, generator=torch.Generator().manual_seed(0)).to(target_device)
    with torch.no_grad():
        if not torch.allclose(program.module()(check), model(check), atol=1e-5):
            raise DistillError(f"the exported {name!r} does not reproduce the model's outputs; nothing written")
    try:
        with atomic_open(target, "wb") as handle:
            torch.export.save(program, handle)
    except (OSError, RuntimeError) as error:
        raise write_failed(target, error) from None
    return target


def checkpoint_section(entries: dict[str, dict]) -> str:
    """The report's paragraph on the saved models."""
    names = ", ".join(f"`{name}`" for name in entries)
    folds = len(next(iter(entries.values()))["files"])
    return (f"Every fold's trained {names} is saved as `{FOLDER}/<name>-fold<k>.pt` (k = 1..{folds}, state dicts). "
            "`distill.checkpoints.load_model(run_dir, name, fold)` rebuilds one in eval mode and `distill export` "
            "writes one as a torch.export program. A saved teacher can start a classification run on another data "
            "set as `teacher.pretrained.checkpoint`; on this data set it would have seen other folds' test rows."
            + (final_section(entries) if any(FINAL in entry for entry in entries.values()) else ""))


def final_section(entries: dict[str, dict]) -> str:
    """The report's sentences on the models fitted on all the data after cross-validation."""
    names = ", ".join(f"`{name}`" for name, entry in entries.items() if FINAL in entry)
    return (f" After cross-validation, {names} were fitted once more on all the data (`{FOLDER}/<name>-final.pt`; "
            f"forecasting runs keep their scaling in `{FOLDER}/scaling-final.json`): the teacher first, then the "
            "students distilled from the final teacher, each for the median best epoch of its folds. These are the "
            "models to deploy (`distill predict` and `distill export` use them by default), and the cross-validated "
            "scores above estimate their error; no data is left to score them on.")


PREDICTED_PROTOCOLS = {"forecast": "FILE.csv", "classification": "IMAGE|FOLDER"}  # what `distill predict` reads


def checkpoint_line(out_dir: Path, protocol: str, names: list[str]) -> str:
    """The terminal summary's pointer to the saved models, with only the commands that serve this run's models:
    `distill predict` for forecasting and classification runs, `distill export` for every run."""
    name = "student_kd" if "student_kd" in names else names[0]
    export = f"distill export {out_dir} {name}"
    if protocol not in PREDICTED_PROTOCOLS:
        return f"models: {out_dir / FOLDER} (export one: {export})"
    model = "" if name == "student_kd" else f" --model {name}"
    return (f"models: {out_dir / FOLDER} (serve one: distill predict {out_dir} --data {PREDICTED_PROTOCOLS[protocol]}"
            f"{model}, or {export})")

"""kd-zoo: per seed, a stratified train / inner-validation / test split, one teacher, and one student per
method from the same initial weights and batch order (so every comparison is paired by seed); each model
keeps its best epoch on the inner validation rows, and its last epoch is scored too.

Everything a method needs is checked before the first model trains: the settings' names (when the config is
read), then in `preflight` the feature paths (the module names are listed when one is wrong), the features'
shapes for the method, its learned part and its loss on a few real rows.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

from distill.config import ModelSpec
from distill.core.early_stopping import BestEpoch
from distill.core.stats import add_verdicts, paired_comparison, summarize
from distill.core.task import FoldData
from distill.core.train import fit, predict
from distill.data.labelled import LabelledImages, load_images
from distill.data.windows import WindowSet
from distill.devices import resolve_device
from distill.errors import DistillError
from distill.io.run_writer import RunOutput, TrainedModels, write_run
from distill.methods import EpochMethod, Guide, Method
from distill.models import build_model
from distill.protocols.classification.zoo.config import ZooConfig, ZooMethod, ZooOptimizer
from distill.protocols.classification.zoo.objectives import METHOD_MODULE, attach_part, augment, objective
from distill.protocols.classification.zoo.report import zoo_figures, zoo_markdown, zoo_summary
from distill.tasks.classification import ClassificationTask, outputs_and_features

PREFLIGHT_ROWS = 4
METRICS = ("accuracy", "nll", "macro_f1")


class ValidationNLL:
    """The one score `BestEpoch` reads (NLL of the true class, lower is better), without the report's other metrics."""

    curve_metric = "nll"

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        return {"nll": float(F.cross_entropy(outputs, targets))}


@dataclass
class Trained:
    """One model of one seed: test scores at its best (inner-validation) epoch and at its last, and its cost."""

    model: nn.Module
    best: dict[str, float]
    last: dict[str, float]
    best_epoch: int
    seconds_per_epoch: float
    cpu_seconds_per_epoch: float
    extra_parameters: int = 0


def seed_folds(images: LabelledImages, config: ZooConfig) -> list[FoldData]:
    """One stratified train / validation / test split per seed (the seed's number is the split's random state);
    a source's fixed test split (CIFAR-100's test set) is every seed's test set, the validation rows then come
    from its training rows."""
    y = images.y.numpy()
    folds = []
    for index in range(config.seeds):
        state = config.seed * 1_000 + index
        if images.test_start is None:
            rest, test = train_test_split(np.arange(len(y)), test_size=config.split.test, stratify=y,
                                          random_state=state)
        else:
            rest, test = np.arange(images.test_start), np.arange(images.test_start, len(y))
        try:
            train, val = train_test_split(rest, test_size=config.split.validation, stratify=y[rest], random_state=state)
        except ValueError as error:  # too few rows for a stratified share of every class
            raise DistillError(f"split.validation {config.split.validation} of {len(rest)} training images: "
                               f"{error}") from None
        rows = {part: torch.from_numpy(np.sort(r)) for part, r in (("train", train), ("val", val), ("test", test))}
        folds.append(FoldData(index=index, x_train=images.x[rows["train"]], y_train=images.y[rows["train"]],
                              x_test=images.x[rows["test"]], y_test=images.y[rows["test"]], test_rows=rows["test"],
                              x_val=images.x[rows["val"]], y_val=images.y[rows["val"]]))
    return folds


def _tensor(x: torch.Tensor | WindowSet | None) -> torch.Tensor:
    """kd-zoo's folds hold image tensors (never window sets)."""
    assert isinstance(x, torch.Tensor)
    return x


def _build(spec: ModelSpec, shape: tuple[int, ...], classes: int, seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec.model, shape, classes, **spec.options).to(device)


def _teacher_guide(teacher: nn.Module, x: torch.Tensor, spec: ZooMethod, method: Method) -> Guide:
    """The teacher's outputs (and features at `features.teacher`) on every row of x, as `method` compares them."""
    return method.guide(*outputs_and_features(teacher, x, None if spec.features is None else spec.features.teacher))


def preflight(config: ZooConfig, fold: FoldData, classes: int, device: torch.device) -> None:
    """Every method's settings, feature paths and shapes, and its loss on a few real rows, before any training."""
    x_train = _tensor(fold.x_train)
    shape = tuple(x_train.shape[1:])
    teacher = _build(config.teacher, shape, classes, 0, device)
    x, y = x_train[:PREFLIGHT_ROWS], fold.y_train[:PREFLIGHT_ROWS]
    for spec in config.methods.values():
        method = spec.make()
        guide = _teacher_guide(teacher, x, spec, method).rows(torch.arange(len(x), device=device))
        student = _build(config.student, shape, classes, 0, device)
        attach_part(student, spec, method, x, guide, len(fold.x_train))
        student.train()
        objective(student, x, y, guide, spec, method)


def _optimizer(config: ZooOptimizer, spec: ModelSpec) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None:
    """SGD with momentum at the model's lr and weight decay, or None: the loop's fused Adam."""
    if config.name == "adam":
        return None
    return lambda parameters: torch.optim.SGD(parameters, lr=spec.lr, momentum=config.momentum,
                                              weight_decay=spec.weight_decay)


def train_model(model: nn.Module, loss: Callable[[torch.Tensor], torch.Tensor], spec: ModelSpec, fold: FoldData,
                task: ClassificationTask, config: ZooConfig, seed: int,
                on_epoch_start: Callable[[int], None] | None = None) -> Trained:
    """Fit (the package's one loop, `config.optimizer`'s optimiser and step schedule) every epoch, score the
    last epoch on test, restore the best inner-validation epoch, score it on test. `on_epoch_start(epoch)`
    (0-based) sets a method's epoch."""
    epochs = spec.epochs or config.train.epochs
    stopper = BestEpoch(model, fold, ValidationNLL(), patience=None)  # type: ignore[arg-type]
    start, cpu_start = time.perf_counter(), time.process_time()
    fit(model, loss, len(fold.x_train), epochs=epochs, batch_size=config.train.batch_size, lr=spec.lr,
        weight_decay=spec.weight_decay, seed=seed, on_epoch_end=stopper, save_extra=stopper.state_dict,
        load_extra=stopper.load_state_dict, on_epoch_start=on_epoch_start,
        optimizer=_optimizer(config.optimizer, spec), lr_at=config.optimizer.lr_at(spec.lr))
    seconds, cpu_seconds = (time.perf_counter() - start) / epochs, (time.process_time() - cpu_start) / epochs
    last = task.metrics(predict(model, _tensor(fold.x_test)), fold.y_test, fold)
    curves: dict = {}
    stopper.restore_into(curves)
    best = task.metrics(predict(model, _tensor(fold.x_test)), fold.y_test, fold)
    extra = getattr(model, METHOD_MODULE, None)
    return Trained(model, best, last, curves["best_epoch"], seconds, cpu_seconds,
                   0 if extra is None else sum(p.numel() for p in extra.parameters()))


def run_seed(config: ZooConfig, fold: FoldData, task: ClassificationTask, classes: int,
             device: torch.device) -> dict[str, Trained]:
    """The teacher and every method's student of one seed."""
    x, y = _tensor(fold.x_train), fold.y_train
    shape = tuple(x.shape[1:])
    teacher_seed = config.seed * 1_000_003 + fold.index * 101
    student_seed = teacher_seed + 1  # every method's student: the same initial weights and batch order
    teacher = _build(config.teacher, shape, classes, teacher_seed, device)
    trained = {"teacher": train_model(
        teacher, lambda rows: F.cross_entropy(teacher(augment(x[rows], config.augment)), y[rows]), config.teacher,
        fold, task, config, teacher_seed)}
    for name, spec in config.methods.items():
        method = spec.make()
        guide = _teacher_guide(teacher, x if config.augment is None else x[:2], spec, method)
        student = _build(config.student, shape, classes, student_seed, device)
        attach_part(student, spec, method, x, guide, len(x))
        schedule = EpochMethod(method)  # the method of the epoch being trained (DKD's warm-up)

        def loss(rows: torch.Tensor, student: nn.Module = student, spec: ZooMethod = spec, guide: Guide = guide,
                 schedule: EpochMethod = schedule) -> torch.Tensor:
            if config.augment is None:  # the teacher's view of every row, computed once
                return objective(student, x[rows], y[rows], guide.rows(rows), spec, schedule.current)
            batch = augment(x[rows], config.augment)  # the teacher sees the student's augmented batch
            teaching = schedule.method
            seen = _teacher_guide(teacher, batch, spec, teaching) if teaching.uses_teacher else Guide()
            return objective(student, batch, y[rows], Guide(seen.outputs, seen.features, rows), spec, schedule.current)

        trained[name] = train_model(student, loss, config.student, fold, task, config, student_seed, schedule.start)
    return trained


def _comparisons(runs: dict[str, list[Trained]], config: ZooConfig) -> dict[str, dict]:
    """Every method against the student alone and against vanilla KD, at the best and at the last epoch; Holm
    over all of them at once."""
    comparisons = {}
    for epoch in ("best", "last"):
        suffix = "" if epoch == "best" else "_last_epoch"
        for name in config.methods:
            for baseline in (config.scratch, config.kd):
                if name == baseline or (name == config.scratch and baseline == config.kd):
                    continue
                entry = paired_comparison([getattr(run, epoch)["accuracy"] for run in runs[name]],
                                          [getattr(run, epoch)["accuracy"] for run in runs[baseline]],
                                          name, baseline, f"accuracy ({epoch} epoch)")
                comparisons[f"{name}_vs_{baseline}{suffix}"] = entry
    return add_verdicts(comparisons, lower_is_better=False)


def summarise(runs: dict[str, list[Trained]], config: ZooConfig) -> dict:
    """The `models` and `comparison` parts of results.json."""
    methods = {"teacher": None, **config.methods}
    models = {}
    for name, seeds in runs.items():
        spec = methods[name]
        models[name] = {
            "method": "teacher" if spec is None else spec.method,
            "test_best_epoch": {key: summarize([run.best[key] for run in seeds]) for key in METRICS},
            "test_last_epoch": {key: summarize([run.last[key] for run in seeds]) for key in METRICS},
            "best_epoch": summarize([run.best_epoch for run in seeds]),
            "seconds_per_epoch": summarize([run.seconds_per_epoch for run in seeds]),
            "cpu_seconds_per_epoch": summarize([run.cpu_seconds_per_epoch for run in seeds]),
            "params": sum(p.numel() for n, p in seeds[0].model.named_parameters() if not n.startswith(METHOD_MODULE)),
            "training_only_params": seeds[0].extra_parameters,
        }
    return {"models": models, "comparison": _comparisons(runs, config)}


def run_zoo(config: ZooConfig, show_progress: bool | None = None) -> tuple[dict, list[dict[str, nn.Module]]]:
    """Run kd-zoo and return results.json's content and, per seed, the trained models (nothing is written here)."""
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)
    device = resolve_device(config.train.device)
    images = load_images(config.data, config.seed)
    classes = len(images.classes)
    folds = [fold.to(device) for fold in seed_folds(images, config)]
    task = ClassificationTask(classes, config.seed)
    preflight(config, folds[0], classes, device)
    runs: dict[str, list[Trained]] = {"teacher": [], **{name: [] for name in config.methods}}
    for fold in folds:
        if show_progress:
            print(f"seed {fold.index + 1}/{config.seeds}", flush=True)
        for name, trained in run_seed(config, fold, task, classes, device).items():
            runs[name].append(trained)
    results = {
        "recipe": config.name,
        "protocol": config.protocol,
        "seeds": config.seeds,
        "data": {"source": images.source, "images": len(images.y), "shape": list(images.x.shape[1:]),
                 "fixed_test": images.test_start is not None,
                 "rows": {"train": len(folds[0].y_train), "validation": len(_tensor(folds[0].x_val)),
                          "test": len(folds[0].y_test)}},
        **summarise(runs, config),
        "settings": {name: spec.model_dump() for name, spec in config.methods.items()},
        "published": dict(config.published),
        "published_source": config.published_source,
        "notes": ["test_best_epoch: each model's weights at its lowest inner-validation NLL (chosen without the test "
                  "rows); test_last_epoch: its weights after the last epoch.",
                  "seconds_per_epoch: wall time of the training loop per epoch (with the inner-validation scoring); "
                  "cpu_seconds_per_epoch: the process's CPU time over the same span, less sensitive to other work on "
                  "the machine. Compare them within one run."],
    }
    models = [{name: seeds[k].model.cpu() for name, seeds in runs.items()} for k in range(config.seeds)]
    return results, models


def execute(config: ZooConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write kd-zoo; the returned text is what the CLI prints."""
    results, models = run_zoo(config, show_progress)
    shape = tuple(results["data"]["shape"])
    specs: dict[str, ModelSpec | list[ModelSpec]] = {"teacher": config.teacher,
                                                     **{name: config.student for name in config.methods}}
    trained = TrainedModels(models, specs, {name: shape for name in specs})
    output = RunOutput(results=results, figures=lambda folder: zoo_figures(results, folder),
                       report=lambda figures: zoo_markdown(results, config, figures), summary=zoo_summary(results),
                       trained=[trained])
    return write_run(output, config, out_dir)

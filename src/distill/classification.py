"""The classification recipes (hinton-digits, hinton-omit, kd-sweep, subclass-digits, nst-ta): labelled
images -> folds -> the shared protocol -> results.json, report.md and figures.

Sources without a fixed test split (the embedded digits) get stratified K-fold cross-validation; sources
with one (MNIST, image folders, the MHIST CSV) get that split as their one fold. Every model, students
included, is scored against the true labels of rows it never trained on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from distill.classification_analysis import (
    bias_correction,
    chain_table,
    confusion,
    gap_recovered,
    per_class_accuracy,
    subclass_recovery,
    sweep_grid,
)
from distill.classification_config import (
    ClassificationConfig,
    ClassificationData,
    ClassStudentSpec,
    all_students,
    check_students,
)
from distill.classification_report import write_classification_outputs
from distill.classification_task import ClassificationTask
from distill.data.digits import load_digits_images
from distill.data.images import load_image_csv, load_image_folders
from distill.data.mnist import download_mnist, load_mnist
from distill.data.splits_classification import stratified_folds
from distill.errors import DistillError
from distill.experiment import FoldData, ProtocolResult, run_protocol, summarize_protocol
from distill.features import FeatureTap
from distill.models import build_model
from distill.models.baselines import Majority

FOLDER_SIZE = 32  # default pixels for image folders and CSV-listed images


@dataclass
class LabelledImages:
    """All rows of a source; rows from `test_start` on form its fixed test split (None: no fixed split)."""

    x: torch.Tensor  # (N, C, H, W) float32
    y: torch.Tensor  # (N,) int64 task classes
    hidden: np.ndarray  # (N,) the source's own labels (differ from y when classes are grouped)
    classes: tuple[str, ...]
    test_start: int | None
    source: str


def resize(x: np.ndarray, size: int | None) -> torch.Tensor:
    """(N, C, H, W) tensor, bilinearly resized to size x size when a size is given."""
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if size is None or images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _fixed_split(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                 size: int | None, classes: tuple[str, ...], source: str) -> LabelledImages:
    y = np.concatenate([y_train, y_test])
    return LabelledImages(resize(np.concatenate([x_train, x_test]), size), torch.from_numpy(y), y, classes,
                          len(y_train), source)


def load_source(data: ClassificationData) -> LabelledImages:
    """The images and labels a config names (see `ClassificationData`)."""
    if data.source == "digits":
        x, y = load_digits_images(data.size or 8)
        return LabelledImages(torch.from_numpy(x), torch.from_numpy(y), y, tuple(map(str, range(10))), None,
                              "scikit-learn's bundled digits")
    if data.path is None:
        raise DistillError(f"data.source {data.source!r} needs data.path")
    if data.source == "mnist":
        folder = download_mnist(data.path) if data.download else data.path
        x_train, y_train, x_test, y_test = load_mnist(folder)
        return _fixed_split(x_train, y_train, x_test, y_test, data.size, tuple(map(str, range(10))),
                            f"MNIST IDX files in {data.path}")
    if data.source == "folders":
        splits = load_image_folders(data.path, data.size or FOLDER_SIZE, data.grayscale, data.mean, data.std)
        where = f"class folders under {data.path}"
    else:
        if data.csv is None:
            raise DistillError("data.source 'csv' needs data.csv, the annotations file")
        splits = load_image_csv(data.path, data.csv, data.size or FOLDER_SIZE, data.grayscale, data.mean, data.std)
        where = f"images in {data.path} listed in {data.csv}"
    return _fixed_split(splits.x_train, splits.y_train, splits.x_test, splits.y_test, None, splits.classes, where)


def group_classes(images: LabelledImages, groups: list[list[int]]) -> LabelledImages:
    """Merge the source's classes: task class i = the union of groups[i]; the source label stays hidden."""
    members = [label for group in groups for label in group]
    source_classes = set(range(len(images.classes)))
    if any(not group for group in groups) or len(members) != len(set(members)) or set(members) != source_classes:
        raise DistillError(f"data.groups must split the source classes 0..{len(images.classes) - 1} into "
                           f"non-empty groups, each class in exactly one; got {groups}")
    lookup = torch.empty(len(images.classes), dtype=torch.int64)
    for index, group in enumerate(groups):
        lookup[group] = index
    names = tuple("+".join(images.classes[label] for label in group) for group in groups)
    return LabelledImages(images.x, lookup[images.y], images.hidden, names, images.test_start, images.source)


def stratified_sample(rows: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """About `size` of `rows`, each class in proportion (at least one row per class), in their order."""
    labels = y[rows]
    picked = [rng.choice(rows[labels == label], size=min(int((labels == label).sum()),
                                                         max(1, round(size * np.mean(labels == label)))),
                         replace=False) for label in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def take_subset(images: LabelledImages, size: int, seed: int) -> LabelledImages:
    """A stratified sample of `size` images; a fixed train/test split keeps its proportions."""
    y = images.y.numpy()
    rng = np.random.default_rng(seed)
    if images.test_start is None:
        rows, test_start = stratified_sample(np.arange(len(y)), y, size, rng), None
    else:
        train_size = round(size * images.test_start / len(y))
        train = stratified_sample(np.arange(images.test_start), y, train_size, rng)
        test = stratified_sample(np.arange(images.test_start, len(y)), y, size - train_size, rng)
        rows, test_start = np.concatenate([train, test]), len(train)
    index = torch.from_numpy(rows)
    return LabelledImages(images.x[index], images.y[index], images.hidden[rows], images.classes, test_start,
                          f"{images.source} (stratified subset of {len(rows)} images)")


def load_images(data: ClassificationData, seed: int) -> LabelledImages:
    images = load_source(data)
    if data.subset is not None and data.subset < len(images.y):
        images = take_subset(images, data.subset, seed)
    return images if data.groups is None else group_classes(images, data.groups)


def make_fold_data(config: ClassificationConfig, images: LabelledImages) -> list[FoldData]:
    """Stratified K folds, or the source's own train/test split as one fold."""
    y = images.y.numpy()
    if images.test_start is None:
        splits = stratified_folds(y, config.cv.folds, config.cv.random_state)
    else:
        splits = [(np.arange(images.test_start), np.arange(images.test_start, len(y)))]
    folds = []
    for index, (train_rows, test_rows) in enumerate(splits):
        train_index, test_index = torch.from_numpy(train_rows), torch.from_numpy(test_rows)
        folds.append(FoldData(index=index, x_train=images.x[train_index], y_train=images.y[train_index],
                              x_test=images.x[test_index], y_test=images.y[test_index], test_rows=test_index))
    return folds


def _hooked_shape(spec_model: str, options: dict, path: str, shape: tuple[int, ...], outputs: int) -> torch.Size:
    model = build_model(spec_model, shape, outputs, **options)
    with FeatureTap(model, path) as tap, torch.no_grad():
        model.eval()
        model(torch.zeros((2, *shape)))
    if not isinstance(tap.value, torch.Tensor):
        raise DistillError(f"feature path {path!r} of the {spec_model} gives a {type(tap.value).__name__}, "
                           "not a tensor")
    return tap.value.shape


def check_feature_maps(config: ClassificationConfig, students: dict[str, ClassStudentSpec],
                       shape: tuple[int, ...], classes: int) -> None:
    """Before any training: every NST feature path names a module, and both maps have a rank NST accepts."""
    specs = {"teacher": config.teacher, **students}
    for name, spec in students.items():
        if spec.method != "nst":
            continue
        guide = specs.get(spec.teacher, config.teacher)
        mine = _hooked_shape(spec.model, spec.options, spec.features.student, shape, classes * spec.subclasses)
        theirs = _hooked_shape(guide.model, guide.options, spec.features.teacher, shape,
                               classes * guide.subclasses)
        if len(mine) != len(theirs) or len(mine) not in (3, 4):
            raise DistillError(f"feature maps of incompatible rank for student {name!r}: {spec.features.student!r} "
                               f"gives {tuple(mine)}, {spec.teacher}'s {spec.features.teacher!r} {tuple(theirs)}; "
                               "NST needs both (batch, channels, H, W) or both (batch, channels, length)")


@dataclass
class ClassificationRun:
    """Everything a report needs: the JSON-able results and the tensors behind the figures."""

    results: dict
    protocol: ProtocolResult
    students: dict[str, ClassStudentSpec]
    images: LabelledImages


def comparable(a: ClassStudentSpec, b: ClassStudentSpec) -> bool:
    """Same model, options and transfer set: a distilled student and the student alone it is compared with."""
    return a.model == b.model and a.options == b.options and a.transfer == b.transfer


def comparison_pairs(students: dict[str, ClassStudentSpec], scratch: str) -> list[tuple[str, str]]:
    """Each distilled student comparable with the scratch student against it; scratch vs teacher vs majority."""
    alone = students.get(scratch)
    pairs = [(name, scratch) for name, spec in students.items()
             if alone is not None and name != scratch and comparable(spec, alone)]
    return pairs + [(scratch, "teacher"), ("teacher", "majority")]


def honesty_notes(config: ClassificationConfig, images: LabelledImages,
                  students: dict[str, ClassStudentSpec]) -> list[str]:
    """Plain-language notes on how the models were trained and scored."""
    notes = ["Every model, distilled students included, is scored against the TRUE test labels; agreement "
             "with its teacher is reported separately as fidelity_to_teacher.",
             "Confusion matrices and per-class accuracy pool the test parts of all folds (each example once).",
             "Parameters, FLOPs and latency are measured by code."]
    if images.test_start is None:
        notes.append(f"Stratified {config.cv.folds}-fold cross-validation; mean +- SEM over folds.")
    else:
        notes.append("The source's own train/test split is the one fold: no SEM over folds (n/a).")
    if config.teacher.select == "best":
        notes.append("LEAK: one best-fold teacher teaches every fold's students, including rows it was trained on "
                     "and other folds' test rows (use teacher.select: per_fold).")
    for name, spec in students.items():
        if spec.transfer.fraction < 1.0 or spec.transfer.omit:
            omitted = f", without classes {spec.transfer.omit}" if spec.transfer.omit else ""
            notes.append(f"{name} trains on {spec.transfer.fraction:.0%} of each fold's training rows (a stratified "
                         f"transfer set){omitted}; the teacher trained on all of them.")
    return notes


def analyses(protocol: ProtocolResult, config: ClassificationConfig, students: dict[str, ClassStudentSpec],
             images: LabelledImages, models: dict) -> dict:
    """The recipe-specific parts of results.json (present only where they apply)."""
    classes = len(images.classes)
    scratch = config.report.scratch
    found = {}
    if scratch in models:
        alone = students[scratch]
        found["gap_recovered"] = {name: gap_recovered(models, name, scratch) for name, spec in students.items()
                                  if spec.method != "none" and comparable(spec, alone)}
    subclass_heads = [name for name in ("teacher", *students)
                      if protocol.outcomes[name][0].test_outputs.shape[1] > classes]
    if subclass_heads and config.data.groups is not None:
        found["subclass_recovery"] = subclass_recovery(protocol, subclass_heads, images.hidden, classes)
    omitting = {name: spec.transfer.omit for name, spec in students.items() if spec.transfer.omit}
    if omitting:
        found["bias_correction"] = {name: bias_correction(protocol, name, omitted, classes)
                                    for name, omitted in omitting.items()}
    if config.sweep is not None:
        found["sweep"] = sweep_grid(models, config.sweep)
    chain = chain_table(models, students)
    if chain:
        found["chains"] = chain
    return found


def run_classification(config: ClassificationConfig, show_progress: bool | None = None) -> ClassificationRun:
    """Run a classification recipe end to end and return its results (nothing is written here)."""
    if config.train.threads is not None:
        torch.set_num_threads(config.train.threads)  # before the first tensor work (resizing, feature checks)
    images = load_images(config.data, config.seed)
    classes = len(images.classes)
    students = all_students(config)
    check_students(config, students, classes)
    check_feature_maps(config, students, tuple(images.x.shape[1:]), classes)
    folds = make_fold_data(config, images)
    protocol = run_protocol(folds, ClassificationTask(classes, config.seed), config.teacher, students, config.train,
                            config.seed, baselines={"majority": lambda fold: Majority(fold.y_train, classes)},
                            latency_repeats=config.report.latency_repeats, show_progress=show_progress)
    summary = summarize_protocol(protocol, comparison_pairs(students, config.report.scratch),
                                 metric="error_rate")
    matrices = {name: confusion(protocol, name, classes) for name in protocol.outcomes}
    results = {
        "recipe": config.name,
        "task": "classification",
        "folds": len(folds),
        **summary,
        "classes": list(images.classes),
        "data": {"source": images.source, "images": len(images.y), "shape": list(images.x.shape[1:]),
                 "class_counts": torch.bincount(images.y, minlength=classes).tolist(),
                 "split": "stratified K-fold" if images.test_start is None else "fixed train/test split"},
        "confusion": {name: matrix.tolist() for name, matrix in matrices.items()},
        "per_class_accuracy": {name: per_class_accuracy(matrix) for name, matrix in matrices.items()},
        **analyses(protocol, config, students, images, summary["models"]),
        "teacher_for_students": [f"fold {i + 1}" for i in protocol.teacher_folds],
        "curves": {name: [run.curves for run in runs] for name, runs in protocol.outcomes.items()
                   if runs[0].curves["train"]},
        "notes": honesty_notes(config, images, students),
    }
    return ClassificationRun(results=results, protocol=protocol, students=students, images=images)


def execute(config: ClassificationConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write a classification recipe; the returned text is what the CLI prints."""
    return write_classification_outputs(run_classification(config, show_progress), config, out_dir)

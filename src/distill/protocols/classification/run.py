"""The classification recipes (hinton-digits, hinton-omit, kd-sweep, subclass-digits, nst-ta): labelled
images -> folds -> the shared protocol -> results.json, report.md and figures.

Sources without a fixed test split (the embedded digits) get stratified K-fold cross-validation; sources
with one (MNIST, image folders, the MHIST CSV) get that split as their one fold. Every model, students
included, is scored against the true labels of rows it never trained on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from distill.core.distributed import current_world
from distill.core.features import FeatureTap
from distill.core.flags import constant_flags
from distill.core.protocol import FoldData, ProtocolResult, run_protocol, summarize_protocol
from distill.core.stats import add_verdicts
from distill.data.labelled import LabelledImages, load_images
from distill.data.splits_classification import stratified_folds
from distill.errors import DistillError
from distill.io.run_writer import RunOutput, TrainedModels, write_run
from distill.io.tables import NOISY_NOTE, model_table, sem_caption, text_table
from distill.models import build_model
from distill.models.baselines import Majority
from distill.protocols.classification.analysis import (
    bias_correction,
    chain_table,
    confusion,
    gap_recovered,
    held_out_accuracy,
    per_class_accuracy,
    subclass_recovery,
    sweep_grid,
)
from distill.protocols.classification.config import (
    ClassificationConfig,
    ClassStudentSpec,
    all_students,
    check_students,
    soft_target_cell_name,
)
from distill.protocols.classification.figures import classification_figures
from distill.protocols.classification.report import (
    UNITS,
    ClassificationRun,
    classification_markdown,
    classification_notes,
    gain_lines,
)
from distill.tasks.classification import ClassificationTask

OTHER_RANKS_LATENCY_REPEATS = 3


def make_image_folds(config: ClassificationConfig, images: LabelledImages) -> list[FoldData]:
    """Stratified K folds, or the source's own train/test split as one fold."""
    y = images.y.numpy()
    if images.test_start is None:
        splits = stratified_folds(y, config.cv.folds, config.cv.random_state)
    else:
        splits = [(np.arange(images.test_start), np.arange(images.test_start, len(y)))]
    folds = []
    for index, (train_rows, test_rows) in enumerate(splits):
        train_index, test_index = torch.from_numpy(train_rows), torch.from_numpy(test_rows)
        privileged = images.privileged  # what the teacher sees instead of x, when the data has it
        folds.append(FoldData(index=index, x_train=images.x[train_index], y_train=images.y[train_index],
                              x_test=images.x[test_index], y_test=images.y[test_index], test_rows=test_index,
                              teacher_x_train=None if privileged is None else privileged[train_index],
                              teacher_x_test=None if privileged is None else privileged[test_index]))
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
                       shape: tuple[int, ...], classes: int, teacher_shape: tuple[int, ...] | None = None) -> None:
    """Before any training: every NST feature path names a module, and both maps have a rank NST accepts."""
    specs = {"teacher": config.teacher, **students}
    for name, spec in students.items():
        if spec.method != "nst":
            continue
        guide = specs.get(spec.teacher, config.teacher)
        mine = _hooked_shape(spec.model, spec.options, spec.features.student, shape, classes * spec.subclasses)
        theirs = _hooked_shape(guide.model, guide.options, spec.features.teacher,
                               teacher_shape or shape if spec.teacher == "teacher" else shape, classes * guide.subclasses)
        if len(mine) != len(theirs) or len(mine) not in (3, 4):
            raise DistillError(f"feature maps of incompatible rank for student {name!r}: {spec.features.student!r} "
                               f"gives {tuple(mine)}, {spec.teacher}'s {spec.features.teacher!r} {tuple(theirs)}; "
                               "NST needs both (batch, channels, H, W) or both (batch, channels, length)")


def comparable(a: ClassStudentSpec, b: ClassStudentSpec) -> bool:
    """Same model, options and transfer set: a distilled student and the student alone it is compared with."""
    return a.model == b.model and a.options == b.options and a.transfer == b.transfer


def comparison_pairs(students: dict[str, ClassStudentSpec], scratch: str,
                     sweep_cells: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Each distilled student comparable with the scratch student against it, and (sweep cells aside, which would
    swell the Holm family) against the teacher; scratch vs teacher vs majority."""
    alone = students.get(scratch)
    distilled = [name for name, spec in students.items()
                 if alone is not None and name != scratch and comparable(spec, alone)]
    return ([(name, scratch) for name in distilled] + [(name, "teacher") for name in distilled if name not in sweep_cells]
            + [(scratch, "teacher"), ("teacher", "majority")])


def analyses(protocol: ProtocolResult, config: ClassificationConfig, students: dict[str, ClassStudentSpec],
             images: LabelledImages, models: dict, task: ClassificationTask) -> dict:
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
        cells = {name: held_out_accuracy(protocol, name, students[name], task)
                 for name in (soft_target_cell_name(t, a) for t in config.sweep.temperatures
                              for a in config.sweep.alphas)}
        found["sweep"] = sweep_grid(models, config.sweep, None if None in cells.values() else cells)
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
    check_feature_maps(config, students, tuple(images.x.shape[1:]), classes,
                       None if images.privileged is None else tuple(images.privileged.shape[1:]))
    folds = make_image_folds(config, images)
    task = ClassificationTask(classes, config.seed)
    # on several processes rank 0 alone times the models (its figures are the ones written); the others time
    # them briefly and finish, so that they do not compete with rank 0 for the cores while it measures
    latency_repeats = config.report.latency_repeats if current_world().is_main else OTHER_RANKS_LATENCY_REPEATS
    protocol = run_protocol(folds, task, config.teacher, students, config.train,
                            config.seed, baselines={"majority": lambda fold: Majority(fold.y_train, classes)},
                            latency_repeats=latency_repeats, show_progress=show_progress)
    sweep_cells = frozenset() if config.sweep is None else frozenset(
        soft_target_cell_name(t, a) for t in config.sweep.temperatures for a in config.sweep.alphas)
    summary = summarize_protocol(protocol, comparison_pairs(students, config.report.scratch, sweep_cells),
                                 metric="error_rate")
    add_verdicts(summary["comparison"], lower_is_better=True)  # error rate = 1 - accuracy: the same paired test
    matrices = {name: confusion(protocol, name, classes) for name in protocol.outcomes}
    results = {
        "recipe": config.name,
        "task": task.name,
        "folds": len(folds),
        **summary,
        "classes": list(images.classes),
        "data": {"source": images.source, "images": len(images.y), "shape": list(images.x.shape[1:]),
                 "class_counts": torch.bincount(images.y, minlength=classes).tolist(),
                 "split": "stratified K-fold" if images.test_start is None else "fixed train/test split"},
        "confusion": {name: matrix.tolist() for name, matrix in matrices.items()},
        "per_class_accuracy": {name: per_class_accuracy(matrix) for name, matrix in matrices.items()},
        **analyses(protocol, config, students, images, summary["models"], task),
        "teacher_for_students": [f"fold {i + 1}" for i in protocol.teacher_folds],
        "curves": {name: [run.curves for run in runs] for name, runs in protocol.outcomes.items()
                   if runs[0].curves["train"]},
        "notes": classification_notes(config, images, students) + constant_flags(protocol, skip={"majority"}),
    }
    world = current_world()
    if world.size > 1:
        results["distributed"] = {"world_size": world.size, "backend": dist.get_backend()}
    return ClassificationRun(results=results, protocol=protocol, students=students, images=images)


def execute(config: ClassificationConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write a classification recipe; the returned text is what the CLI prints. On several processes
    every rank trains and rank 0 alone writes (the others return "")."""
    run = run_classification(config, show_progress)
    if not current_world().is_main:
        return ""
    return write_run(classification_output(run, config), config, out_dir)


def classification_output(run: ClassificationRun, config: ClassificationConfig) -> RunOutput:
    """What the run writer writes: every fold's models, figures, report.md, results.json."""
    results, protocol = run.results, run.protocol
    trained = TrainedModels(protocol.models, {"teacher": config.teacher, **run.students}, protocol.input_shapes())
    summary = [text_table(model_table(results["models"], ["accuracy", "errors"])), sem_caption(results["folds"], UNITS),
               NOISY_NOTE, "", *gain_lines(results)]
    return RunOutput(results=results, figures=lambda out_dir: classification_figures(run, out_dir),
                     report=lambda figures: classification_markdown(run, config, figures), summary=summary,
                     trained=[trained])

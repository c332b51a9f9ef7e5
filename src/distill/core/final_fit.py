"""After cross-validation: the teacher and every student fitted once more on all the data, the models to deploy.

Cross-validation scores a procedure (this architecture, these settings, this many epochs) on data each fold
model never saw; the fold models themselves never train on their own test block, so none has seen all the
data, and in a time series none of the blocked folds' models has both the newest and the oldest days. The
final models repeat the procedure on every window, and the CV scores estimate their error.

Nothing is left to validate on, so each model trains for a fixed number of epochs: the median of the best epochs
its fold copies reached on their inner validation windows (`curves["best_epoch"]`), or its configured epochs when
the protocol had no inner validation. The teacher is fitted first; each student then learns from the final model
its spec names (the final teacher, or an earlier final student); students that learn from models already fitted
train at once on `train.workers` processes (`distill.core.workers`), with the same numbers. A teacher shrunk
towards ridge in cross-validation (`teacher.shrink`) is fitted as its base model and then shrunk with the folds'
median weight (`distill.core.shrinkage.shrink_final`).
"""
from __future__ import annotations

import statistics
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from tqdm.auto import tqdm

from distill.config import DistilledSpec, ModelSpec, TrainSection
from distill.core.fold_fits import restored
from distill.core.shrinkage import base_spec, shrink_final
from distill.core.task import FoldData, Task
from distill.core.train import fit
from distill.core.workers import run_jobs, student_groups
from distill.devices import resolve_device
from distill.losses import total
from distill.models import build_model

FINAL_SEED_OFFSET = 999_983  # final models draw their own initialisation and batch order from the run's seed


def final_epochs(curves: list[dict], spec: ModelSpec, train: TrainSection) -> int:
    """The median best epoch of a model's folds on inner validation, else its configured epochs."""
    best = [curve["best_epoch"] for curve in curves if curve.get("best_epoch")]
    return max(1, round(statistics.median(best))) if best else spec.epochs or train.epochs


def _fit_one(model: nn.Module, loss: Callable[[torch.Tensor], torch.Tensor], n_rows: int, spec: ModelSpec,
             train: TrainSection, epochs: int, seed: int, name: str) -> None:
    fit(model, loss, n_rows, epochs=epochs, batch_size=train.batch_size, lr=spec.lr, weight_decay=spec.weight_decay,
        seed=seed, unit=(f"final-{name}", "all", 0))
    model.eval()


def fit_final(data: FoldData, task: Task, teacher: ModelSpec, students: dict[str, DistilledSpec],
              train: TrainSection, seed: int, epochs: dict[str, int],
              shrinkage: list[dict] | None = None) -> dict[str, nn.Module]:
    """Teacher, then every student, fitted on all of `data`'s training rows for `epochs[name]` epochs; the
    models on the CPU in eval mode, by name. `shrinkage`: the folds' (a shrunk teacher's)."""
    device = resolve_device(train.device)
    data = data.to(device)
    base = seed * 1_000_003 + FINAL_SEED_OFFSET
    x_teacher = data.inputs("teacher")[0]
    shrunk, teacher = teacher, base_spec(teacher) if teacher.model == "shrunk" else teacher
    torch.manual_seed(base)
    model = build_model(teacher.model, tuple(x_teacher.shape[1:]), task.output_dim(teacher, data),
                        **teacher.options).to(device)
    task.prepare(model, teacher, data, train, base, None)
    _fit_one(model, lambda rows: task.teacher_loss(model, x_teacher[rows], data.y_train[rows], teacher),
             len(x_teacher), teacher, train, epochs["teacher"], base, "teacher")
    if shrunk.model == "shrunk":
        model = shrink_final(model, teacher, data, shrinkage or []).eval()
    trained = {"teacher": model}
    roles = {name: role for role, name in enumerate(students, start=1)}
    workers = 1 if task.prepares_models else train.workers
    shape = tuple(data.x_train.shape[1:])

    def student_job(bar: object, name: str) -> nn.Module:
        spec, role = students[name], roles[name]
        rows = task.transfer_rows(data, spec)
        guide = task.guide(trained[spec.teacher], data.inputs(spec.teacher)[0][rows], spec)  # computed once
        torch.manual_seed(base + role)
        student = build_model(spec.model, shape, task.output_dim(spec, data), **spec.options).to(device)
        task.prepare(student, spec, data, train, base + role, guide)
        loss = (lambda batch, m=student, r=rows, g=guide, s=spec: total(task.student_loss(
            m, data.x_train[r[batch]], data.y_train[r[batch]], g.rows(batch), s)))
        _fit_one(student, loss, len(rows), spec, train, epochs[name], base + role, name)
        return student

    for group in student_groups(students):
        def rebuilt(index: int, state: dict, group: list[str] = group) -> nn.Module:
            spec = students[group[index]]
            return restored(partial(build_model, spec.model, shape, task.output_dim(spec, data), **spec.options),
                            state, device)

        jobs = [partial(student_job, name=name) for name in group]
        fitted = run_jobs(jobs, workers, tqdm(disable=True), pack=lambda student: student.state_dict(), unpack=rebuilt,
                          device=device)
        trained.update(zip(group, fitted))
    return {name: model.cpu().eval() for name, model in trained.items()}


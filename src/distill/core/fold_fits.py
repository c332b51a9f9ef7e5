"""Building and fitting the protocol's fold models (`distill.core.protocol`): one model per fold, or the K fold
models at once as one stacked model where the task and architecture allow (`distill.core.fold_parallel`).

Every fit seeds torch right before it builds its models (`build`) and draws its batch order from its own
generators, so a fit's numbers depend on its seeds only - not on what trained before it or in which process
(`distill.core.workers`).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from distill.config import ModelSpec, TrainSection
from distill.core.curves import LearningCurves, loop_state
from distill.core.early_stopping import best_epoch_stoppers
from distill.core.fold_parallel import can_stack, fit_stacked, stack_models
from distill.core.resume import UnitKey
from distill.core.task import FoldData, Task
from distill.core.train import fit
from distill.data.windows import gather_rows
from distill.losses import TermLog
from distill.methods import Guide
from distill.models import build_model


def input_shape(fold: FoldData, role: str) -> tuple[int, ...]:
    """One example's input shape for a role (the teacher's may hold privileged inputs)."""
    return tuple(fold.inputs(role)[0].shape[1:])


def seed_for(seed: int, fold: int, role: int) -> int:
    return seed * 1_000_003 + fold * 101 + role


def build(spec: ModelSpec, fold: FoldData, task: Task, seed: int, role: str = "student") -> nn.Module:
    torch.manual_seed(seed)
    shape = input_shape(fold, role)
    return build_model(spec.model, shape, task.output_dim(spec, fold), **spec.options).to(fold.y_train.device)


def fit_model(model: nn.Module, loss: Callable[[torch.Tensor], torch.Tensor], fold: FoldData, task: Task,
               spec: ModelSpec, train: TrainSection, seed: int, bar: tqdm, role: str, unit: UnitKey,
               n_train: int | None = None, terms: TermLog | None = None) -> dict[str, list[float]]:
    epochs = spec.epochs or train.epochs
    curves = LearningCurves(model, fold, task, role, epochs, train.curve_every)
    stoppers = best_epoch_stoppers([model], [fold], task, train, role)

    def on_epoch_end(epoch: int) -> bool:
        curves.log_terms(terms)
        curves(epoch)
        return bool(stoppers) and stoppers[0](epoch)

    save_extra, load_extra = loop_state([curves], stoppers)
    fit(model, loss, len(fold.x_train) if n_train is None else n_train, epochs=epochs,
        batch_size=train.batch_size, lr=spec.lr, weight_decay=spec.weight_decay, seed=seed,
        on_epoch_end=on_epoch_end, tick=lambda: bar.update(1), save_extra=save_extra, load_extra=load_extra,
        unit=unit)
    for stopper in stoppers:
        stopper.restore_into(curves.values)
    return curves.values


def can_fit_stacked(task: Task, models: list[nn.Module], folds: list[FoldData], train: TrainSection) -> bool:
    """Fold-parallel training applies when asked for, the task can stack folds, does not change a fold's
    model before training or pick its rows, and the fold models are one stackable architecture."""
    hooks = task.prepares_models or task.picks_transfer_rows
    return train.fold_parallel and task.stacks_folds and not hooks and can_stack(models)


def fit_stacked_models(models: list[nn.Module], folds: list[FoldData], role: str, spec: ModelSpec, task: Task,
                 guides: list[Guide] | None, train: TrainSection, seeds: list[int],
                 bar: tqdm, unit: UnitKey) -> list[dict[str, list[float]]]:
    """Train one model per fold at once (see `distill.core.fold_parallel`); the fold models get the weights."""
    stacked = stack_models(models)
    inputs = [fold.inputs(role)[0] for fold in folds]
    epochs = spec.epochs or train.epochs
    curves = [LearningCurves(model, fold, task, role, epochs, train.curve_every) for model, fold in zip(models, folds)]
    stoppers = best_epoch_stoppers(models, folds, task, train, role)
    logs = [TermLog() for _ in folds] if guides is not None else []  # a distilled student's terms per fold

    def batch_loss(rows: torch.Tensor) -> torch.Tensor:  # rows: (K, batch)
        rows = rows.to(folds[0].y_train.device)
        x = torch.empty((len(folds), rows.shape[1], *inputs[0].shape[1:]), dtype=inputs[0].dtype,
                        device=rows.device)  # (K, batch, ...)
        for k, fold_rows in enumerate(rows):
            gather_rows(inputs[k], fold_rows, out=x[k])
        y = torch.stack([fold.y_train[rows[k]] for k, fold in enumerate(folds)])
        if guides is None:
            return task.stacked_teacher_loss(stacked(x), y, spec)
        outputs, guide = stacked(x), Guide.stack(guides, rows)
        for log, terms in zip(logs, task.stacked_student_terms(outputs.detach(), y, guide, spec)):
            log.add(terms)
        return task.stacked_student_loss(outputs, y, guide, spec)

    def on_epoch_end(epoch: int) -> bool:
        for curve, log in zip(curves, logs):
            curve.log_terms(log)
        scored = (epoch + 1) % train.curve_every == 0 or epoch + 1 == epochs
        if scored or stoppers:
            stacked.unstack_into(models)
        if scored:
            for curve in curves:
                curve(epoch)
        return bool(stoppers) and all([stopper(epoch) for stopper in stoppers])  # a list: every fold is scored

    save_extra, load_extra = loop_state(curves, stoppers)
    fit_stacked(stacked, batch_loss, [len(x) for x in inputs], epochs=epochs,
                batch_size=train.batch_size, lr=spec.lr, weight_decay=spec.weight_decay, seeds=seeds,
                on_epoch_end=on_epoch_end, tick=lambda: bar.update(len(folds)),
                save_extra=save_extra, load_extra=load_extra, unit=unit)
    stacked.unstack_into(models)
    for stopper, curve in zip(stoppers, curves):
        stopper.restore_into(curve.values)
    return [curve.values for curve in curves]


def restored(make: Callable[[], nn.Module], state: dict, device: torch.device | str) -> nn.Module:
    """A model a worker process trained (`distill.core.workers`), rebuilt here from its weights, in eval mode;
    building draws initial weights, so it runs under `fork_rng` and the run's own random stream stays as it was."""
    with torch.random.fork_rng():
        model = make()
    model.load_state_dict(state)
    return model.to(device).eval()

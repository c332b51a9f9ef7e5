"""The one fit loop of the package (`run_epochs`), used by the recipes on in-memory tensors (`fit`: no
DataLoader, no per-step copies), by the fold-parallel stacks (`distill.core.fold_parallel.fit_stacked`) and
by `distill.Distiller.fit` on DataLoaders, with the optimiser step they share (`train_step`).

The loop knows nothing about distillation: the caller passes its batches and `step(batch)`, which runs the
model on them and returns the scalar objective (the method's terms summed, `distill.methods`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import islice
from typing import TypeVar

import torch
from torch import nn

from distill.core.distributed import current_world, data_parallel, rank_loss
from distill.core.resume import Unit, UnitKey, restore_rng, rng_state, unit_for
from distill.core.run_log import run_log
from distill.data.windows import WindowSet


def make_adam(parameters: Iterable[nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with torch's fused kernel (CPU and CUDA), the optimiser of every recipe and of `Distiller`."""
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True)


def train_step(optimizer: torch.optim.Optimizer, loss_fn: Callable[[], torch.Tensor], *,
               scaler: torch.amp.GradScaler | None = None, max_grad_norm: float | None = None) -> torch.Tensor:
    """One optimiser step: zero the gradients, `loss_fn()`, backward, optional clipping, step.

    With a `scaler` (mixed precision on CUDA) the loss is scaled for backward and the gradients unscaled
    before clipping; `max_grad_norm` clips the global L2 norm of the optimiser's gradients. Returns the
    loss, detached.
    """
    return accumulated_step(optimizer, [loss_fn], scaler=scaler, max_grad_norm=max_grad_norm)


def accumulated_step(optimizer: torch.optim.Optimizer, loss_fns: Sequence[Callable[[], torch.Tensor]], *,
                     scaler: torch.amp.GradScaler | None = None, max_grad_norm: float | None = None) -> torch.Tensor:
    """One optimiser step on the gradients of several batches (gradient accumulation): each `loss_fn()` is
    backpropagated at once (so one batch's graph is alive at a time) and the summed gradients are divided by
    their count, so N batches of B rows step as one batch of N x B rows would (for mean losses). One batch
    is `train_step`. Returns the last batch's loss, detached."""
    optimizer.zero_grad(set_to_none=True)
    for loss_fn in loss_fns:
        loss = loss_fn()
        (loss if scaler is None else scaler.scale(loss)).backward()
    if len(loss_fns) > 1 or max_grad_norm is not None:
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
    if len(loss_fns) > 1:
        torch._foreach_div_([p.grad for p in parameters if p.grad is not None], float(len(loss_fns)))
    if max_grad_norm is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


Batch = TypeVar("Batch")


def _groups(batches: Iterable[Batch], size: int) -> Iterator[list[Batch]]:
    """Consecutive groups of `size` batches (the last may be shorter)."""
    iterator = iter(batches)
    while group := list(islice(iterator, size)):
        yield group


def run_epochs(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Callable[[int], Iterable[Batch]],
               step: Callable[[Batch], torch.Tensor], *, epochs: int, generators: list[torch.Generator] | None = None,
               on_epoch_end: Callable[[int], bool | None] | None = None, tick: Callable[[], None] | None = None,
               scaler: torch.amp.GradScaler | None = None, max_grad_norm: float | None = None,
               save_extra: Callable[[], dict] | None = None, load_extra: Callable[[dict], None] | None = None,
               unit: UnitKey | None = None, accumulate: int = 1, on_step: Callable[[], None] | None = None,
               saves: Unit | None = None, resumes: Unit | None = None,
               on_epoch_start: Callable[[int], None] | None = None) -> None:
    """At most `epochs` epochs: `on_epoch_start(epoch)` (0-based; a method's schedule over the epochs, e.g.
    `distill.methods.Method.at_epoch`), an optimiser step (`accumulated_step`) on `step(batch)` for every
    `accumulate` batches of `batches(epoch)` (model in train mode; `on_step()` after each), then
    `on_epoch_end(epoch)` (0-based; model in eval mode), which returns True to stop.

    `generators` draw the batch order; while a run checkpoints (`distill.core.resume`), a loop with a `unit`
    key saves them with the model, the optimiser, torch's RNG and `save_extra()` (the caller's state: curves,
    early stopping) at every due epoch end, and a resumed loop starts after the last saved epoch, handing that
    state to `load_extra`; under the recipes' `train.log` such a loop logs each epoch's mean training loss
    (`distill.core.run_log`). Outside a run, `saves` and `resumes` name the checkpoint files directly (the
    Distiller's `Checkpoint` callback and `fit(resume=...)`). `tick()` after every epoch advances a progress bar.
    """
    generators = generators or []
    if unit is not None:
        saves = resumes = unit_for(unit)
    log = run_log() if unit is not None and current_world().is_main else None
    start = resume_loop(resumes, model, optimizer, generators, epochs, load_extra)
    for epoch in range(start, epochs):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        began, losses = time.perf_counter(), []  # the losses only for the log
        model.train()
        for group in _groups(batches(epoch), accumulate):
            loss = accumulated_step(optimizer, [partial(step, batch) for batch in group], scaler=scaler,
                                    max_grad_norm=max_grad_norm)
            if log is not None:
                losses.append(loss)
            if on_step is not None:
                on_step()
        model.eval()
        if log is not None and unit is not None:  # the recipes' train.log (distill.core.run_log)
            log.epoch(unit, epoch + 1, float(torch.stack(losses).mean()), time.perf_counter() - began)
        stop = bool(on_epoch_end is not None and on_epoch_end(epoch))
        save_loop(saves, model, optimizer, generators, epoch, epochs, stop, save_extra)
        if tick is not None:
            tick()
        if stop:
            break


def fit(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor], n_train: int, *,
        epochs: int, batch_size: int, lr: float, seed: int, weight_decay: float = 0.0,
        on_epoch_end: Callable[[int], bool | None] | None = None, tick: Callable[[], None] | None = None,
        save_extra: Callable[[], dict] | None = None, load_extra: Callable[[dict], None] | None = None,
        unit: UnitKey | None = None, on_epoch_start: Callable[[int], None] | None = None,
        optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
        lr_at: Callable[[int], float] | None = None) -> None:
    """Adam (fused CPU kernel; or `optimizer(parameters)`) over shuffled mini-batches of row indices for at most
    `epochs` epochs; `lr_at(epoch)` is the learning rate of each epoch (0-based; a step schedule), set before it.

    `on_epoch_start(epoch)` runs before each epoch (0-based; also the first after a resume: a method's schedule),
    `on_epoch_end(epoch)` with the model in eval mode (curves are recorded there); when it returns True, training
    stops (early stopping). `tick()` after every epoch advances a progress bar. The shuffling order
    depends on `seed` only. Under a multi-process launch every rank draws the same global batches and takes
    its share of each (`distill.core.distributed`): the same steps as one process with `batch_size` rows.
    While a run checkpoints (`distill.core.resume`), a loop with a `unit` key saves every epoch end with
    `save_extra()` (the caller's state) and a resumed run starts after the last saved epoch, handing that state
    to `load_extra`.
    """
    optimiser = make_adam(model.parameters(), lr, weight_decay) if optimizer is None else optimizer(model.parameters())
    generator = torch.Generator().manual_seed(seed)
    world = current_world()

    def batches(epoch: int) -> Iterable[torch.Tensor]:
        return torch.randperm(n_train, generator=generator).split(batch_size)

    def step(rows: torch.Tensor) -> torch.Tensor:
        return batch_loss(rows) if world.size == 1 else rank_loss(batch_loss, rows, world)

    def start(epoch: int) -> None:
        if lr_at is not None:  # from the epoch alone, so a resumed run needs no scheduler state
            for group in optimiser.param_groups:
                group["lr"] = lr_at(epoch)
        if on_epoch_start is not None:
            on_epoch_start(epoch)

    with data_parallel(model, world, seed):
        run_epochs(model, optimiser, batches, step, epochs=epochs, generators=[generator], on_epoch_end=on_epoch_end,
                   tick=tick, save_extra=save_extra, load_extra=load_extra, unit=unit, on_epoch_start=start)


def resume_loop(unit: Unit | None, model: nn.Module, optimizer: torch.optim.Optimizer,
                generators: list[torch.Generator], epochs: int, load_extra: Callable[[dict], None] | None) -> int:
    """Load a training loop's last checkpoint, if any, and return the first epoch still to train."""
    saved = None if unit is None else unit.load()
    if saved is None:
        return 0
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    for generator, state in zip(generators, saved["generators"], strict=True):
        generator.set_state(state)
    restore_rng(saved)
    if load_extra is not None:
        load_extra(saved["extra"])
    model.eval()
    return epochs if saved["stopped"] else saved["epoch"]


def save_loop(unit: Unit | None, model: nn.Module, optimizer: torch.optim.Optimizer,
              generators: list[torch.Generator], epoch: int, epochs: int, stopped: bool,
              save_extra: Callable[[], dict] | None) -> None:
    """Checkpoint a training loop after `epoch` (0-based) when the run checkpoints and a save is due."""
    if unit is None or not unit.due(stopped or epoch + 1 == epochs):
        return
    unit.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "generators": [generator.get_state() for generator in generators], **rng_state(),
               "epoch": epoch + 1, "stopped": bool(stopped), "extra": None if save_extra is None else save_extra()})


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor | WindowSet, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs on all rows of x, in eval mode, without gradients."""
    model.eval()
    return torch.cat([model(part) for part in x.split(batch_size)]) if len(x) else model(x)

"""The one fit loop of the package (`run_epochs`), used by the recipes on in-memory tensors (`fit`: no
DataLoader, no per-step copies), by the fold-parallel stacks (`distill.core.fold_parallel.fit_stacked`) and
by `distill.Distiller.fit` on DataLoaders, with the optimiser step they share (`train_step`).

The loop knows nothing about distillation: the caller passes its batches and `step(batch)`, which runs the
model on them and returns the scalar objective (the method's terms summed, `distill.methods`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

import torch
from torch import nn

from distill.core.distributed import current_world, data_parallel, rank_loss
from distill.core.resume import Unit, UnitKey, restore_rng, rng_state, unit_for
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
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn()
    (loss if scaler is None else scaler.scale(loss)).backward()
    if max_grad_norm is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


Batch = TypeVar("Batch")


def run_epochs(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Callable[[int], Iterable[Batch]],
               step: Callable[[Batch], torch.Tensor], *, epochs: int, generators: list[torch.Generator] | None = None,
               on_epoch_end: Callable[[int], bool | None] | None = None, tick: Callable[[], None] | None = None,
               scaler: torch.amp.GradScaler | None = None, max_grad_norm: float | None = None,
               save_extra: Callable[[], dict] | None = None, load_extra: Callable[[dict], None] | None = None,
               unit: UnitKey | None = None) -> None:
    """At most `epochs` epochs: `train_step` on `step(batch)` for every batch of `batches(epoch)` (model in
    train mode), then `on_epoch_end(epoch)` (0-based; model in eval mode), which returns True to stop.

    `generators` draw the batch order; while a run checkpoints (`distill.core.resume`), a loop with a `unit`
    key saves them with the model, the optimiser, torch's RNG and `save_extra()` (the caller's state: curves,
    early stopping) at every due epoch end, and a resumed loop starts after the last saved epoch, handing that
    state to `load_extra`. `tick()` after every epoch advances a progress bar.
    """
    generators = generators or []
    checkpoint = unit_for(unit)
    start = resume_loop(checkpoint, model, optimizer, generators, epochs, load_extra)
    for epoch in range(start, epochs):
        model.train()
        for batch in batches(epoch):
            train_step(optimizer, partial(step, batch), scaler=scaler, max_grad_norm=max_grad_norm)
        model.eval()
        stop = bool(on_epoch_end is not None and on_epoch_end(epoch))
        save_loop(checkpoint, model, optimizer, generators, epoch, epochs, stop, save_extra)
        if tick is not None:
            tick()
        if stop:
            break


def fit(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor], n_train: int, *,
        epochs: int, batch_size: int, lr: float, seed: int, weight_decay: float = 0.0,
        on_epoch_end: Callable[[int], bool | None] | None = None, tick: Callable[[], None] | None = None,
        save_extra: Callable[[], dict] | None = None, load_extra: Callable[[dict], None] | None = None,
        unit: UnitKey | None = None) -> None:
    """Adam (fused CPU kernel) over shuffled mini-batches of row indices for at most `epochs` epochs.

    `on_epoch_end(epoch)` runs with the model in eval mode (curves are recorded there); when it returns True,
    training stops (early stopping). `tick()` after every epoch advances a progress bar. The shuffling order
    depends on `seed` only. Under a multi-process launch every rank draws the same global batches and takes
    its share of each (`distill.core.distributed`): the same steps as one process with `batch_size` rows.
    While a run checkpoints (`distill.core.resume`), a loop with a `unit` key saves every epoch end with
    `save_extra()` (the caller's state) and a resumed run starts after the last saved epoch, handing that state
    to `load_extra`.
    """
    optimizer = make_adam(model.parameters(), lr, weight_decay)
    generator = torch.Generator().manual_seed(seed)
    world = current_world()

    def batches(epoch: int) -> Iterable[torch.Tensor]:
        return torch.randperm(n_train, generator=generator).split(batch_size)

    def step(rows: torch.Tensor) -> torch.Tensor:
        return batch_loss(rows) if world.size == 1 else rank_loss(batch_loss, rows, world)

    with data_parallel(model, world, seed):
        run_epochs(model, optimizer, batches, step, epochs=epochs, generators=[generator], on_epoch_end=on_epoch_end, tick=tick,
                   save_extra=save_extra, load_extra=load_extra, unit=unit)


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

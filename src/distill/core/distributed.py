"""Training past one process with PyTorch's own engine: `torch.distributed` process groups (gloo on CPU,
NCCL on GPUs) and DistributedDataParallel.

Two ways in: `torchrun --nproc-per-node N script.py` (or `--nnodes` across machines) sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and `init_from_env` joins the group; `launch(function, nproc)`
(behind `distill run --nproc N`) starts N local processes itself. Every rank draws the same global batch
order from the seed and a `DistributedSampler` gives rank r the positions r, r + N, ... of it, so N
processes with batch B/N each take the same optimiser steps as one process with batch B (DDP averages the
gradients). Rank 0 writes outputs.

The recipes' fit loop (`distill.core.train.fit`) trains through `data_parallel`: the model in DDP, batch norms
that normalise with the statistics of the whole global batch (`global_batch_norm`; torch's SyncBatchNorm is
GPU-only), and each rank's loss weighted by its share of the batch (`rank_loss`), so a run without random
draws in training gives the same numbers on N processes as on one. Dropout and input jitter draw on each rank
from its own stream: such runs match one process in distribution, not number for number.
"""
from __future__ import annotations

import atexit
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from distill.errors import DistillError
from distill.losses.terms import weighted_step

EXIT_BARRIER = 300  # seconds the ranks wait for each other at exit (gloo)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    """The rank and size of the default process group, or rank 0 of 1."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def launched() -> bool:
    """Whether a launcher (torchrun, `launch`) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device) -> World:
    """Join the process group a launcher (torchrun, `launch`) describes in the environment, once.

    Without WORLD_SIZE > 1 in the environment nothing happens and the world is rank 0 of 1. The group is left
    together when the process exits (`leave_group`).
    """
    if not dist.is_initialized() and launched():
        if not dist.is_available():
            raise DistillError("this torch build has no torch.distributed; run with one process")
        dist.init_process_group(backend=backend_for(device))
        atexit.register(leave_group)
    return current_world()


def leave_group() -> None:
    """Leave the process group together, then destroy it: after a normal exit a barrier first, so that no
    rank closes its connections while another still reads them (a rank that exits early otherwise brings the
    slower ranks down with "terminate called without an active exception"); gloo's barrier gives up after
    EXIT_BARRIER seconds. After an uncaught exception the group is destroyed at once (the launcher stops the
    other ranks)."""
    if not dist.is_initialized():
        return
    try:
        if getattr(sys, "last_value", None) is None:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier(timeout=timedelta(seconds=EXIT_BARRIER))
            else:
                dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank_main(rank: int, nproc: int, port: int, function: Callable[..., Any], args: tuple) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        function(*args)
    except BaseException:
        if dist.is_initialized():  # no exit barrier: the other ranks are stopped by `launch`
            dist.destroy_process_group()
        raise
    leave_group()


def launch(function: Callable[..., Any], nproc: int, *args: Any) -> None:
    """Run `function(*args)` in `nproc` local processes that form one group (as torchrun would).

    `function` must be importable (a module-level function); it joins the group with `init_from_env`.
    """
    if nproc < 1:
        raise DistillError(f"--nproc must be >= 1, got {nproc}")
    if launched():
        raise DistillError("already running under a launcher (WORLD_SIZE is set); drop --nproc")
    try:
        mp.start_processes(_rank_main, args=(nproc, _free_port(), function, args), nprocs=nproc,
                           start_method="spawn")
    except mp.ProcessRaisedException as error:  # a user error in a rank stays one line
        last = str(error).strip().splitlines()[-1]
        prefix = f"{DistillError.__module__}.{DistillError.__name__}: "
        if last.startswith(prefix):
            raise DistillError(last[len(prefix):]) from None
        raise


def rank_rows(rows: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's share of one global batch of row numbers: positions rank, rank + size, ..."""
    return rows[world.rank::world.size]


def broadcast_object(value: Any, world: World) -> Any:
    """Rank 0's `value` on every rank (a no-op in one process)."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank_loss(batch_loss: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's part of the mean loss over one global batch of `rows`, scaled so that DDP's average of the
    ranks' gradients is the gradient of the global batch's mean loss (the last batch may split unevenly).

    A rank left without rows (a last batch smaller than the world) runs one row with weight 0, so that it
    still joins the gradient all-reduce.
    """
    local = rank_rows(rows, world)
    if len(local) == 0:
        with weighted_step(0.0):
            return batch_loss(rows[:1]) * 0.0
    share = len(local) * world.size / len(rows)
    with weighted_step(share):
        return batch_loss(local) * share


class _SumOverRanks(torch.autograd.Function):
    """all-reduce (sum) with its gradient: every rank's loss depends on the sum, so the gradient is summed too."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def global_batch_norm(norm: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """`norm` in training mode with the mean and variance of the global batch: per-channel sums over every
    rank (a differentiable all-reduce), the running statistics updated as torch's batch norm does."""
    if not norm.training:
        return type(norm).forward(norm, x)
    channels, dims = x.shape[1], [0, *range(2, x.dim())]
    local = x.double()
    stats = torch.cat([local.sum(dims), (local * local).sum(dims), local.new_tensor([x.numel() / channels])])
    stats = _SumOverRanks.apply(stats)  # (2 * channels + 1,) summed over ranks
    count = stats[-1]
    mean = stats[:channels] / count
    var = (stats[channels:2 * channels] / count - mean * mean).clamp_min(0.0)
    tracked, running_mean, running_var = norm.num_batches_tracked, norm.running_mean, norm.running_var
    if norm.track_running_stats and tracked is not None and running_mean is not None and running_var is not None:
        with torch.no_grad():
            tracked.add_(1)
            factor = 1.0 / float(tracked) if norm.momentum is None else norm.momentum
            running_mean.lerp_(mean.to(running_mean.dtype), factor)
            unbiased = var * count / (count - 1).clamp_min(1.0)
            running_var.lerp_(unbiased.to(running_var.dtype), factor)
    shape = (1, channels, *[1] * (x.dim() - 2))
    out = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype).view(shape) + norm.eps)
    return out * norm.weight.view(shape) + norm.bias.view(shape) if norm.affine else out


@contextmanager
def data_parallel(model: nn.Module, world: World, seed: int) -> Iterator[None]:
    """While the block trains `model` on `world.size` > 1 processes: `model(x)` in training runs through a
    DistributedDataParallel wrapper (gradients averaged over ranks), its batch norms use the global batch's
    statistics, and torch's global random stream (dropout, jitter) is seeded per rank. One process: nothing
    changes. The model object, its modules and its state dict stay as they were, so callers keep using it."""
    if world.size == 1:
        yield
        return
    torch.manual_seed(seed * 1_009 + world.rank)
    norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    for norm in norms:
        setattr(norm, "forward", partial(global_batch_norm, norm))  # noqa: B010 (an instance attribute, on purpose)
    wrapper = DistributedDataParallel(model)
    plain, inside = model.forward, [False]

    def routed(*args: Any, **kwargs: Any) -> Any:
        if inside[0] or not (model.training and torch.is_grad_enabled()):
            return plain(*args, **kwargs)
        inside[0] = True
        try:
            return wrapper(*args, **kwargs)  # calls model again, which then runs `plain`
        finally:
            inside[0] = False

    model.forward = routed
    try:
        yield
    finally:
        del model.forward
        for norm in norms:
            del norm.forward

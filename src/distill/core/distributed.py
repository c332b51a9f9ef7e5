"""Training past one process with PyTorch's own engine: `torch.distributed` process groups (gloo on CPU,
NCCL on GPUs) and DistributedDataParallel.

Two ways in: `torchrun --nproc-per-node N script.py` (or `--nnodes` across machines) sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT, and `init_from_env` joins the group; `launch(function, nproc)`
(behind `distill run --nproc N`) starts N local processes itself. Every rank draws the same global batch
order from the seed and a `DistributedSampler` gives rank r the positions r, r + N, ... of it, so N
processes with batch B/N each take the same optimiser steps as one process with batch B (DDP averages the
gradients). Rank 0 writes outputs.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from distill.errors import DistillError


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


def init_from_env(device: torch.device) -> World:
    """Join the process group a launcher (torchrun, `launch`) describes in the environment, once.

    Without WORLD_SIZE > 1 in the environment nothing happens and the world is rank 0 of 1.
    """
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not dist.is_available():
            raise DistillError("this torch build has no torch.distributed; run with one process")
        dist.init_process_group(backend=backend_for(device))
    return current_world()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank_main(rank: int, nproc: int, port: int, function: Callable[..., Any], args: tuple) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        function(*args)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(function: Callable[..., Any], nproc: int, *args: Any) -> None:
    """Run `function(*args)` in `nproc` local processes that form one group (as torchrun would).

    `function` must be importable (a module-level function); it joins the group with `init_from_env`.
    """
    if nproc < 1:
        raise DistillError(f"--nproc must be >= 1, got {nproc}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise DistillError("already running under a launcher (WORLD_SIZE is set); drop --nproc")
    mp.start_processes(_rank_main, args=(nproc, _free_port(), function, args), nprocs=nproc,
                       start_method="spawn")


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

"""The batches `Distiller` trains on, read from any DataLoader: this rank's share of each global batch.

From the user's loader we keep the dataset, the batch size (the GLOBAL batch), whether it shuffles, its
collate function and workers; the order comes from a `DistributedSampler` seeded by the Distiller's seed,
so a fit is reproducible and N processes see exactly the global batches one process would. A
`TensorDataset` (in memory, nothing to augment) is batched by indexing its tensors directly - no per-row
`__getitem__` and collate - and its batches carry their row numbers, so the teacher's outputs can be
computed once and looked up by row.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler, TensorDataset
from torch.utils.data.dataloader import default_collate

from distill.core.distributed import World
from distill.errors import DistillError


def unpack_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, y, privileged) from a batch given as (x, y), (x, y, privileged) or a dict with those keys."""
    if isinstance(batch, dict):
        if "x" not in batch or "y" not in batch:
            raise DistillError(f"a dict batch needs keys 'x' and 'y' (and optionally 'privileged'); got "
                               f"{', '.join(map(str, batch))}")
        return batch["x"], batch["y"], batch.get("privileged")
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    raise DistillError("a batch must be (x, y), (x, y, privileged) or a dict with keys x, y[, privileged]; "
                       f"got a {type(batch).__name__}" + (f" of {len(batch)} items" if hasattr(batch, "__len__") else ""))


def _tensors(loader: DataLoader) -> tuple[torch.Tensor, ...] | None:
    """The tensors of an in-memory TensorDataset batched by the default collate, else None."""
    if isinstance(loader.dataset, TensorDataset) and loader.collate_fn is default_collate:
        return loader.dataset.tensors
    return None


def is_shuffled(loader: DataLoader) -> bool:
    """Whether the loader draws a new order every epoch (a random or distributed shuffling sampler)."""
    sampler = loader.sampler
    return isinstance(sampler, RandomSampler) or (isinstance(sampler, DistributedSampler) and sampler.shuffle)


class RankBatches:
    """This rank's batches of `loader`, epoch by epoch; each comes with a cache key (see `key_kind`)."""

    def __init__(self, loader: DataLoader, world: World, seed: int) -> None:
        if loader.batch_size is None:
            raise DistillError("the train loader needs a batch_size (a custom batch_sampler cannot be split "
                               "across processes or reproduced from the seed)")
        if not isinstance(loader.sampler, (RandomSampler, SequentialSampler, DistributedSampler)):
            raise DistillError(f"the train loader's sampler must shuffle or not ({type(loader.sampler).__name__} "
                               "given); Distiller draws the order itself from its seed")
        if loader.batch_size % world.size:
            raise DistillError(f"the batch size {loader.batch_size} (the global batch) must divide by the "
                               f"{world.size} processes")
        self.local_batch, self.drop_last = loader.batch_size // world.size, loader.drop_last
        self.tensors = _tensors(loader)
        self.shuffled = is_shuffled(loader)
        self.sampler: DistributedSampler[Any] = DistributedSampler(loader.dataset, num_replicas=world.size, rank=world.rank,
                                          shuffle=self.shuffled, seed=seed, drop_last=False)
        self.loader = None if self.tensors is not None else DataLoader(
            loader.dataset, batch_size=self.local_batch, sampler=self.sampler, num_workers=loader.num_workers,
            collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
            worker_init_fn=loader.worker_init_fn, persistent_workers=loader.persistent_workers)

    @property
    def key_kind(self) -> str | None:
        """`row`: keys are row numbers (teacher outputs cacheable by row); `position`: the batch's place in a
        fixed order (cacheable by position unless the data set augments); None: nothing to key on."""
        if self.tensors is not None:
            return "row"
        return None if self.shuffled else "position"

    def epoch(self, epoch: int) -> Iterator[tuple[Any, torch.Tensor | int]]:
        """(batch, key) pairs of one epoch: key = row numbers (TensorDataset) or the batch's position."""
        self.sampler.set_epoch(epoch)
        if self.loader is not None:
            yield from ((batch, position) for position, batch in enumerate(self.loader))
            return
        assert self.tensors is not None  # without a loader of its own, the batches come from a TensorDataset
        for rows in torch.tensor(list(self.sampler), dtype=torch.long).split(self.local_batch):
            if self.drop_last and len(rows) < self.local_batch:
                return
            yield tuple(tensor[rows] for tensor in self.tensors), rows


def eval_batches(loader: DataLoader) -> Iterator[Any]:
    """Every batch of `loader` in its own order (a TensorDataset is sliced directly)."""
    tensors = _tensors(loader)
    if tensors is None or is_shuffled(loader) or loader.batch_size is None:
        yield from loader
        return
    for start in range(0, len(tensors[0]), loader.batch_size):
        yield tuple(tensor[start:start + loader.batch_size] for tensor in tensors)

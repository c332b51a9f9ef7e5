"""The batches `Distiller` trains on, read from any DataLoader: this rank's share of each global batch.

A batch is `(x, y)`, `(x, y, privileged)` (for method 'generalized' only) or a dict; a dict's fields are found
by `batch_keys` (default `{"x": "x", "y": "y", "privileged": "privileged", "weight": "weight"}`): `weight`
holds per-row sample weights. A loader whose sampler shuffles or not (`RandomSampler`, `SequentialSampler`,
`DistributedSampler`) is re-read in an order drawn by a `DistributedSampler` seeded by the Distiller's seed, so
a fit is reproducible and N processes see exactly the global batches one process would. Any other sampler or
batch sampler (`WeightedRandomSampler`, a bucketing batch sampler...) is used as given, in one process only
(its order cannot be split across processes without changing it). A `TensorDataset` (in memory, nothing to
augment) is batched by indexing its tensors directly - no per-row `__getitem__` and collate - and its batches
carry their row numbers, so the teacher's outputs can be computed once and looked up by row.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler, TensorDataset
from torch.utils.data.dataloader import default_collate

from distill.core.distributed import World
from distill.errors import DistillError

FIELDS = ("x", "y", "privileged", "weight")


class Batch(NamedTuple):
    """One batch's fields: inputs, targets, the teacher's privileged inputs and per-row sample weights."""

    x: torch.Tensor
    y: torch.Tensor
    privileged: torch.Tensor | None = None
    weight: torch.Tensor | None = None


def check_batch_keys(batch_keys: Mapping[str, str] | None) -> dict[str, str]:
    """The dict-batch key of every field, `batch_keys` over the defaults; an unknown field is refused."""
    unknown = set(batch_keys or {}) - set(FIELDS)
    if unknown:
        raise DistillError(f"batch_keys names unknown field(s) {', '.join(sorted(unknown))}; allowed: "
                           f"{', '.join(FIELDS)}")
    return {**{field: field for field in FIELDS}, **(batch_keys or {})}


def unpack_batch(batch: Any, keys: Mapping[str, str] | None = None, privileged: bool = True) -> Batch:
    """The fields of a batch given as (x, y), (x, y, privileged) or a dict (keys from `check_batch_keys`).

    A 3-item tuple is refused unless the method reads privileged inputs (`privileged`): such a batch is as
    likely (x, y, sample_weight), and guessing would train on the wrong thing."""
    if isinstance(batch, dict):
        keys = keys or check_batch_keys(None)
        if keys["x"] not in batch or keys["y"] not in batch:
            raise DistillError(f"a dict batch needs keys {keys['x']!r} and {keys['y']!r} (batch_keys maps others); "
                               f"got {', '.join(map(str, batch))}")
        return Batch(batch[keys["x"]], batch[keys["y"]], batch.get(keys["privileged"]), batch.get(keys["weight"]))
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return Batch(batch[0], batch[1])
    if isinstance(batch, (tuple, list)) and len(batch) == 3:
        if not privileged:
            raise DistillError("a 3-item batch (x, y, ?) is read as (x, y, privileged) by method 'generalized' "
                               "only; for sample weights yield a dict {'x', 'y', 'weight'} (or map its keys "
                               "with batch_keys)")
        return Batch(batch[0], batch[1], batch[2])
    raise DistillError("a batch must be (x, y), (x, y, privileged) or a dict with keys x, y[, privileged, weight]; "
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


def is_standard(loader: DataLoader) -> bool:
    """Whether the loader's order is "shuffle or not" with a batch size, which `RankBatches` redraws from the
    seed (and splits across processes); anything else is used as the loader gives it."""
    return loader.batch_size is not None and isinstance(loader.sampler, (RandomSampler, SequentialSampler,
                                                                         DistributedSampler))


class RankBatches:
    """This rank's batches of `loader`, epoch by epoch; each comes with a cache key (see `key_kind`)."""

    def __init__(self, loader: DataLoader, world: World, seed: int) -> None:
        self.standard, self.tensors = is_standard(loader), _tensors(loader)
        if not self.standard:
            if world.size > 1:
                sampler = type(loader.batch_sampler if loader.batch_size is None else loader.sampler).__name__
                raise DistillError(f"a {sampler} cannot be split across {world.size} processes; under DDP use "
                                   "shuffle=True/False (Distiller draws the order and splits it)")
            self.user_loader, self.shuffled = loader, True  # its order may change every epoch
            return
        batch_size = loader.batch_size
        assert batch_size is not None  # a standard loader has one
        if batch_size % world.size:
            raise DistillError(f"the batch size {batch_size} (the global batch) must divide by the "
                               f"{world.size} processes")
        self.local_batch, self.drop_last = batch_size // world.size, loader.drop_last
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
        if not self.standard:
            yield from self._given(self.user_loader)
            return
        self.sampler.set_epoch(epoch)
        if self.loader is not None:
            yield from ((batch, position) for position, batch in enumerate(self.loader))
            return
        assert self.tensors is not None  # without a loader of its own, the batches come from a TensorDataset
        for rows in torch.tensor(list(self.sampler), dtype=torch.long).split(self.local_batch):
            if self.drop_last and len(rows) < self.local_batch:
                return
            yield tuple(tensor[rows] for tensor in self.tensors), rows

    def _given(self, loader: DataLoader) -> Iterator[tuple[Any, torch.Tensor | int]]:
        """The batches of a loader with its own sampler, in its order (a TensorDataset indexed by its batch
        sampler's rows)."""
        if self.tensors is None:
            yield from ((batch, position) for position, batch in enumerate(loader))
            return
        assert loader.batch_sampler is not None  # a TensorDataset with default collate batches by a batch sampler
        for indices in loader.batch_sampler:
            rows = torch.as_tensor(indices, dtype=torch.long)
            yield tuple(tensor[rows] for tensor in self.tensors), rows


def eval_batches(loader: DataLoader) -> Iterator[Any]:
    """Every batch of `loader` in its own order (a TensorDataset is sliced directly)."""
    tensors = _tensors(loader)
    if tensors is None or is_shuffled(loader) or loader.batch_size is None:
        yield from loader
        return
    for start in range(0, len(tensors[0]), loader.batch_size):
        yield tuple(tensor[start:start + loader.batch_size] for tensor in tensors)

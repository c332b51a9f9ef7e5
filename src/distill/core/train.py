"""One fit loop for teachers and students, on in-memory tensors (no DataLoader, no per-step copies).

The loop knows nothing about distillation: the caller passes `batch_loss(indices)`, which runs the
model on those training rows and returns the scalar objective (hard target, soft target, features...).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def fit(model: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor], n_train: int, *,
        epochs: int, batch_size: int, lr: float, seed: int, weight_decay: float = 0.0,
        on_epoch_end: Callable[[int], None] | None = None, tick: Callable[[], None] | None = None) -> None:
    """Adam (fused CPU kernel) over shuffled mini-batches of row indices for `epochs` epochs.

    `on_epoch_end(epoch)` runs with the model in eval mode (curves are recorded there); `tick()` after
    every epoch advances a progress bar. The shuffling order depends on `seed` only.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(n_train, generator=generator).split(batch_size):
            optimizer.zero_grad(set_to_none=True)
            batch_loss(batch).backward()
            optimizer.step()
        model.eval()
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if tick is not None:
            tick()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs on all rows of x, in eval mode, without gradients."""
    model.eval()
    return torch.cat([model(part) for part in x.split(batch_size)]) if len(x) else model(x)

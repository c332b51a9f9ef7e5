"""Fold-parallel training: the same architecture trained on every fold at once, as one stacked model.

Small forecasting models spend their time in per-operation overhead, not arithmetic (one LSTM layer
step costs ~0.5 ms whether it sees 1 window or 64). Stacking the K fold models along a leading axis and
running them with batched matrix products (`torch.baddbmm`) makes one step train all K, which cuts the
protocol's wall time several-fold, most of all at the seed's batch size 1.

The stacked model is mathematically K independent models: each fold's parameters only receive the
gradient of that fold's loss, and Adam is elementwise, so one optimizer over the stack is K optimizers.
Initial weights and shuffling are the per-fold ones of the sequential path. What differs: when folds
hold different numbers of training rows, every fold takes the same number of steps per epoch, so a
smaller fold's epoch repeats a few of its (shuffled) rows to fill the largest fold's length; dropout
masks are drawn for all folds at once, in another order than one by one; and the block-diagonal LSTM
sums in another order, so its rounding differs and the difference grows with training (see the README's
`train.fold_parallel` for measured sizes). Same training, not the same numbers to float tolerance.

The stacked model families are in `distill.core.fold_parallel_models`. Where a layer is already arithmetic-bound
at the batch size (the `rnn` teacher's LSTM, hidden 64), the stack runs it fold by fold and stacks the rest; the
padding of unequal folds then costs about what stacking saves (covid-lstm's rolling folds hold 771-1107 rows:
18% more steps), so such a stack gains little, while small models (`compact_mlp`) train several times faster.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from distill.core.fold_parallel_models import STACKABLE, Stacked, stack_signature
from distill.core.resume import UnitKey
from distill.core.train import make_adam, run_epochs


def can_stack(models: list[nn.Module]) -> bool:
    """Fold-parallel training applies to several models of one family with a stacked form and one signature
    (`stack_signature`: shapes, structure, buffers and options all equal)."""
    signatures = {stack_signature(model) for model in models}
    return len(models) >= 2 and len(signatures) == 1 and None not in signatures


def stack_models(models: list[nn.Module]) -> Stacked:
    return STACKABLE[type(models[0])](models)


def epoch_orders(sizes: list[int], generators: list[torch.Generator]) -> torch.Tensor:
    """(K, max size) row orders: each fold's own shuffle, repeated to fill the largest fold's length."""
    longest = max(sizes)
    orders = []
    for size, generator in zip(sizes, generators):
        order = torch.randperm(size, generator=generator)
        orders.append(order.repeat(math.ceil(longest / size))[:longest])
    return torch.stack(orders)


def fit_stacked(stacked: Stacked, batch_loss: Callable[[torch.Tensor], torch.Tensor], sizes: list[int], *,
                epochs: int, batch_size: int, lr: float, seeds: list[int], weight_decay: float = 0.0,
                on_epoch_end: Callable[[int], bool | None] | None = None, tick: Callable[[], None] | None = None,
                save_extra: Callable[[], dict] | None = None, load_extra: Callable[[dict], None] | None = None,
                unit: UnitKey | None = None) -> None:
    """Adam over the stack; `batch_loss(rows)` gets (K, batch) row numbers and returns the SUM of the
    K folds' mean losses (so each fold's gradient is its own). The one loop, `distill.core.train.run_epochs`,
    checkpoints included (the stack is one unit)."""
    optimizer = make_adam(stacked.parameters(), lr, weight_decay)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    run_epochs(stacked, optimizer, lambda epoch: epoch_orders(sizes, generators).split(batch_size, dim=1), batch_loss,
               epochs=epochs, generators=generators, on_epoch_end=on_epoch_end, tick=tick, save_extra=save_extra,
               load_extra=load_extra, unit=unit)

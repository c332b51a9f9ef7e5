"""Fold-parallel training: the same architecture trained on every fold at once, as one stacked model.

Small forecasting models spend their time in per-operation overhead, not arithmetic (one LSTM layer
step costs ~0.5 ms whether it sees 1 window or 64). Stacking the K fold models along a leading axis and
running them with batched matrix products (`torch.baddbmm`) makes one step train all K, which cuts the
protocol's wall time several-fold, most of all at the seed's batch size 1.

The stacked model is mathematically K independent models: each fold's parameters only receive the
gradient of that fold's loss, and Adam is elementwise, so one optimizer over the stack is K optimizers.
Initial weights and shuffling are the per-fold ones of the sequential path. The one difference: when
folds hold different numbers of training rows, every fold takes the same number of steps per epoch, so
a smaller fold's epoch repeats a few of its (shuffled) rows to fill the largest fold's length.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from distill.models.heads import output_activation
from distill.models.lstm import LSTMForecaster
from distill.models.mlp import MLP


def _stack(tensors: list[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).clone())


class StackedLinear(nn.Module):
    """K linear layers: (K, batch, in) -> (K, batch, out)."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = _stack([layer.weight.t() for layer in layers])  # (K, in, out)
        self.bias = _stack([layer.bias.unsqueeze(0) for layer in layers])  # (K, 1, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def unstack_into(self, layers: list[nn.Linear]) -> None:
        with torch.no_grad():
            for k, layer in enumerate(layers):
                layer.weight.copy_(self.weight[k].t())
                layer.bias.copy_(self.bias[k, 0])


class StackedMLPBody(nn.Module):
    """A stack of `MLP.body` / LSTM heads: Linear-ReLU(-Dropout) blocks, applied per fold."""

    def __init__(self, bodies: list[nn.Sequential]) -> None:
        super().__init__()
        self.kinds = [type(layer) for layer in bodies[0]]
        self.linears = nn.ModuleList(
            StackedLinear([body[i] for body in bodies]) for i, kind in enumerate(self.kinds) if kind is nn.Linear)
        self.dropouts = [layer.p for layer in bodies[0] if isinstance(layer, nn.Dropout)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        linears, dropouts = iter(self.linears), iter(self.dropouts)
        for kind in self.kinds:
            if kind is nn.Linear:
                x = next(linears)(x)
            elif kind is nn.ReLU:
                x = torch.relu(x)
            elif kind is nn.Dropout:
                x = nn.functional.dropout(x, next(dropouts), self.training)
        return x

    def unstack_into(self, bodies: list[nn.Sequential]) -> None:
        positions = [i for i, kind in enumerate(self.kinds) if kind is nn.Linear]
        for stacked, i in zip(self.linears, positions):
            stacked.unstack_into([body[i] for body in bodies])


class StackedMLP(nn.Module):
    """K `MLP`s of one shape: (K, batch, *input_shape) -> (K, batch, outputs)."""

    def __init__(self, models: list[MLP]) -> None:
        super().__init__()
        self.body = StackedMLPBody([nn.Sequential(*list(m.body)[1:]) for m in models])  # skip Flatten
        self.head = StackedLinear([m.head for m in models])
        self.out = models[0].out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.body(x.flatten(2))))

    def unstack_into(self, models: list[MLP]) -> None:
        self.body.unstack_into([nn.Sequential(*list(m.body)[1:]) for m in models])
        self.head.unstack_into([m.head for m in models])


class StackedLSTMLayer(nn.Module):
    """K single LSTM layers (gate order i, f, g, o as `nn.LSTM`): (K, batch, days, in) -> (K, batch, days, H)."""

    def __init__(self, lstms: list[nn.LSTM], layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.w_ih = _stack([getattr(m, f"weight_ih_l{layer}").t() for m in lstms])  # (K, in, 4H)
        self.w_hh = _stack([getattr(m, f"weight_hh_l{layer}").t() for m in lstms])  # (K, H, 4H)
        # two biases, as nn.LSTM has: each gets its own Adam update, so they are not merged
        self.bias_ih = _stack([getattr(m, f"bias_ih_l{layer}").unsqueeze(0) for m in lstms])  # (K, 1, 4H)
        self.bias_hh = _stack([getattr(m, f"bias_hh_l{layer}").unsqueeze(0) for m in lstms])  # (K, 1, 4H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folds, batch, days, width = x.shape
        hidden = self.w_hh.shape[1]
        inputs = torch.baddbmm(self.bias_ih + self.bias_hh, x.reshape(folds, batch * days, width), self.w_ih)
        inputs = inputs.view(folds, batch, days, 4 * hidden)  # input projections of every day at once
        h = x.new_zeros(folds, batch, hidden)
        c = x.new_zeros(folds, batch, hidden)
        states = []
        for day in range(days):
            gates = torch.baddbmm(inputs[:, :, day], h, self.w_hh)  # (K, batch, 4H)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        return torch.stack(states, dim=2)  # (K, batch, days, H)

    def unstack_into(self, lstms: list[nn.LSTM]) -> None:
        with torch.no_grad():
            for k, lstm in enumerate(lstms):
                getattr(lstm, f"weight_ih_l{self.layer}").copy_(self.w_ih[k].t())
                getattr(lstm, f"weight_hh_l{self.layer}").copy_(self.w_hh[k].t())
                getattr(lstm, f"bias_ih_l{self.layer}").copy_(self.bias_ih[k, 0])
                getattr(lstm, f"bias_hh_l{self.layer}").copy_(self.bias_hh[k, 0])


class StackedLSTMForecaster(nn.Module):
    """K `LSTMForecaster`s of one shape: (K, batch, days, features) -> (K, batch, outputs)."""

    def __init__(self, models: list[LSTMForecaster]) -> None:
        super().__init__()
        lstms = [m.lstm for m in models]
        self.layers = nn.ModuleList(StackedLSTMLayer(lstms, layer) for layer in range(lstms[0].num_layers))
        self.dropout = lstms[0].dropout
        self.body = StackedMLPBody([m.body for m in models])
        self.head = StackedLinear([m.head for m in models])
        self.out = models[0].out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            if index > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            x = layer(x)
        return self.out(self.head(self.body(x.flatten(2))))  # (K, batch, outputs)

    def unstack_into(self, models: list[LSTMForecaster]) -> None:
        for layer in self.layers:
            layer.unstack_into([m.lstm for m in models])
        self.body.unstack_into([m.body for m in models])
        self.head.unstack_into([m.head for m in models])


STACKABLE: dict[type[nn.Module], type[nn.Module]] = {MLP: StackedMLP, LSTMForecaster: StackedLSTMForecaster}


def can_stack(models: list[nn.Module]) -> bool:
    """Fold-parallel training applies to several models of one supported family and one shape."""
    kinds = {type(m) for m in models}
    if len(models) < 2 or len(kinds) != 1 or kinds.pop() not in STACKABLE:
        return False
    shapes = {tuple((name, p.shape) for name, p in m.named_parameters()) for m in models}
    return len(shapes) == 1


def stack_models(models: list[nn.Module]) -> nn.Module:
    return STACKABLE[type(models[0])](models)


def epoch_orders(sizes: list[int], generators: list[torch.Generator]) -> torch.Tensor:
    """(K, max size) row orders: each fold's own shuffle, repeated to fill the largest fold's length."""
    longest = max(sizes)
    orders = []
    for size, generator in zip(sizes, generators):
        order = torch.randperm(size, generator=generator)
        orders.append(order.repeat(math.ceil(longest / size))[:longest])
    return torch.stack(orders)


def fit_stacked(stacked: nn.Module, batch_loss: Callable[[torch.Tensor], torch.Tensor], sizes: list[int], *,
                epochs: int, batch_size: int, lr: float, seeds: list[int], weight_decay: float = 0.0,
                on_epoch_end: Callable[[int], None] | None = None, tick: Callable[[], None] | None = None) -> None:
    """Adam over the stack; `batch_loss(rows)` gets (K, batch) row numbers and returns the SUM of the
    K folds' mean losses (so each fold's gradient is its own). Mirrors `distill.train.fit`."""
    optimizer = torch.optim.Adam(stacked.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    for epoch in range(epochs):
        stacked.train()
        for rows in epoch_orders(sizes, generators).split(batch_size, dim=1):
            optimizer.zero_grad(set_to_none=True)
            batch_loss(rows).backward()
            optimizer.step()
        stacked.eval()
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if tick is not None:
            tick()

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
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from distill.core.resume import UnitKey
from distill.core.train import make_adam, run_epochs
from distill.models.lstm import LSTMForecaster
from distill.models.mlp import MLP


class Stacked(nn.Module):
    """K models of one shape trained as one; `unstack_into` copies fold k's weights into the k-th model."""

    def unstack_into(self, models: list[Any]) -> None:
        raise NotImplementedError


def _stack(tensors: list[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).clone())


class StackedLinear(Stacked):
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


class StackedMLPBody(Stacked):
    """A stack of `MLP.body` / LSTM heads: Linear-ReLU(-Dropout) blocks, applied per fold."""

    def __init__(self, bodies: list[nn.Sequential]) -> None:
        super().__init__()
        self.kinds = [type(layer) for layer in bodies[0]]
        self.linears = nn.ModuleList(
            StackedLinear([_linear(body[i]) for body in bodies]) for i, kind in enumerate(self.kinds) if kind is nn.Linear)
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
            assert isinstance(stacked, StackedLinear)
            stacked.unstack_into([_linear(body[i]) for body in bodies])


class StackedMLP(Stacked):
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


def _linear(module: nn.Module) -> nn.Linear:
    assert isinstance(module, nn.Linear)
    return module


def _weight(module: nn.Module, name: str) -> torch.Tensor:
    """An LSTM's weight by name (`weight_ih_l0`...), typed."""
    weight = getattr(module, name)
    assert isinstance(weight, torch.Tensor)
    return weight


def _block_mask(gates: int, folds: int, rows: int, cols: int) -> torch.Tensor:
    """(gates*K*rows, K*cols) mask of the block-diagonal layout: gate-major rows, fold k's units use fold k's inputs."""
    eye = torch.eye(folds)
    return eye.repeat_interleave(rows, 0).repeat_interleave(cols, 1).repeat(gates, 1)


class StackedLSTM(Stacked):
    """K stacked `nn.LSTM`s run as ONE fused (oneDNN) LSTM whose weights are block-diagonal by fold.

    Hidden unit (gate q, fold k, unit j) sits at q*K*H + k*H + j, as `nn.LSTM` orders gates (i, f, g, o).
    The first layer's input projection is done per fold by a batched product and enters the fused LSTM
    through a frozen identity; every later weight is block-diagonal, and gradient hooks zero the
    off-diagonal blocks so they stay exactly zero under Adam: the folds never see each other.
    """

    def __init__(self, lstms: list[nn.LSTM]) -> None:
        super().__init__()
        folds, hidden, layers = len(lstms), lstms[0].hidden_size, lstms[0].num_layers
        self.folds, self.hidden = folds, hidden
        self.w_in = _stack([_weight(m, "weight_ih_l0").t() for m in lstms])  # (K, features, 4H)
        self.fused = nn.LSTM(4 * folds * hidden, folds * hidden, num_layers=layers, batch_first=True,
                             dropout=lstms[0].dropout)
        with torch.no_grad():
            _weight(self.fused, "weight_ih_l0").copy_(torch.eye(4 * folds * hidden))
        _weight(self.fused, "weight_ih_l0").requires_grad_(False)
        self.masks = {"hh": _block_mask(4, folds, hidden, hidden), "ih": _block_mask(4, folds, hidden, hidden)}
        for layer in range(layers):
            self._load(lstms, layer)
            getattr(self.fused, f"weight_hh_l{layer}").register_hook(lambda g: g * self.masks["hh"])
            if layer > 0:
                getattr(self.fused, f"weight_ih_l{layer}").register_hook(lambda g: g * self.masks["ih"])

    def _blocks(self, weights: list[torch.Tensor]) -> torch.Tensor:
        """Fold weights (4H, in) -> one gate-major block-diagonal (4KH, K*in) matrix."""
        folds, hidden = self.folds, self.hidden
        width = weights[0].shape[1]
        out = weights[0].new_zeros(4, folds, hidden, folds, width)
        for k, weight in enumerate(weights):
            out[:, k, :, k, :] = weight.view(4, hidden, width)
        return out.reshape(4 * folds * hidden, folds * width)

    def _gate_major(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        """Fold vectors (4H,) -> (4KH,) in the fused layout."""
        return torch.stack([v.view(4, self.hidden) for v in vectors], dim=1).reshape(-1)

    def _load(self, lstms: list[nn.LSTM], layer: int) -> None:
        with torch.no_grad():
            fused = self.fused
            getattr(fused, f"weight_hh_l{layer}").copy_(self._blocks([getattr(m, f"weight_hh_l{layer}") for m in lstms]))
            if layer > 0:
                getattr(fused, f"weight_ih_l{layer}").copy_(self._blocks([getattr(m, f"weight_ih_l{layer}")
                                                                         for m in lstms]))
            for name in (f"bias_ih_l{layer}", f"bias_hh_l{layer}"):
                getattr(fused, name).copy_(self._gate_major([getattr(m, name) for m in lstms]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folds, batch, days, features = x.shape
        gates = torch.bmm(x.reshape(folds, batch * days, features), self.w_in)  # (K, batch*days, 4H)
        gates = gates.view(folds, batch, days, 4, self.hidden).permute(1, 2, 3, 0, 4)  # (batch, days, 4, K, H)
        states, _ = self.fused(gates.reshape(batch, days, -1))  # (batch, days, K*H)
        return states.view(batch, days, folds, self.hidden).permute(2, 0, 1, 3)  # (K, batch, days, H)

    def unstack_into(self, lstms: list[nn.LSTM]) -> None:
        folds, hidden = self.folds, self.hidden
        fused = self.fused
        with torch.no_grad():
            for k, lstm in enumerate(lstms):
                _weight(lstm, "weight_ih_l0").copy_(self.w_in[k].t())
                units = (torch.arange(4)[:, None] * folds * hidden + k * hidden + torch.arange(hidden)).reshape(-1)
                columns = torch.arange(k * hidden, (k + 1) * hidden)
                for layer in range(lstm.num_layers):
                    getattr(lstm, f"weight_hh_l{layer}").copy_(getattr(fused, f"weight_hh_l{layer}")[units][:, columns])
                    if layer > 0:
                        getattr(lstm, f"weight_ih_l{layer}").copy_(
                            getattr(fused, f"weight_ih_l{layer}")[units][:, columns])
                    for name in (f"bias_ih_l{layer}", f"bias_hh_l{layer}"):
                        getattr(lstm, name).copy_(getattr(fused, name)[units])


class StackedLSTMForecaster(Stacked):
    """K `LSTMForecaster`s of one shape: (K, batch, days, features) -> (K, batch, outputs)."""

    def __init__(self, models: list[LSTMForecaster]) -> None:
        super().__init__()
        self.lstm = StackedLSTM([m.lstm for m in models])
        self.body = StackedMLPBody([m.body for m in models])
        self.head = StackedLinear([m.head for m in models])
        self.out = models[0].out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.body(self.lstm(x).flatten(2))))  # (K, batch, outputs)

    def unstack_into(self, models: list[LSTMForecaster]) -> None:
        self.lstm.unstack_into([m.lstm for m in models])
        self.body.unstack_into([m.body for m in models])
        self.head.unstack_into([m.head for m in models])


STACKABLE: dict[type[nn.Module], type[Stacked]] = {MLP: StackedMLP, LSTMForecaster: StackedLSTMForecaster}


def can_stack(models: list[nn.Module]) -> bool:
    """Fold-parallel training applies to several models of one supported family and one shape."""
    kinds = {type(m) for m in models}
    if len(models) < 2 or len(kinds) != 1 or kinds.pop() not in STACKABLE:
        return False
    shapes = {tuple((name, p.shape) for name, p in m.named_parameters()) for m in models}
    return len(shapes) == 1


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

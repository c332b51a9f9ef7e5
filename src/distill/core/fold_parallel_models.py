"""The stacked forms of the model families fold-parallel training supports (`distill.core.fold_parallel`).

A stacked model holds K models of one shape along a leading axis, (K, batch, ...) -> (K, batch, outputs), and runs
their layers with batched matrix products; `unstack_into` copies fold k's weights into the k-th model. Families:
`MLP`, the seed's `LSTMForecaster` (block-diagonal fused LSTM), `RecurrentForecaster` with an LSTM cell and no
highway (its LSTM runs fold by fold: see `FoldLSTMs`) and `CompactMLP`. `stack_signature` says what must be
equal across the K models for them to stack.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from distill.models.compact import CompactMLP
from distill.models.lstm import LSTMForecaster
from distill.models.mlp import MLP
from distill.models.recurrent import RecurrentForecaster


class Stacked(nn.Module):
    """K models of one shape trained as one; `unstack_into` copies fold k's weights into the k-th model."""

    @staticmethod
    def supports(model: nn.Module) -> bool:
        """Whether this model of the family has a stacked form (all do unless a family says otherwise)."""
        return True

    @staticmethod
    def options(model: nn.Module) -> tuple:
        """A family's settings that must be equal across the stack and that its printed structure does not show."""
        return ()

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


class FoldLSTMs(Stacked):
    """K `nn.LSTM`s run one after another, each on its own fold: (K, batch, days, in) -> (K, batch, days, H).

    At the `rnn` teacher's width (hidden 64, batch 64) an LSTM step is arithmetic, not per-operation overhead: one
    fold's fused LSTM takes 3.4 ms forward and backward, the block-diagonal `StackedLSTM` of 5 folds 48 ms (its
    recurrent product is K times as large, 129 ms with its identity input), against 5 x 3.4 = 17 ms for the folds one
    by one. So this LSTM stays per fold (with exactly the sequential path's arithmetic) while the layers around it
    are stacked.
    """

    def __init__(self, lstms: list[nn.LSTM]) -> None:
        super().__init__()
        self.lstms = nn.ModuleList(copy.deepcopy(lstm) for lstm in lstms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([lstm(fold_x)[0] for lstm, fold_x in zip(self.lstms, x)])

    def unstack_into(self, lstms: list[nn.LSTM]) -> None:
        with torch.no_grad():
            for stacked, lstm in zip(self.lstms, lstms):
                for name, parameter in stacked.named_parameters():
                    getattr(lstm, name).copy_(parameter)


class StackedRecurrentForecaster(Stacked):
    """K `RecurrentForecaster`s (LSTM cell, no highway): input Dropout -> per-fold Linear -> GELU -> each fold's
    LSTM -> last hidden state -> Dropout -> per-fold Linear; (K, batch, days, features) -> (K, batch, outputs)."""

    def __init__(self, models: list[RecurrentForecaster]) -> None:
        super().__init__()
        self.input_dropout, _, self.activation = models[0].project  # parameter-free: shared with the first model
        self.project = StackedLinear([_linear(m.project[1]) for m in models])
        self.rnn = FoldLSTMs([_lstm(m.rnn) for m in models])
        self.head_dropout = models[0].head[0]
        self.head = StackedLinear([_linear(m.head[1]) for m in models])

    @staticmethod
    def supports(model: nn.Module) -> bool:
        """The LSTM cell only (a GRU trains fold by fold), and no highway (its linear read is not stacked)."""
        return isinstance(model, RecurrentForecaster) and isinstance(model.rnn, nn.LSTM) and model.highway is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folds, batch, days, features = x.shape
        flat = self.input_dropout(x).reshape(folds, batch * days, features)
        projected = self.activation(self.project(flat)).view(folds, batch, days, -1)
        last = self.rnn(projected)[:, :, -1]  # (K, batch, hidden)
        return self.head(self.head_dropout(last))

    def unstack_into(self, models: list[RecurrentForecaster]) -> None:
        self.project.unstack_into([_linear(m.project[1]) for m in models])
        self.rnn.unstack_into([_lstm(m.rnn) for m in models])
        self.head.unstack_into([_linear(m.head[1]) for m in models])


class StackedCompactMLP(Stacked):
    """K `CompactMLP`s with one view: each fold's window read as `CompactMLP.view` reads it (recent days of the
    chosen features, then the summaries), then per-fold `first`, `rest` and the output activation;
    (K, batch, days, features) -> (K, batch, outputs)."""

    recent_features: torch.Tensor

    def __init__(self, models: list[CompactMLP]) -> None:
        super().__init__()
        model = models[0]
        self.register_buffer("recent_features", model.recent_features.clone(), persistent=False)
        self.recent_days, self.summaries = model.recent_days, model.summaries
        self.first = StackedLinear([_linear(m.first) for m in models])
        self.rest = StackedMLPBody([m.rest for m in models])
        self.out = model.out

    @staticmethod
    def options(model: nn.Module) -> tuple:
        """The view's options, which `repr` does not show (its buffer, `recent_features`, is compared as every
        buffer is)."""
        assert isinstance(model, CompactMLP)
        return model.days, model.features, model.recent_days, model.summaries

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """(K, batch, days, features) -> (K, batch, view width), fold by fold as `CompactMLP.view`."""
        parts = [x[:, :, -self.recent_days:].index_select(3, self.recent_features).flatten(2)]
        for name in self.summaries:
            parts.append(x.mean(dim=2) if name == "mean" else x[:, :, -1])
        return torch.cat(parts, dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rest(self.first(self.view(x))))

    def unstack_into(self, models: list[CompactMLP]) -> None:
        self.first.unstack_into([_linear(m.first) for m in models])
        self.rest.unstack_into([m.rest for m in models])


def _lstm(module: nn.Module) -> nn.LSTM:
    assert isinstance(module, nn.LSTM)
    return module


STACKABLE: dict[type[nn.Module], type[Stacked]] = {MLP: StackedMLP, LSTMForecaster: StackedLSTMForecaster,
                                                   RecurrentForecaster: StackedRecurrentForecaster,
                                                   CompactMLP: StackedCompactMLP}


def stack_signature(model: nn.Module) -> tuple | None:
    """What must be equal across the models of one stack, or None when the model has no stacked form: its family,
    its structure as printed (layer sizes, dropout rates, activations, cell options), its parameters' shapes, its
    buffers' values and the family's own options (`Stacked.options`)."""
    stacked = STACKABLE.get(type(model))
    if stacked is None or not stacked.supports(model):
        return None
    shapes = tuple((name, tuple(p.shape)) for name, p in model.named_parameters())
    buffers = tuple((name, tuple(b.shape), tuple(b.flatten().tolist())) for name, b in model.named_buffers())
    return type(model), repr(model), shapes, buffers, stacked.options(model)

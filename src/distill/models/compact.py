"""A small forecasting student that reads a compact view of its window instead of every flattened input.

The flattened MLP reads days x features inputs (~4,700 for covid-lstm), so its first layer alone outweighs
an LSTM teacher. `compact_mlp` takes the same (batch, days, features) tensor the teacher takes and picks
its view inside `forward`: the last `recent_days` days of a few `recent` features (default: the target,
at `target_index`), and per-feature summaries over the window (`mean`, `last`: the last day's value),
then Linear-ReLU blocks and a linear head. The view's indices are options (kept as buffers), so a
checkpoint rebuilds the same view and predict and export need nothing else. The view is linear in the window,
so at inference (eval mode, no grad) the first layer and the view are folded into one weight on the flattened
window (`folded`): one matrix product instead of the view's gathers, since batch-1 latency is per operation.
Input (batch, days, features) -> (batch, output_dim).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.heads import output_activation
from distill.models.registry import register_model

SUMMARIES = ("mean", "last")


@register_model("compact_mlp")
class CompactMLP(nn.Module):
    recent_features: torch.Tensor  # buffer: the columns whose recent days the view reads

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, target_index: int = 0,
                 recent: Sequence[int] | None = None, recent_days: int | None = None,
                 summaries: Sequence[str] = SUMMARIES, hidden: Sequence[int] = (16,), dropout: float = 0.0,
                 output: str = "none") -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise DistillError(f"the compact_mlp model needs (days, features) inputs, got shape {tuple(input_shape)}")
        days, features = input_shape
        recent = [target_index] if recent is None else list(recent)
        recent_days = days if recent_days is None else recent_days
        bad = [index for index in recent if not (isinstance(index, int) and 0 <= index < features)]
        if bad or not recent:
            raise DistillError(f"compact_mlp option recent/target_index must name features 0..{features - 1}, "
                               f"got {bad[0] if bad else 'none'}")
        if not 1 <= recent_days <= days:
            raise DistillError(f"compact_mlp option recent_days must be in 1..{days} (input days), got {recent_days}")
        unknown = [name for name in summaries if name not in SUMMARIES]
        if unknown:
            raise DistillError(f"compact_mlp option summaries: {unknown[0]!r} is not one of {', '.join(SUMMARIES)}")
        self.register_buffer("recent_features", torch.tensor(recent, dtype=torch.long), persistent=False)
        self.days, self.features, self.recent_days, self.summaries = days, features, recent_days, tuple(summaries)
        widths = [*hidden, output_dim]
        self.first = nn.Linear(len(recent) * recent_days + len(self.summaries) * features, widths[0])
        layers: list[nn.Module] = []
        for size, after in zip(widths[:-1], widths[1:]):
            layers += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout > 0 else []) + [nn.Linear(size, after)]
        self.rest = nn.Sequential(*layers)
        self.out = output_activation(output)
        self._folded: tuple[tuple, torch.Tensor, torch.Tensor] | None = None

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, days, features) -> (batch, view width): recent days of the chosen features, then summaries."""
        parts = [x[:, -self.recent_days:].index_select(2, self.recent_features).flatten(1)]
        for name in self.summaries:
            parts.append(x.mean(dim=1) if name == "mean" else x[:, -1])
        return torch.cat(parts, dim=1)

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer applied to the view, as one (days * features, width) weight on the flattened window and
        its bias: the view is linear in x, so first(view(x)) = x.flatten(1) @ weight + bias. Cached until the
        first layer's weights change in place (a load, a move to another device) and whenever the mode switches."""
        weight, bias = self.first.weight, self.first.bias
        key = (weight._version, bias._version, weight.data_ptr(), bias.data_ptr())
        if self._folded is None or self._folded[0] != key:
            width, features, recent_width = weight.shape[0], self.features, len(self.recent_features) * self.recent_days
            kernel = weight.new_zeros(width, self.days, features)
            recent = weight[:, :recent_width].reshape(width, self.recent_days, len(self.recent_features))
            kernel[:, -self.recent_days:].index_add_(2, self.recent_features, recent)
            for k, name in enumerate(self.summaries):
                part = weight[:, recent_width + k * features:recent_width + (k + 1) * features]
                if name == "mean":
                    kernel += part[:, None, :] / self.days
                else:
                    kernel[:, -1] += part
            self._folded = (key, kernel.flatten(1).t().contiguous(), bias.detach().clone())
        return self._folded[1], self._folded[2]

    def train(self, mode: bool = True) -> CompactMLP:
        """Switching modes (model.train(), model.eval()) drops the folded weight: torch's fused Adam updates the
        weights without bumping their version counters, so the cache key alone would miss those steps."""
        self._folded = None
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quantized = type(self.first) is not nn.Linear  # int8 export: its layers read the view as it is
        if self.training or torch.is_grad_enabled() or quantized:
            hidden = self.first(self.view(x))
        else:  # inference: one matrix product instead of the view's gathers (batch-1 latency is per-operation)
            weight, bias = self.folded()
            hidden = torch.addmm(bias, x.flatten(1), weight)
        return self.out(self.rest(hidden))  # (batch, output_dim)

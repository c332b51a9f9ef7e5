"""A small forecasting student that reads a compact view of its window instead of every flattened input.

The flattened MLP reads days x features inputs (~4,700 for covid-lstm), so its first layer alone outweighs
an LSTM teacher. `compact_mlp` takes the same (batch, days, features) tensor the teacher takes and picks
its view inside `forward`: the last `recent_days` days of a few `recent` features (default: the target,
at `target_index`), and per-feature summaries over the window (`mean`, `last`: the last day's value),
then Linear-ReLU blocks and a linear head. The view's indices are options (kept as buffers), so a
checkpoint rebuilds the same view and predict and export need nothing else.
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
        self.recent_days, self.summaries = recent_days, tuple(summaries)
        width = len(recent) * recent_days + len(self.summaries) * features
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, output_dim)
        self.out = output_activation(output)

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, days, features) -> (batch, view width): recent days of the chosen features, then summaries."""
        parts = [x[:, -self.recent_days:].index_select(2, self.recent_features).flatten(1)]
        for name in self.summaries:
            parts.append(x.mean(dim=1) if name == "mean" else x[:, -1])
        return torch.cat(parts, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.body(self.view(x))))  # (batch, output_dim)

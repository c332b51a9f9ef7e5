"""The seed's LSTM forecaster: stacked LSTM over the input days, all hidden states flattened, MLP head."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.heads import output_activation
from distill.models.registry import register_model


@register_model("lstm")
class LSTMForecaster(nn.Module):
    """LSTM(features, hidden, layers) -> flatten all `days` hidden states -> Linear/ReLU head -> output.

    Seed default: hidden 15, 3 layers, head 25-25, 14 outputs, sigmoid. Input (batch, days, features).
    """

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, hidden: int = 15, layers: int = 3,
                 head: Sequence[int] = (25, 25), output: str = "none", dropout: float = 0.0) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise DistillError(f"the lstm model needs (days, features) inputs, got shape {tuple(input_shape)}")
        days, features = input_shape
        self.lstm = nn.LSTM(features, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        blocks: list[nn.Module] = []
        width = days * hidden
        for size in head:
            blocks += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, output_dim)
        self.out = output_activation(output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(x)  # (batch, days, hidden)
        return self.out(self.head(self.body(states.flatten(1))))  # (batch, output_dim)

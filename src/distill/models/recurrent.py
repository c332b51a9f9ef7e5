"""A wider recurrent forecaster than the seed's: input projection, LSTM or GRU with dropout, last state -> head.

The seed's LSTM (hidden 15, all hidden states flattened into a head) has few units per day and many head
weights; this one projects the ~470 daily features to `hidden` units first (Linear + GELU), runs an LSTM
(Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014) over the days and reads the forecast from the
last hidden state. Input (batch, days, features) -> (batch, output_dim).
"""
from __future__ import annotations

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.registry import register_model

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


@register_model("rnn")
class RecurrentForecaster(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], output_dim: int, cell: str = "lstm", hidden: int = 64,
                 layers: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise DistillError(f"the rnn model needs (days, features) inputs, got shape {tuple(input_shape)}")
        if cell not in CELLS:
            raise DistillError(f"rnn option cell must be one of {', '.join(CELLS)}, got {cell!r}")
        features = input_shape[1]
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, hidden), nn.GELU())
        self.rnn = CELLS[cell](hidden, hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.project(x))  # (batch, days, hidden)
        return self.head(states[:, -1])  # (batch, output_dim)

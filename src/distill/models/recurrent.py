"""A wider recurrent forecaster than the seed's: input projection, LSTM or GRU with dropout, last state -> head.

The seed's LSTM (hidden 15, all hidden states flattened into a head) has few units per day and many head
weights; this one projects the ~470 daily features to `hidden` units first (Linear + GELU), runs an LSTM
(Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014) over the days and reads the forecast from the
last hidden state. With `highway` > 0, a linear map of the last `highway` days of every feature is added to
the output: the autoregressive highway of LSTNet (Lai et al. 2018, "Modeling Long- and Short-Term Temporal
Patterns with Deep Neural Networks"), which keeps a linear model's read of the latest days beside the network's.
Input (batch, days, features) -> (batch, output_dim).
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
                 layers: int = 1, dropout: float = 0.2, highway: int = 0) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise DistillError(f"the rnn model needs (days, features) inputs, got shape {tuple(input_shape)}")
        if cell not in CELLS:
            raise DistillError(f"rnn option cell must be one of {', '.join(CELLS)}, got {cell!r}")
        days, features = input_shape
        if not 0 <= highway <= days:
            raise DistillError(f"rnn option highway must be in 0..{days} (input days), got {highway}")
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, hidden), nn.GELU())
        self.rnn = CELLS[cell](hidden, hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, output_dim))
        self.highway_days = highway
        self.highway = nn.Linear(highway * features, output_dim) if highway else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.project(x))  # (batch, days, hidden)
        out = self.head(states[:, -1])  # (batch, output_dim)
        if self.highway is not None:
            out = out + self.highway(x[:, -self.highway_days:].flatten(1))
        return out

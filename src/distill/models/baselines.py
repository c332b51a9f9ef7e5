"""Trivial baselines that sit in every table so that "the model learned something" is visible."""
from __future__ import annotations

import torch
from torch import nn


class Persistence(nn.Module):
    """Forecast: hold the last observed value of the target column for every day of the horizon.

    With `target_mode="change"` (targets are changes since the last input day) that is a zero change.
    """

    def __init__(self, target_index: int, horizon: int, target_mode: str = "level") -> None:
        super().__init__()
        self.target_index, self.horizon, self.target_mode = target_index, horizon, target_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1, self.target_index]  # (batch,)
        if self.target_mode == "change":
            last = torch.zeros_like(last)
        return last.unsqueeze(1).expand(-1, self.horizon)  # (batch, horizon)


class Majority(nn.Module):
    """Classification: always predict the most frequent training class (as one-hot logits)."""

    logits: torch.Tensor  # (classes,) buffer: log one-hot of the most frequent class

    def __init__(self, train_targets: torch.Tensor, classes: int) -> None:
        super().__init__()
        counts = torch.bincount(train_targets, minlength=classes)
        self.register_buffer("logits", torch.log(torch.nn.functional.one_hot(counts.argmax(), classes).float()
                                                 .clamp_min(1e-12)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)  # (batch, classes)

"""A temporal convolutional forecaster: dilated causal 1-D convolutions over the days (Bai, Kolter & Koltun
2018, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence Modeling").

Kernel 3 with dilations 1, 2, 4, ... (left padding only, so day d sees days <= d); the last day's channels
feed a linear head. Input (batch, days, features) -> (batch, output_dim).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.models.registry import register_model


class CausalConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dilation: int, kernel: int = 3) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad, 0)))  # (batch, channels, days)


@register_model("tcn")
class TemporalConvForecaster(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], output_dim: int, channels: int = 64, levels: int = 3,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if len(input_shape) != 2:
            raise DistillError(f"the tcn model needs (days, features) inputs, got shape {tuple(input_shape)}")
        if levels < 1 or channels < 1:
            raise DistillError(f"tcn options levels and channels must be >= 1, got {levels}, {channels}")
        blocks: list[nn.Module] = [nn.Dropout(dropout)]
        width = input_shape[1]
        for level in range(levels):
            blocks += [CausalConv(width, channels, dilation=2 ** level), nn.GELU()]
            width = channels
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(x.transpose(1, 2))  # (batch, channels, days)
        return self.head(features[:, :, -1])  # (batch, output_dim)

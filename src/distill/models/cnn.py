"""A small convolutional net for 8x8 .. 32x32 grayscale or RGB images (digits, MNIST, thumbnails).

Each feature stage is conv3x3 -> batch norm -> ReLU -> 2x2 max-pool, so every stage halves the
image; the stages are `features.0`, `features.1`, ... so feature-based losses can hook them by
module path. A flattened hidden layer (`body`) and a linear `head` give the logits.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.heads import output_activation
from distill.models.registry import register_model


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 (same size) -> BN -> ReLU -> max-pool 2: (batch, in, h, w) -> (batch, out, h/2, w/2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def check_image_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """Return (channels, height, width), or raise if the shape is not an image without batch dimension."""
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise DistillError(f"the {model} model needs (channels, height, width) inputs, got shape {tuple(input_shape)}")
    return input_shape


@register_model("cnn")
class SmallCNN(nn.Module):
    """`len(channels)` conv blocks of the given widths -> flatten -> Linear(hidden)-ReLU -> Linear(output_dim).

    Default [16, 32] and hidden 64 is about 20k parameters on 1x8x8 digits. Input (batch, c, h, w).
    """

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, channels: Sequence[int] = (16, 32),
                 hidden: int = 64, dropout: float = 0.0, output: str = "none") -> None:
        super().__init__()
        in_channels, height, width = check_image_shape(input_shape, "cnn")
        if not channels or min(channels) < 1:
            raise DistillError(f"cnn channels must be a non-empty list of positive widths, got {list(channels)}")
        shrink = 2 ** len(channels)
        if min(height, width) < shrink:
            raise DistillError(f"cnn input {height}x{width} is too small for {len(channels)} conv blocks "
                               f"(each halves the image); use images of at least {shrink}x{shrink} or fewer channels")
        widths = [in_channels, *channels]
        self.features = nn.Sequential(*(conv_block(a, b) for a, b in zip(widths, widths[1:])))
        flat = channels[-1] * (height // shrink) * (width // shrink)
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(hidden, output_dim)
        self.out = output_activation(output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)  # (batch, channels[-1], h / 2**blocks, w / 2**blocks)
        return self.out(self.head(self.body(maps)))  # (batch, output_dim)

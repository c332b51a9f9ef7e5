"""Feed-forward networks: the seed's student (4720-50-50-14, sigmoid) and Hinton's MNIST nets."""
from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from distill.models.heads import output_activation
from distill.models.registry import register_model


@register_model("mlp")
class MLP(nn.Module):
    """Flatten the input, then Linear-ReLU blocks of the given widths, then a linear output layer.

    `hidden=[]` gives logistic / linear regression. `features` names the last hidden activation
    (module path `body`) so feature-based losses can hook it.
    """

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, hidden: Sequence[int] = (50, 50),
                 output: str = "none", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, output_dim)
        self.out = output_activation(output)

    def forward(self, x):
        return self.out(self.head(self.body(x)))  # (batch, output_dim)

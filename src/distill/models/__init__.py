"""Model families by name: `build_model(name, input_shape, output_dim, **options)`.

Each entry is a class whose constructor takes `(input_shape, output_dim, **options)`. Adding a family
is one file in this package and one line in `MODELS`.
"""
from __future__ import annotations

import inspect

from torch import nn

from distill.errors import DistillError
from distill.models.cnn import SmallCNN
from distill.models.lstm import LSTMForecaster
from distill.models.mlp import MLP
from distill.models.resnet import ResNet

MODELS: dict[str, type[nn.Module]] = {
    "cnn": SmallCNN,
    "lstm": LSTMForecaster,
    "mlp": MLP,
    "resnet": ResNet,
}


def build_model(name: str, input_shape: tuple[int, ...], output_dim: int, **options) -> nn.Module:
    """Build a model by registry name; unknown names or options raise a one-line DistillError."""
    if name not in MODELS:
        raise DistillError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
    family = MODELS[name]
    allowed = set(inspect.signature(family).parameters) - {"input_shape", "output_dim"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise DistillError(f"model {name!r} has no option {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    return family(tuple(input_shape), output_dim, **options)

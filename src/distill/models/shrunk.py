"""A teacher shrunk towards a linear anchor: its forecast is a convex mix of a trained model's and a ridge
regression's on the same flattened inputs,

    f(x) = w * base(x) + (1 - w) * (A vec(x) + c),   0 <= w <= 1,

the classic forecast combination (Bates & Granger 1969, "The combination of forecasts"), here with the weight
chosen on inner validation windows (`distill.core.shrinkage`): w = 1 keeps the trained model, w = 0 is the
ridge baseline itself. Built from the registry like any family, so a saved one rebuilds from its results.json
entry (`build_model("shrunk", shape, out, base="ensemble", base_options={...})`); w, A and c are in its weights.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.registry import build_model, register_model


@register_model("shrunk")
class Shrunk(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], output_dim: int, base: str = "rnn",
                 base_options: dict | None = None) -> None:
        super().__init__()
        if base == "shrunk":
            raise DistillError("a shrunk model's base cannot itself be shrunk")
        self.base = build_model(base, input_shape, output_dim, **(base_options or {}))
        self.anchor = nn.Linear(math.prod(input_shape), output_dim)
        self.weight: torch.Tensor
        self.register_buffer("weight", torch.tensor(1.0))

    @classmethod
    def of(cls, base_model: nn.Module, coef: torch.Tensor, intercept: torch.Tensor, weight: float,
           input_shape: tuple[int, ...], base: str, base_options: dict) -> Shrunk:
        """`base_model` (trained, of family `base`) shrunk towards the linear map (coef, intercept) by `weight`."""
        shrunk = cls(input_shape, coef.shape[0], base, base_options)
        shrunk.base = base_model
        with torch.no_grad():
            shrunk.anchor.weight.copy_(coef)
            shrunk.anchor.bias.copy_(intercept)
            shrunk.weight.fill_(weight)
        return shrunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * self.base(x) + (1 - self.weight) * self.anchor(x.flatten(1))

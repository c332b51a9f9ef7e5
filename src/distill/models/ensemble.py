"""An ensemble of K models of one family, its forecast the mean of theirs (Hinton, Vinyals & Dean 2015,
"Distilling the Knowledge in a Neural Network": a cumbersome ensemble is the teacher a small model distils).

Built from the registry like any family, so a saved ensemble rebuilds from its results.json entry:
`build_model("ensemble", shape, out, member="rnn", member_options={...}, size=3)`.
"""
from __future__ import annotations

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.registry import build_model, register_model


@register_model("ensemble")
class Ensemble(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], output_dim: int, member: str = "rnn",
                 member_options: dict | None = None, size: int = 3) -> None:
        super().__init__()
        if size < 2:
            raise DistillError(f"an ensemble needs at least 2 members, got size={size}")
        if member == "ensemble":
            raise DistillError("an ensemble's members cannot be ensembles")
        self.members = nn.ModuleList(build_model(member, input_shape, output_dim, **(member_options or {}))
                                     for _ in range(size))

    @classmethod
    def of(cls, models: list[nn.Module], input_shape: tuple[int, ...], output_dim: int, member: str,
           member_options: dict) -> Ensemble:
        """An ensemble holding already trained `models` (each of family `member`)."""
        ensemble = cls(input_shape, output_dim, member, member_options, len(models))
        ensemble.members = nn.ModuleList(models)
        return ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)  # (batch, output_dim)

"""An ensemble of models, its forecast the mean of theirs (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge
in a Neural Network": a cumbersome ensemble is the teacher a small model distils).

`size` copies of one family (`member`, `member_options`), and optionally a `blend` of other families, each
`{"model": ..., "options": {...}, "copies": n}`: an equal-weight forecast combination of every copy (Bates &
Granger 1969, "The combination of forecasts"; models of different inductive biases err differently, so their
mean errs less than either). Built from the registry like any family, so a saved ensemble rebuilds from its
results.json entry: `build_model("ensemble", shape, out, member="rnn", member_options={...}, size=3,
blend=[{"model": "compact_mlp", "options": {...}, "copies": 3}])`.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from distill.errors import DistillError
from distill.models.registry import build_model, register_model


def blend_members(blend: object) -> list[tuple[str, dict, int]]:
    """(model, options, copies) of each entry of a `blend` list; one-line errors for anything else."""
    if not isinstance(blend, list):
        raise DistillError(f"ensemble option blend must be a list of {{model, options, copies}}, got {blend!r}")
    members = []
    for entry in blend:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("model"), str) or set(entry) - {
                "model", "options", "copies"}:
            raise DistillError(f"ensemble option blend: each entry is {{model, options, copies}}, got {entry!r}")
        options, copies = entry.get("options") or {}, entry.get("copies", 1)
        if not isinstance(options, Mapping):
            raise DistillError(f"ensemble option blend: options of {entry['model']!r} must be a mapping")
        if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
            raise DistillError(f"ensemble option blend: copies of {entry['model']!r} must be a whole number >= 1")
        if entry["model"] == "ensemble":
            raise DistillError("an ensemble's members cannot be ensembles")
        members.append((entry["model"], dict(options), copies))
    return members


@register_model("ensemble")
class Ensemble(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], output_dim: int, member: str = "rnn",
                 member_options: dict | None = None, size: int = 3, blend: list | None = None) -> None:
        super().__init__()
        others = blend_members(blend or [])
        if not isinstance(size, int) or size < 1 or size + sum(copies for *_, copies in others) < 2:
            raise DistillError(f"an ensemble needs at least 2 members, got size={size} and "
                               f"{sum(copies for *_, copies in others)} blended")
        if member == "ensemble":
            raise DistillError("an ensemble's members cannot be ensembles")
        families = [(member, member_options or {})] * size + [(model, options) for model, options, copies in others
                                                             for _ in range(copies)]
        self.members = nn.ModuleList(build_model(model, input_shape, output_dim, **options)
                                     for model, options in families)

    @classmethod
    def of(cls, models: list[nn.Module], **options) -> Ensemble:
        """An ensemble holding already trained `models`, in the order `options` (the constructor's) lists them;
        nothing is built."""
        expected = options.get("size", 3) + sum(copies for *_, copies in blend_members(options.get("blend") or []))
        if len(models) != expected:
            raise DistillError(f"an ensemble of these options holds {expected} models, got {len(models)}")
        ensemble = cls.__new__(cls)
        nn.Module.__init__(ensemble)
        ensemble.members = nn.ModuleList(models)
        return ensemble

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)  # (batch, output_dim)


def spec_text(model: str, options: dict) -> str:
    """A model spec in words, an ensemble as its families: `mean of 3 x rnn {hidden: 64} + 3 x compact_mlp {...}`."""
    def flow(opts: dict) -> str:
        return " {" + ", ".join(f"{key}: {value}" for key, value in opts.items()) + "}" if opts else ""
    if model != "ensemble":
        return model + flow(options)
    families = [(options.get("member", "rnn"), options.get("member_options") or {}, options.get("size", 3))]
    families += [(m["model"], m.get("options") or {}, m.get("copies", 1)) for m in options.get("blend") or []]
    return "mean of " + " + ".join(f"{copies} x {family}{flow(opts)}" for family, opts, copies in families)

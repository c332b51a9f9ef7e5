"""Figures of quantile forecasts: calibration (coverage per level) and WIS split into its three parts.

Imported only when figures are drawn (matplotlib adds memory to a run's peak).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distill.io.plotting import COLORS, plt, save_figure
from distill.losses.pinball import HUB_LEVELS

PART_COLORS = {"dispersion": "tab:blue", "overprediction": "tab:red", "underprediction": "tab:orange"}


def plot_calibration(coverage: dict[str, np.ndarray], levels: Sequence[float], path: Path, title: str = "") -> Path:
    """Share of targets at or below each quantile against its level, per model (`distill.core.wis.level_coverage`);
    the diagonal is perfect calibration, above it the quantiles are too high."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, label="calibrated")
    for name, shares in coverage.items():
        model, _, variant = name.partition("+")  # "teacher+conformal": the teacher's colour, dashed
        ax.plot(levels, shares, "o--" if variant else "o-", ms=3, lw=1.2,
                color=COLORS.get(model, "tab:gray" if model == "baseline" else "tab:brown"), label=name)
    ax.set_xlabel("quantile level")
    ax.set_ylabel("share of targets at or below the quantile")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title or "calibration")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_wis_parts(parts: dict[str, dict[str, float]], path: Path, unit: str = "", title: str = "") -> Path:
    """Stacked bars, one per model: mean dispersion, overprediction and underprediction (they sum to the WIS)."""
    names = list(parts)
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2.5, 3.8))
    bottom = np.zeros(len(names))
    for part, color in PART_COLORS.items():
        heights = np.array([parts[name][part] for name in names])
        ax.bar(names, heights, bottom=bottom, color=color, label=part)
        bottom += heights
    ax.set_ylabel(f"mean WIS{f' ({unit})' if unit else ''}")
    ax.set_title(title or "WIS and its parts")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def quantile_figures(scores: dict, unit: str, out_dir: Path) -> dict[str, str]:
    """A run's calibration and WIS-parts figures from its `results["quantiles"]`; {title: file name}."""
    models = scores["models"]
    calibration = plot_calibration({name: np.asarray(entry["level_coverage"]) for name, entry in models.items()},
                                   HUB_LEVELS, out_dir / "calibration.png", "calibration on the test windows")
    parts = plot_wis_parts({name: entry["parts"] for name, entry in models.items()}, out_dir / "wis_parts.png", unit)
    return {"Calibration of the quantile forecasts": calibration.name, "WIS and its parts": parts.name}

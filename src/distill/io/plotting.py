"""Plotting helpers shared by every protocol (Agg backend, PNG written atomically): colours, saving, error vs
cost, and the one annotated heat map (sweeps)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from distill.io.atomic import atomic_open  # noqa: E402

COLORS = {"teacher": "tab:blue", "student_kd": "tab:orange", "student_scratch": "tab:green",
          "persistence": "tab:gray", "majority": "tab:gray", "seven_day_mean": "tab:olive", "linear_drift": "tab:pink",
          "ridge": "tab:purple", "oracle": "black"}
MODEL_COLORS = {"teacher": "tab:blue", "privileged": "tab:blue", "student_distilled": "tab:orange",  # privileged roles
                "distilled": "tab:orange", "student_alone": "tab:green", "regular": "tab:green",
                "majority": "tab:gray", "persistence": "tab:gray"}


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Lay out, write as PNG atomically (a failed write leaves an earlier figure intact), close."""
    fig.tight_layout()
    with atomic_open(path, "wb") as out:
        fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return path


def plot_cost(models: dict[str, dict], metric: str, path: Path) -> Path:
    """Test error (mean +- SEM) against parameters, FLOPs and batch-1 latency, one marker per model."""
    costs = [("params", "parameters"), ("flops", "FLOPs per prediction"), ("latency", "latency, batch 1 (ms)")]
    markers = "osD^vP*X"
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, (key, label) in zip(axes, costs):
        for index, (name, entry) in enumerate(models.items()):
            cost = entry["latency_ms"]["batch1"] if key == "latency" else entry[key]
            score = entry["test"][metric]
            ax.errorbar(cost, score["mean"], yerr=score["sem"], fmt=markers[index % len(markers)],
                        color=COLORS.get(name), capsize=3, label=name, alpha=0.85)
        ax.set_xscale("symlog", linthresh=1e-3 if key == "latency" else 1)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"test {metric} (mean +- SEM)")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def heat_map(values: list[list[float]], rows: list[float], columns: list[float], *, row_label: str,
             column_label: str, title: str, path: Path, digits: str = ".3g", label: str | None = None,
             best: tuple[int, int] | None = None, cell_size: tuple[float, float] = (1.1, 0.7),
             margin: tuple[float, float] = (3.0, 2.0)) -> Path:
    """A score over a grid (rows x columns), each cell annotated; `best` (row, column) boxed in red."""
    values = np.array(values, dtype=float)
    fig, ax = plt.subplots(figsize=(cell_size[0] * len(columns) + margin[0], cell_size[1] * len(rows) + margin[1]))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    middle = np.nanmin(values) + 0.6 * (np.nanmax(values) - np.nanmin(values))
    for (row, col), value in np.ndenumerate(values):
        ax.text(col, row, f"{value:{digits}}", ha="center", va="center", fontsize=8,
                color="black" if value > middle else "white")
    if best is not None:
        ax.add_patch(plt.Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="red", lw=2.5))
    ax.set_xticks(range(len(columns)), [f"{c:g}" for c in columns])
    ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    return save_figure(fig, path)

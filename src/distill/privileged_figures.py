"""Figures of the privileged-information recipes (Agg backend, PNG): synthetic accuracies beside the published
ones, test score against horizon per training size, and lambda x T heat maps."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from distill.figures import save_figure  # noqa: E402

MODEL_COLORS = {"teacher": "tab:blue", "privileged": "tab:blue", "student_distilled": "tab:orange",
                "distilled": "tab:orange", "student_alone": "tab:green", "regular": "tab:green",
                "majority": "tab:gray", "persistence": "tab:gray"}


def plot_lupi_bars(experiments: dict, published: dict, models: tuple[str, ...], path: Path) -> Path:
    """Grouped bars: test accuracy (mean +- SEM) per experiment and model; published means as black ticks."""
    names = list(experiments)
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(2.4 * len(names) + 2, 4))
    for index, model in enumerate(models):
        positions = np.arange(len(names)) + (index - (len(models) - 1) / 2) * width
        means = [experiments[name][model]["accuracy"]["mean"] for name in names]
        sems = [experiments[name][model]["accuracy"]["sem"] for name in names]
        ax.bar(positions, means, width, yerr=sems, capsize=3, color=MODEL_COLORS.get(model), label=model)
        ax.scatter(positions, [published[name][model]["mean"] for name in names], marker="_", s=400,
                   color="black", zorder=3, label="published" if index == 0 else None)
    ax.set_xticks(range(len(names)), [name.replace("_", " ") for name in names])
    ax.set_ylabel("test accuracy (%), mean +- SEM")
    ax.set_ylim(40, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(models) + 1, loc="lower left")
    return save_figure(fig, path)


def plot_score_vs_horizon(cells: list[dict], models: list[str], metric: str, path: Path) -> Path:
    """One panel per training size: test `metric` (mean +- SEM over folds) against horizon, a line per model."""
    sizes = list(dict.fromkeys(cell["train_size"] for cell in cells))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.3 * len(sizes), 3.8), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes):
        chosen = sorted((cell for cell in cells if cell["train_size"] == size), key=lambda cell: cell["horizon"])
        horizons = [cell["horizon"] for cell in chosen]
        for model in models:
            scores = [cell["models"][model]["test"][metric] for cell in chosen]
            ax.errorbar(horizons, [s["mean"] for s in scores], yerr=[s["sem"] or 0.0 for s in scores], marker="o",
                        capsize=3, color=MODEL_COLORS.get(model), label=model)
        ax.set_title(f"training size {size if size is not None else 'all'}")
        ax.set_xlabel("horizon k")
        ax.set_xticks(horizons)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"test {metric} (mean +- SEM over folds)")
    axes[0][-1].legend(fontsize=8)
    return save_figure(fig, path)


def plot_lambda_temperature(means: list[list[float]], lams: list[float], temperatures: list[float], title: str,
                            label: str, path: Path) -> Path:
    """Heat map of a score over temperature (rows) x lambda (columns), each cell annotated."""
    values = np.array(means, dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * len(lams) + 3, 0.7 * len(temperatures) + 2))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    middle = np.nanmin(values) + 0.6 * (np.nanmax(values) - np.nanmin(values))
    for (row, col), value in np.ndenumerate(values):
        ax.text(col, row, f"{value:.3g}", ha="center", va="center", fontsize=8,
                color="black" if value > middle else "white")
    ax.set_xticks(range(len(lams)), [f"{lam:g}" for lam in lams])
    ax.set_yticks(range(len(temperatures)), [f"{t:g}" for t in temperatures])
    ax.set_xlabel("lambda (weight of the teacher's soft labels)")
    ax.set_ylabel("temperature T")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    return save_figure(fig, path)

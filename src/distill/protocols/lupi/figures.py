"""Figures of the `lupi-synthetic` recipe: accuracy beside the published means, the lambda x T heat map."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.io.plotting import MODEL_COLORS, heat_map, legend_above, plt, save_figure
from distill.protocols.lupi.experiments import MODELS
from distill.protocols.lupi.report import sweep_means


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
    ax.set_xlabel("experiment")
    ax.set_ylabel("test accuracy (%), mean +- SEM")
    ax.set_ylim(40, 100)
    ax.grid(axis="y", alpha=0.3)
    legend_above(ax, columns=len(models) + 1)
    return save_figure(fig, path)


def lupi_figures(results: dict, out_dir: Path) -> dict[str, str]:
    figures = {"Test accuracy beside the published means": plot_lupi_bars(
        results["experiments"], results["published"], MODELS, out_dir / "accuracy.png").name}
    sweep = results["sweep"]
    if sweep is not None:
        title = (f"{sweep['experiment']}: distilled test accuracy (%); teacher {sweep['privileged']['mean']:.1f}, "
                 f"regular {sweep['regular']['mean']:.1f}")
        figures["lambda x T sweep"] = heat_map(sweep_means(sweep), sweep["temperature"], sweep["lam"],
                                               row_label="temperature T",
                                               column_label="lambda (weight of the teacher's soft labels)",
                                               title=title, label="accuracy (%)", path=out_dir / "sweep.png").name
    return figures

"""Figures of the privileged-information recipes: test score against horizon per training size, and the
lambda x T heat map (also drawn by lupi-synthetic)."""
from __future__ import annotations

from pathlib import Path

from distill.io.plotting import MODEL_COLORS, heat_map, legend_right, plt, save_figure
from distill.protocols.privileged.config import ALONE
from distill.protocols.privileged.report import main_models, metric_label, size_text


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
        ax.set_xlabel("horizon k (rows ahead)")
        ax.set_xticks(horizons)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"test {metric_label(metric)}")
    fig.suptitle("mean +- SEM over folds", fontsize=9)
    legend_right(axes[0][-1])
    return save_figure(fig, path)


def plot_lambda_temperature(means: list[list[float]], lams: list[float], temperatures: list[float], title: str,
                            label: str, path: Path) -> Path:
    """Heat map of a score over temperature (rows) x lambda (columns), each cell annotated."""
    return heat_map(means, temperatures, lams, row_label="temperature T",
                    column_label="lambda (weight of the teacher's soft labels)", title=title, label=label, path=path)


def privileged_figures(results: dict, out_dir: Path) -> dict[str, str]:
    metric = results["metric"]
    figures = {f"Test {metric} vs horizon": plot_score_vs_horizon(
        results["cells"], main_models(results["cells"][0]), metric, out_dir / "horizons.png").name}
    sweep = results["sweep"]
    if sweep is not None:
        title = (f"k = {sweep['horizon']}, n = {size_text(sweep['train_size'])}: distilled test {metric}; alone "
                 f"{sweep[ALONE]['mean']:.3g}, teacher {sweep['teacher']['mean']:.3g}")
        means = [[cell["mean"] for cell in row] for row in sweep["grid"]]
        figures["lambda x T sweep"] = plot_lambda_temperature(means, sweep["lam"], sweep["temperature"], title,
                                                              f"test {metric_label(metric)}",
                                                              out_dir / "sweep.png").name
    return figures

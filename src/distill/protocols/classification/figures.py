"""Figures of the classification report (Agg backend, PNG): loss and accuracy curves, confusion matrices,
per-class accuracy, and the temperature x alpha heat map. The error-vs-cost figure is `figures.plot_cost`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.io.plotting import (
    has_loss_terms,
    heat_map,
    legend_above,
    legend_right,
    log_axis,
    model_colors,
    plot_cost,
    plot_loss_terms,
    plt,
    save_figure,
)
from distill.protocols.classification.report import BEST_CHOSEN, ClassificationRun, featured

PANEL_COLUMNS = 4
ANNOTATED_PANELS = 4  # counts are written into the cells of at most this many matrices (text is slow)
MAX_WIDTH = 16.0  # inches: a per-class figure of 11 models x 10 classes stays readable on a screen
ANNOTATED_CLASSES = 12  # and only when the classes fit: 10 digits at 9 points fill a 3.6-inch panel


def _fold_mean(runs: list[dict], key: str) -> np.ndarray:
    return np.mean([run[key] for run in runs], axis=0)


def plot_loss_accuracy(curves: dict[str, list[dict]], path: Path) -> Path:
    """Test NLL (top) and test accuracy (middle) per epoch, mean over folds, one line per model, train values
    dashed; below, each distilled student's named loss terms per epoch (`plot_loss_terms`)."""
    terms = has_loss_terms(curves)
    fig, axes = plt.subplots(3 if terms else 2, 1, figsize=(8, 10 if terms else 7), sharex=True)
    loss_ax, acc_ax = axes[:2]
    colors = model_colors(list(curves))
    for name, runs in curves.items():
        color = colors[name]
        epochs = runs[0]["epoch"]
        marker = "o" if len(epochs) < 3 else None  # a line of one or two scored epochs is hardly visible
        loss_ax.plot(epochs, _fold_mean(runs, "train"), "--", color=color, lw=0.9, marker=marker)
        loss_ax.plot(epochs, _fold_mean(runs, "test"), "-", color=color, lw=1.5, label=name, marker=marker)
        acc_ax.plot(epochs, _fold_mean(runs, "train_accuracy"), "--", color=color, lw=0.9, marker=marker)
        acc_ax.plot(epochs, _fold_mean(runs, "test_accuracy"), "-", color=color, lw=1.5, label=name, marker=marker)
    log_axis(loss_ax, "y", [value for line in loss_ax.get_lines() for value in line.get_ydata()])
    loss_ax.set_ylabel("NLL of the true class (nats)")
    acc_ax.set_ylabel("accuracy (fraction)")
    if terms:
        plot_loss_terms(axes[2], curves, colors, "loss term (nats, weighted)")
    else:
        acc_ax.set_xlabel("epoch")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    loss_ax.set_title("mean over folds; solid: test, dashed: train", fontsize=9)
    legend_right(loss_ax)
    return save_figure(fig, path)


def count_points(classes: int) -> int:
    """Font size of the counts in a confusion matrix's cells: large where the cells are large."""
    return 13 if classes <= 4 else 9 if classes <= 10 else 7


def plot_confusions(matrices: dict[str, np.ndarray], class_names: list[str], path: Path) -> Path:
    """One confusion matrix per model (rows: true class, columns: predicted), counts over all folds."""
    names = list(matrices)
    cols = min(PANEL_COLUMNS, len(names))
    rows = int(np.ceil(len(names) / cols))
    annotate = len(class_names) <= ANNOTATED_CLASSES and len(names) <= ANNOTATED_PANELS
    size = 4.6 if annotate else 3.6
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, (size - 0.2) * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        matrix = matrices[name]
        ax.imshow(matrix, cmap="Blues")
        ticks = np.arange(len(class_names))
        ax.set_xticks(ticks, class_names, fontsize=8)
        ax.set_yticks(ticks, class_names, fontsize=8)
        if annotate:
            for (i, j), count in np.ndenumerate(matrix):
                ax.text(j, i, str(count), ha="center", va="center", fontsize=count_points(len(class_names)),
                        color="white" if count > matrix.max() / 2 else "black")
        ax.set_title(f"{name} (test images, all folds)", fontsize=9)
        ax.set_xlabel("predicted class", fontsize=9)
        ax.set_ylabel("true class", fontsize=9)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    return save_figure(fig, path)


def plot_per_class(accuracies: dict[str, list[float | None]], class_names: list[str], path: Path) -> Path:
    """Grouped bars: accuracy on each true class, one bar per model."""
    fig, ax = plt.subplots(figsize=(min(MAX_WIDTH, max(6.0, 0.9 * len(class_names) * max(1, len(accuracies)) / 3)), 3.8))
    width = 0.8 / len(accuracies)
    positions = np.arange(len(class_names))
    colors = model_colors(list(accuracies))
    for index, (name, values) in enumerate(accuracies.items()):
        heights = [np.nan if v is None else v for v in values]
        ax.bar(positions + (index - (len(accuracies) - 1) / 2) * width, heights, width, label=name,
               color=colors[name])
    ax.set_xticks(positions, class_names)
    ax.set_xlabel("true class")
    ax.set_ylabel("accuracy on the class (fraction;\ntest images of all folds)")
    low = np.nanmin([v for values in accuracies.values() for v in values if v is not None] or [0.0])
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.grid(axis="y", alpha=0.3)
    legend_above(ax, columns=min(4, len(accuracies)))
    return save_figure(fig, path)


def plot_sweep(grid: dict, path: Path) -> Path:
    """Heat map of mean test accuracy over temperature (rows) x alpha (columns); the best cell boxed."""
    best = (grid["temperatures"].index(grid["best"]["temperature"]), grid["alphas"].index(grid["best"]["alpha"]))
    return heat_map(grid["accuracy_mean"], grid["temperatures"], grid["alphas"], row_label="temperature T",
                    column_label="alpha (weight of the soft targets)", digits=".4f", best=best, path=path,
                    title=f"test accuracy, mean over folds\nred: T = {grid['best']['temperature']:g}, "
                          f"alpha = {grid['best']['alpha']:g}, {BEST_CHOSEN[grid['best']['chosen_on']]}",
                    label="test accuracy (fraction)", cell_size=(1.2, 0.8), margin=(2.5, 1.8))


def classification_figures(run: ClassificationRun, out_dir: Path) -> dict[str, str]:
    results = run.results
    names = featured(run)
    curves = {name: results["curves"][name] for name in names if name in results["curves"]}
    figures = {
        "Loss and accuracy per epoch": plot_loss_accuracy(curves, out_dir / "curves.png").name,
        "Confusion matrices": plot_confusions({name: np.array(results["confusion"][name]) for name in names},
                                              results["classes"], out_dir / "confusion.png").name,
        "Accuracy per class": plot_per_class({name: results["per_class_accuracy"][name] for name in names},
                                             results["classes"], out_dir / "per_class.png").name,
        "Accuracy vs cost (the majority baseline is in the tables, not here)":
            plot_cost({name: entry for name, entry in results["models"].items() if name != "majority"}, "accuracy",
                      "test accuracy (fraction)", out_dir / "cost.png").name,
    }
    if "sweep" in results:
        figures["Temperature x alpha"] = plot_sweep(results["sweep"], out_dir / "sweep.png").name
    return figures

"""Figures of the forecasting protocol: learning curves, forecasts beside the truth, error by horizon day, cost."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.io.plotting import (
    COLORS,
    has_loss_terms,
    legend_right,
    log_axis,
    model_colors,
    plot_cost,
    plot_loss_terms,
    plt,
    save_figure,
)
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.quantile_figures import quantile_figures
from distill.protocols.forecast.report import ForecastRun

SHOWN_BASELINES = ("persistence", "oracle")


def plot_curves(curves: dict[str, list[dict]], metric: str, path: Path) -> Path:
    """One panel per model: train (dashed), inner validation (dotted) and test (solid) metric per epoch; below,
    each distilled student's named loss terms per epoch (`plot_loss_terms`)."""
    names = list(curves)
    terms = has_loss_terms(curves)
    fig = plt.figure(figsize=(4.2 * len(names), 6.8 if terms else 3.6))
    grid = fig.add_gridspec(2 if terms else 1, len(names))
    first = fig.add_subplot(grid[0, 0])
    top = [first, *(fig.add_subplot(grid[0, k], sharey=first) for k in range(1, len(names)))]  # one per model
    for ax, name in zip(top, names):
        for fold, run in enumerate(curves[name]):
            color = plt.cm.viridis(fold / max(1, len(curves[name]) - 1))
            marker = "o" if len(run["epoch"]) < 3 else None  # one or two scored epochs: points, not a line
            ax.plot(run["epoch"], run["train"], "--", color=color, lw=1, marker=marker)
            ax.plot(run["epoch"], run["test"], "-", color=color, lw=1.4, label=f"fold {fold + 1}", marker=marker)
            if "val" in run:
                ax.plot(np.arange(1, len(run["val"]) + 1), run["val"], ":", color=color, lw=1)
                ax.axvline(run["best_epoch"], color=color, lw=0.6, alpha=0.5)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    log_axis(top[0], "y", [float(value) for ax in top for line in ax.get_lines()
                            for value in np.asarray(line.get_ydata(), dtype=float)])
    top[0].set_ylabel(f"{metric} (scaled units)")
    fig.suptitle("dashed: train, dotted: inner validation, solid: test; vertical line: best epoch", fontsize=9)
    legend_right(top[-1], fontsize=7)
    if terms:
        plot_loss_terms(fig.add_subplot(grid[1, :]), curves, model_colors(names), "loss term (scaled units)")
    return save_figure(fig, path)


def plot_forecasts(run: ForecastRun, samples: int, seed: int, path: Path) -> Path:
    """Sampled test windows: the input days, the truth and the forecasts, in the target's own units."""
    rng = np.random.default_rng(seed)
    folds = len(run.splits)
    picks = [(i % folds, int(rng.integers(len(run.splits[i % folds][2])))) for i in range(samples)]
    cols = min(samples, 2)
    rows = int(np.ceil(samples / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax, (fold, row) in zip(axes.ravel(), picks):
        window = run.splits[fold][2][row]
        history, truth = run.table.history[window], run.table.targets[window]
        days = np.arange(1, len(truth) + 1)
        ax.plot(np.arange(1 - len(history), 1), history, "k:", lw=1.5, label="input days")
        ax.plot(days, truth, "k-", lw=2.2, label="truth")
        for name, forecast in run.forecasts[fold].items():
            if name in run.protocol.outcomes or name in SHOWN_BASELINES:
                style = "--" if name in SHOWN_BASELINES else "-"
                ax.plot(days, forecast[row], style, color=COLORS.get(name), lw=1.3, label=name)
        start = int(run.table.starts[window]) + len(history)
        where = f"{run.table.series_names[run.table.series[window]]}, " if len(run.table.series_names) > 1 else ""
        ax.set_title(f"{where}fold {fold + 1}, forecast from {run.dates[start] if start < len(run.dates) else start}",
                     fontsize=9)
        ax.set_xlabel("day (<= 0: input days, >= 1: forecast horizon)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(picks):]:
        ax.axis("off")
    for ax in axes.ravel()[:len(picks)]:  # each panel has its own scale
        ax.set_ylabel(run.results["data"]["unit"])
    legend_right(axes[0][-1], fontsize=7)
    return save_figure(fig, path)


def plot_horizon(models: dict[str, dict], unit: str, path: Path) -> Path:
    """MAE (mean +- SEM over folds) and skill against persistence for every horizon day, one line per model."""
    fig, (error_ax, skill_ax) = plt.subplots(1, 2, figsize=(13, 4.2))
    persistence = np.array(models["persistence"]["test"]["mae_by_horizon"]["mean"])
    for name, entry in models.items():
        by_day = entry["test"]["mae_by_horizon"]
        mean, sem = np.array(by_day["mean"]), np.array(by_day["sem"], dtype=float)
        days = np.arange(1, len(mean) + 1)
        style = "--" if entry.get("kind") == "baseline" else "-"
        error_ax.plot(days, mean, style, color=COLORS.get(name), label=name, lw=1.5)
        error_ax.fill_between(days, mean - sem, mean + sem, color=COLORS.get(name), alpha=0.12)
        skill_ax.plot(days, 1 - mean / persistence, style, color=COLORS.get(name), label=name, lw=1.5)
    error_ax.set(xlabel="horizon day", ylabel=f"MAE ({unit})", title="error by horizon day (band: +- SEM)")
    skill_ax.set(xlabel="horizon day", ylabel="skill (fraction; 0: as persistence)",
                 title="skill = 1 - MAE / MAE(persistence)")
    skill_ax.axhline(0, color="k", lw=0.8)
    for ax in (error_ax, skill_ax):
        ax.grid(alpha=0.3)
    legend_right(skill_ax, fontsize=7)
    return save_figure(fig, path)


def forecast_figures(run: ForecastRun, config: ForecastConfig, out_dir: Path) -> dict[str, str]:
    """curves.png, forecasts.png, horizon.png and cost.png; {title: file name}."""
    results = run.results
    trained = {name: entry for name, entry in results["models"].items() if entry.get("kind") != "baseline"}
    quantiles = quantile_figures(results["quantiles"], results["data"]["unit"], out_dir) if "quantiles" in results else {}
    return {
        **quantiles,
        "Learning curves": plot_curves(results["curves"], "mse", out_dir / "curves.png").name,
        "Forecasts on test windows": plot_forecasts(run, config.report.sample_windows, config.seed,
                                                    out_dir / "forecasts.png").name,
        "Error and skill by horizon day": plot_horizon(results["models"], results["data"]["unit"],
                                                       out_dir / "horizon.png").name,
        "Error vs cost": plot_cost(trained, "mae_original", f"test MAE ({results['data']['unit']})",
                                   out_dir / "cost.png").name,
    }

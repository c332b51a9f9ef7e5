"""Figures of the forecasting protocol: learning curves, forecasts beside the truth on test windows."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.core.protocol import ProtocolResult
from distill.io.plotting import COLORS, plot_cost, plt, save_figure
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.report import ForecastRun


def plot_curves(curves: dict[str, list[dict]], metric: str, path: Path) -> Path:
    """One panel per model: train (dashed) and test (solid) metric per epoch, one line pair per fold."""
    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
        for fold, run in enumerate(curves[name]):
            color = plt.cm.viridis(fold / max(1, len(curves[name]) - 1))
            ax.plot(run["epoch"], run["train"], "--", color=color, lw=1)
            ax.plot(run["epoch"], run["test"], "-", color=color, lw=1.4, label=f"fold {fold + 1}")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} (dashed: train, solid: test)")
    axes[0][-1].legend(fontsize=7)
    return save_figure(fig, path)


def plot_forecasts(protocol: ProtocolResult, dates: list[str], target_index: int, samples: int, seed: int,
                   path: Path, change: bool = False) -> Path:
    """Sampled test windows: the input days, the truth and every model's forecast, in original units.

    `target_index` is the target's column in the inputs; with `change`, targets are changes since the
    last input day and are added back to it.
    """
    rng = np.random.default_rng(seed)
    picks = [(fold, int(rng.integers(len(fold.y_test)))) for fold in
             (protocol.folds[i % len(protocol.folds)] for i in range(samples))]
    cols = min(samples, 2)
    rows = int(np.ceil(samples / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    for ax, (fold, row) in zip(axes.ravel(), picks):
        history = fold.x_test[row, :, target_index].numpy()  # (input_days,)
        start = int(fold.test_rows[row]) + len(history)
        days = np.arange(len(fold.y_test[row]))
        base = float(history[-1]) if change else 0.0
        ax.plot(np.arange(-len(history), 0), history * fold.units + fold.offset, "k:", lw=1.5, label="input days")
        ax.plot(days, (fold.y_test[row].numpy() + base) * fold.units + fold.offset, "k-", lw=2.2, label="truth")
        for name, runs in protocol.outcomes.items():
            forecast = (runs[fold.index].test_outputs[row].numpy() + base) * fold.units + fold.offset
            ax.plot(days, forecast, "-", color=COLORS.get(name), lw=1.3, label=name)
        ax.set_title(f"fold {fold.index + 1}, forecast from {dates[start] if start < len(dates) else start}",
                     fontsize=9)
        ax.set_xlabel("day (< 0: input days, >= 0: forecast horizon)")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(picks):]:
        ax.axis("off")
    axes[0][0].set_ylabel("target (original units)")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)


def forecast_figures(run: ForecastRun, config: ForecastConfig, out_dir: Path) -> dict[str, str]:
    """curves.png, forecasts.png and cost.png; {title: file name}."""
    results = run.results
    return {
        "Learning curves": plot_curves(results["curves"], "mse", out_dir / "curves.png").name,
        "Forecasts on test windows": plot_forecasts(run.protocol, run.dates, run.target_index,
                                                    config.report.sample_windows, config.seed,
                                                    out_dir / "forecasts.png",
                                                    change=config.data.target_mode == "change").name,
        "Error vs cost": plot_cost(results["models"], "mae_original", out_dir / "cost.png").name,
    }

"""Plotting helpers shared by every protocol (Agg backend, PNG written atomically): colours, saving, legends
outside the plotted data, log axes with at least two labelled ticks, error vs cost, and the one annotated heat map
(sweeps)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter  # noqa: E402

from distill.io.atomic import atomic_open  # noqa: E402

COLORS = {"teacher": "tab:blue", "student_kd": "tab:orange", "student_scratch": "tab:green",
          "persistence": "tab:gray", "majority": "tab:gray", "seven_day_mean": "tab:olive", "linear_drift": "tab:pink",
          "ridge": "tab:purple", "oracle": "black"}
MODEL_COLORS = {"teacher": "tab:blue", "privileged": "tab:blue", "student_distilled": "tab:orange",  # privileged roles
                "distilled": "tab:orange", "student_alone": "tab:green", "regular": "tab:green",
                "majority": "tab:gray", "persistence": "tab:gray"}


def _colormap_colors(name: str) -> list[str]:
    """The colours of a qualitative colormap (tab10: 10 of them), in order, as hex."""
    colormap = matplotlib.colormaps[name]
    return [matplotlib.colors.to_hex(colormap(i)) for i in range(colormap.N)]


def model_colors(names: list[str]) -> dict[str, str]:
    """A distinct colour per model of a figure: the fixed colour of a known role (`COLORS`), and for the others
    the colours of tab10, then tab20b, that no known role has (green stays the student alone's, and so on)."""
    named = {name: matplotlib.colors.to_hex(COLORS[name]) for name in names if name in COLORS}
    palette = iter(color for color in _colormap_colors("tab10") + _colormap_colors("tab20b")
                   if color not in {matplotlib.colors.to_hex(known) for known in COLORS.values()})
    return {name: named.get(name) or next(palette) for name in names}


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Lay out, write as PNG atomically (a failed write leaves an earlier figure intact), close. The saved area
    grows to hold every label and every legend placed outside the axes."""
    fig.tight_layout()
    with atomic_open(path, "wb") as out:
        fig.savefig(out, format="png", dpi=110, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return path


def legend_right(ax: plt.Axes, **options) -> None:
    """The legend right of the axes, outside the plotted area (it never covers data)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **{"fontsize": 8, **options})


def legend_above(ax: plt.Axes, columns: int, **options) -> None:
    """The legend in a row above the axes, outside the plotted area (for bars that fill the axes' width)."""
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), borderaxespad=0.0, ncol=columns,
              **{"fontsize": 8, **options})


def log_axis(ax: plt.Axes, axis: str, values: list[float]) -> None:
    """A log scale spanning whole decades around `values` (> 0), so that at least two ticks carry labels, with
    ticks at 1, 2 and 5 times each power of ten."""
    positive = [value for value in values if value > 0 and np.isfinite(value)]
    low, high = (min(positive), max(positive)) if positive else (1.0, 10.0)
    low, high = 10 ** np.floor(np.log10(low)), 10 ** np.ceil(np.log10(high))
    high = high * 10 if high <= low else high
    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"set_{axis}lim")(low, high)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if high / low <= 100 else (1.0,)))
    target.set_major_formatter(LogFormatterSciNotation(base=10, labelOnlyBase=False))
    target.set_minor_formatter(NullFormatter())  # matplotlib labels minor ticks of a one-decade axis: they collide


TERM_STYLES = ("-", "--", ":", "-.")  # a distilled student's loss terms in their order: loss_hard, loss_kd, ...


def loss_terms(runs: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A model's named loss terms in its curves (`loss_hard`, `loss_kd`, ...: one value per epoch trained, the
    mean over the epoch's training steps) as {term: (epochs, mean over the folds that trained that epoch)}; folds
    stopped early leave the later epochs to the others. Empty for a model without terms (a teacher)."""
    found = {}
    for term in (key for key in runs[0] if key.startswith("loss_")):
        length = max(len(run[term]) for run in runs)
        padded = np.full((len(runs), length), np.nan)
        for row, run in zip(padded, runs):
            row[:len(run[term])] = run[term]
        found[term] = (np.arange(1, length + 1), np.nanmean(padded, axis=0))
    return found


def has_loss_terms(curves: dict[str, list[dict]]) -> bool:
    """Whether any model's curves hold named loss terms (a recipe with distilled students)."""
    return any(loss_terms(runs) for runs in curves.values())


def plot_loss_terms(ax: plt.Axes, curves: dict[str, list[dict]], colors: dict[str, str], ylabel: str) -> None:
    """Each distilled student's named loss terms per epoch on `ax` (colour: the model, line style: the term),
    legend right."""
    for name, runs in curves.items():
        for (term, (epochs, values)), style in zip(loss_terms(runs).items(), TERM_STYLES * 4):
            ax.plot(epochs, values, style, color=colors[name], lw=1.3, label=f"{name}: {term}",
                    marker="o" if len(epochs) < 3 else None)
    log_axis(ax, "y", [float(value) for line in ax.get_lines() for value in np.asarray(line.get_ydata(), dtype=float)])
    ax.set(xlabel="epoch", ylabel=ylabel)
    ax.set_title("the students' loss terms per epoch (training steps' mean, mean over folds)", fontsize=9)
    ax.grid(alpha=0.3)
    legend_right(ax, fontsize=7)


def _spans_orders(values: list[float], ratio: float = 20.0) -> bool:
    positive = [value for value in values if np.isfinite(value)]
    return bool(positive) and min(positive) > 0 and max(positive) / min(positive) > ratio


def plot_cost(models: dict[str, dict], metric: str, label: str, path: Path) -> Path:
    """Test `metric` against parameters, FLOPs and batch-1 latency: one small mark per fold and a large mark for
    the mean over folds, one colour and shape per model (no error bars: folds differ more than models do, and
    the paired comparisons in the report are the test of a difference). `label` names the metric and its unit."""
    costs = [("params", "parameters (count)"), ("flops", "FLOPs per prediction (count)"),
             ("latency", "latency, batch 1 (ms, median)")]
    markers = "osD^vP*X"
    scores = [value for entry in models.values() for value in entry["test"][metric]["per_fold"]]
    colors = model_colors(list(models))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, (key, axis_label) in zip(axes, costs):
        cost_of = {name: entry["latency_ms"]["batch1"] if key == "latency" else entry[key]
                   for name, entry in models.items()}
        for index, (name, entry) in enumerate(models.items()):
            score, marker, color = entry["test"][metric], markers[index % len(markers)], colors[name]
            ax.scatter([cost_of[name]] * len(score["per_fold"]), score["per_fold"], marker=marker, s=18,
                       facecolors="none", edgecolors=color, alpha=0.8, label=None)
            ax.scatter([cost_of[name]], [score["mean"]], marker=marker, s=70, color=color,
                       label=f"{name} (mean; hollow: folds)")
        log_axis(ax, "x", list(cost_of.values()))
        ax.set_xlabel(axis_label)
        ax.grid(alpha=0.3, which="both")
    if _spans_orders(scores):
        log_axis(axes[0], "y", scores)
    axes[0].set_ylabel(label)
    legend_right(axes[-1])
    return save_figure(fig, path)


def heat_map(values: list[list[float]], rows: list[float], columns: list[float], *, row_label: str,
             column_label: str, title: str, path: Path, digits: str = ".3g", label: str | None = None,
             best: tuple[int, int] | None = None, cell_size: tuple[float, float] = (1.1, 0.7),
             margin: tuple[float, float] = (3.0, 2.0)) -> Path:
    """A score over a grid (rows x columns), each cell annotated; `best` (row, column) boxed in red."""
    grid = np.array(values, dtype=float)  # (rows, columns); None -> NaN
    fig, ax = plt.subplots(figsize=(cell_size[0] * len(columns) + margin[0], cell_size[1] * len(rows) + margin[1]))
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    middle = np.nanmin(grid) + 0.6 * (np.nanmax(grid) - np.nanmin(grid))
    for (row, col), value in np.ndenumerate(grid):
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

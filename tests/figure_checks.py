"""The readability checks of a saved figure (tests/test_figures.py): each axis has a label (with its unit where the
quantity has one) and at least two tick labels, and no legend covers plotted data.

They run on the figure as it is saved (`recording_figures` wraps `Figure.savefig`), with matplotlib's own bounding
boxes: a legend's window extent against the display coordinates of every line vertex, marker, bar and image.
A helper module, not a test module: tests/conftest.py's shared tiny recipe runs record every figure's problems
while they draw them, so the figures are checked without running each recipe again.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

# labels of quantities without a unit (counts of things, positions, categories, dimensionless settings)
UNITLESS = {"epoch", "true class", "predicted class", "temperature T", "experiment", "horizon day",
            "horizon k (rows ahead)", "alpha (weight of the soft targets)", "lambda (weight of the teacher's soft labels)"}
# a label naming one of these quantities must name one of its units
UNITS = {"latency": ("ms",), "accuracy": ("fraction", "%"), "mae": ("per day",), "mse": ("scaled units",),
         "nll": ("nats",), "skill": ("fraction",), "parameters": ("count",), "flops": ("count",)}


def unit_problem(label: str) -> str | None:
    """Why an axis label lacks its unit (None when it is fine)."""
    if label in UNITLESS:
        return None
    for quantity, units in UNITS.items():
        if re.search(rf"\b{quantity}\b", label, re.IGNORECASE) and not any(unit in label for unit in units):
            return f"{label!r} names {quantity} without its unit ({' or '.join(units)})"
    if not re.search(r"\(.+\)", label, re.DOTALL) and not any(word in label for word in ("per day", "patients")):
        return f"{label!r} has no unit in parentheses (add it, or list the label in UNITLESS)"
    return None


def tick_labels(axis) -> int:
    """Visible, non-empty tick labels whose tick lies within the axis's view limits."""
    low, high = sorted(axis.get_view_interval())
    count = 0
    for minor in (False, True):
        for tick, location in zip(axis.get_ticklabels(minor=minor), axis.get_ticklocs(minor=minor)):
            inside = low - 1e-9 * abs(high) <= location <= high * (1 + 1e-9) + 1e-12
            if tick.get_visible() and tick.get_text().strip() and inside:
                count += 1
    return count


def axis_problems(fig: Figure) -> list[str]:
    problems = []
    for ax in fig.axes:
        if not ax.axison:
            continue
        colorbar = hasattr(ax, "_colorbar")
        for name in ("y",) if colorbar else ("x", "y"):
            siblings = getattr(ax, f"get_shared_{name}_axes")().get_siblings(ax)
            labels = [getattr(other, f"get_{name}label")() for other in siblings if other.axison]
            label = getattr(ax, f"get_{name}label")() or next((text for text in labels if text), "")
            title = ax.get_title() or "colorbar" if colorbar else ax.get_title()
            if not label:
                problems.append(f"axes {title!r}: no {name} label")
            elif (problem := unit_problem(label)) is not None:
                problems.append(f"axes {title!r}: {problem}")
            ticks = max(tick_labels(getattr(other, f"{name}axis")) for other in siblings if other.axison)
            if ticks < 2:
                problems.append(f"axes {title!r}: {ticks} labelled {name} tick(s), need >= 2")
    return problems


def _dense(points: np.ndarray, steps: int = 25) -> np.ndarray:
    """The points of a polyline and `steps` points on each of its segments (display coordinates)."""
    if len(points) < 2:
        return points
    share = np.linspace(0, 1, steps)[:, None, None]
    return (points[:-1] + share * (points[1:] - points[:-1])).reshape(-1, 2)


def data_points(ax) -> np.ndarray:
    """Display coordinates of everything plotted on the axes: line vertices (and points between them), markers,
    collection paths (error bars, bands)."""
    found = [np.zeros((0, 2))]
    for line in ax.get_lines():
        if line.get_visible() and len(line.get_xydata()):
            found.append(_dense(line.get_transform().transform(line.get_xydata())))
    for collection in ax.collections:
        if not isinstance(collection, Collection) or not collection.get_visible():
            continue
        offsets = collection.get_offsets()
        if len(offsets):
            found.append(collection.get_offset_transform().transform(offsets))
        for path in collection.get_paths():
            if len(path.vertices) and not len(offsets):
                found.append(_dense(collection.get_transform().transform(path.vertices)))
    points = np.concatenate(found)
    return points[np.isfinite(points).all(1)]


def legend_problems(fig: Figure) -> list[str]:
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    problems = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            points = data_points(ax)
            inside = ((points[:, 0] > box.x0) & (points[:, 0] < box.x1) & (points[:, 1] > box.y0)
                      & (points[:, 1] < box.y1))
            if inside.any():
                problems.append(f"legend of {ax.get_title()!r} covers {int(inside.sum())} plotted point(s)")
            for artist in [*ax.patches, *ax.images]:
                if artist.get_visible() and Bbox.intersection(box, artist.get_window_extent(renderer)) is not None \
                        and artist.get_window_extent(renderer).width > 0:
                    overlap = Bbox.intersection(box, artist.get_window_extent(renderer))
                    if overlap.width > 0.5 and overlap.height > 0.5:
                        problems.append(f"legend of {ax.get_title()!r} covers a {type(artist).__name__}")
                        break
    return problems


def figure_problems(fig: Figure) -> list[str]:
    """Every readability problem of a drawn figure."""
    return axis_problems(fig) + legend_problems(fig)


@contextmanager
def recording_figures() -> Iterator[dict[str, list[str]]]:
    """While active, every figure saved is drawn and checked first: {figure number and first title: problems}."""
    found: dict[str, list[str]] = {}
    save = Figure.savefig

    def checking_savefig(self, target, *args, **kwargs):
        self.canvas.draw()
        titles = [ax.get_title() for ax in self.axes if ax.get_title()]
        found[f"figure {len(found) + 1} ({titles[0] if titles else 'untitled'})"] = figure_problems(self)
        return save(self, target, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", checking_savefig)
        yield found

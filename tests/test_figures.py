"""Every figure of every recipe, rendered at tiny scale, is readable: each axis has a label (with its unit where
the quantity has one) and at least two tick labels, and no legend covers plotted data.

The checks run on the figure as it is saved (`Figure.savefig` is wrapped), with matplotlib's own bounding boxes:
a legend's window extent against the display coordinates of every line vertex, marker, bar and image.
"""
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_golden import RECIPES, tiny  # noqa: E402

import distill  # noqa: E402
from distill.io.plotting import legend_right, plt  # noqa: E402

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


@pytest.fixture
def checked_figures(monkeypatch):
    """Every figure saved while the fixture is active: {figure number and first title: problems}."""
    found: dict[str, list[str]] = {}
    save = Figure.savefig

    def checking_savefig(self, target, *args, **kwargs):
        self.canvas.draw()
        titles = [ax.get_title() for ax in self.axes if ax.get_title()]
        found[f"figure {len(found) + 1} ({titles[0] if titles else 'untitled'})"] = (axis_problems(self)
                                                                                    + legend_problems(self))
        return save(self, target, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", checking_savefig)
    return found


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_figure_of_the_recipe_is_readable(recipe, tmp_path, checked_figures):
    torch.set_num_threads(1)
    config = tmp_path / f"{recipe}.yaml"
    config.write_text(yaml.safe_dump(tiny(recipe, tmp_path), sort_keys=False))
    distill.run(str(config), out=tmp_path / "out", show_progress=False)
    written = sorted(path.name for path in (tmp_path / "out").glob("*.png"))
    assert written and len(checked_figures) == len(written), (written, list(checked_figures))
    problems = [f"{name}: {problem}" for name, found in checked_figures.items() for problem in found]
    assert not problems, "\n".join(problems)


def test_the_checks_see_a_legend_on_data_an_unlabelled_axis_and_a_single_tick():
    """The checks above can fail: a legend over the lines, a missing label, a unit-less label, one tick."""
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    ax.legend(loc="center")
    ax.set_xlabel("latency")
    ax.set_yticks([0.5])
    fig.canvas.draw()
    problems = axis_problems(fig) + legend_problems(fig)
    assert any("covers" in problem for problem in problems)
    assert any("no y label" in problem for problem in problems)
    assert any("latency without its unit" in problem for problem in problems)
    assert any("1 labelled y tick" in problem for problem in problems)
    ax.get_legend().remove()
    legend_right(ax)
    ax.set(xlabel="latency (ms)", ylabel="accuracy (fraction)", yticks=[0.25, 0.75])
    fig.canvas.draw()
    assert axis_problems(fig) + legend_problems(fig) == []
    plt.close(fig)


def test_every_model_of_a_figure_has_its_own_colour():
    """hinton-omit drew student_scratch_omit in student_kd's orange; known roles keep their colours."""
    from distill.io.plotting import COLORS, model_colors
    names = ["teacher", "ta101", "ta50", "ta34", "student_scratch", "student_kd", "student_kd_omit",
             "student_scratch_omit", *(f"student_nst_{kernel}{ta}" for kernel in ("linear", "poly", "gaussian")
                                       for ta in ("", "_ta"))]
    colors = model_colors(names)
    assert len(set(colors.values())) == len(names)
    assert all(colors[name] == plt.matplotlib.colors.to_hex(COLORS[name]) for name in names if name in COLORS)

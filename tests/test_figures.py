"""Every figure of every recipe, rendered at tiny scale, is readable: each axis has a label (with its unit where
the quantity has one) and at least two tick labels, and no legend covers plotted data (the checks:
tests/figure_checks.py, run on each figure as the shared tiny run of tests/conftest.py saves it).
"""
import sys
from pathlib import Path

import pytest
from figure_checks import axis_problems, legend_problems

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_golden import RECIPES  # noqa: E402

from distill.io.plotting import legend_right, plt  # noqa: E402


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_figure_of_the_recipe_is_readable(recipe, tiny_recipe_run):
    run = tiny_recipe_run(recipe)
    written = sorted(path.name for path in (run.work / "out").glob("*.png"))
    assert written and len(run.figures) == len(written), (written, list(run.figures))
    problems = [f"{name}: {problem}" for name, found in run.figures.items() for problem in found]
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

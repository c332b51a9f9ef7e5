"""Shared test settings, the test tiers and the tiny configs the tests share.

One torch thread (small models; avoids thread contention on busy machines).

Tiers (markers registered in pyproject.toml) are assigned here, at collection, so a test file needs no marks:
- `recipe`: the tests of the modules in RECIPE_MODULES, which run a whole recipe or protocol end to end;
- `unit`: every other test;
- `slow`: the tests listed in tests/slow-tests.txt: the costliest tests of a measured run of the whole suite,
  chosen so that the others cost at most a budget of CPU seconds (`tools/test_timings.py` measures and writes it).
`python -m pytest -q -m "not slow"` runs the quick tiers (docs/testing.md); CI runs everything.

Runs several test files need are made once per session here: `tiny_recipe_run` (every recipe at the goldens' tiny
scale, shared by the goldens, the results.json contract, the figure checks and the classification tests) and
`tiny_forecast_run` (covid-lstm at `tiny_forecast`, shared by the checkpoint and export tests). A test that changes
a shared run's folder copies it first.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from figure_checks import recording_figures

torch.set_num_threads(1)

TESTS = Path(__file__).parent
SLOW_LIST = TESTS / "slow-tests.txt"
RECIPE_MODULES = {
    "test_bad_inputs", "test_checkpoints", "test_classification", "test_cli", "test_distributed_recipe", "test_examples",
    "test_export_formats", "test_final_fit", "test_forecast_privileged", "test_forecast_protocol", "test_forecast_skill",
    "test_golden",
    "test_learning", "test_lupi_recipe", "test_own_models_data", "test_predict", "test_privileged",
    "test_readme_examples", "test_resume", "test_run_folder",
}


def slow_tests() -> set[str]:
    """The node ids in tests/slow-tests.txt (lines `seconds node-id`; # starts a comment)."""
    lines = SLOW_LIST.read_text().splitlines() if SLOW_LIST.is_file() else []
    return {line.split(" ", 1)[1] for line in lines if line.strip() and not line.startswith("#")}  # ids hold spaces


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = slow_tests()
    for item in items:
        module = item.path.stem
        item.add_marker(pytest.mark.recipe if module in RECIPE_MODULES else pytest.mark.unit)
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)


# The tiny configs the tests share: each recipe shrunk to a second or two of training, for tests that need a run,
# not a good model. Each fixture is a tuple of `--set` overrides: `[*tiny_forecast, "train.epochs=3"]` (a later
# override wins). Session-scoped, so module-scoped fixtures can use them.
@pytest.fixture(scope="session")
def tiny_forecast() -> tuple[str, ...]:
    """covid-lstm / covid-seed: 200 simulated days, 2 folds, 2 epochs, a 4-unit teacher."""
    return ("data.sim_days=200", "data.sim_locations=1", "train.epochs=2", "cv.folds=2",
            "teacher.options.hidden=4", "teacher.options.layers=1", "teacher.ensemble=1", "report.latency_repeats=3")


@pytest.fixture(scope="session")
def tiny_classification() -> tuple[str, ...]:
    """The classification recipes: 120 digits, 2 folds, 1 epoch."""
    return ("data.subset=120", "cv.folds=2", "train.epochs=1", "report.latency_repeats=3")


@pytest.fixture(scope="session")
def tiny_privileged() -> tuple[str, ...]:
    """mackey-glass-pi: 300 points, horizons 3 and 5, 40 and 80 training rows, 2 folds, 3 epochs."""
    return ("data.mackey_glass.length=300", "target.horizons=[3,5]", "target.train_sizes=[40,80]", "cv.folds=2",
            "train.epochs=3", "report.latency_repeats=3")


@pytest.fixture(scope="session")
def tiny_lupi() -> tuple[str, ...]:
    """lupi-synthetic: 3 repetitions of 30 epochs on 5 dimensions, 20 training and 40 test points."""
    return ("synthetic.repetitions=3", "synthetic.epochs=30", "synthetic.dim=5", "synthetic.train_size=20",
            "synthetic.test_size=40")


@dataclass
class TinyRun:
    """One recipe run at the goldens' tiny scale: its whole results.json, the folder it ran in (`work`/out holds
    the run; paths in the results name `work`), and every figure it saved with its readability problems."""

    results: dict
    work: Path
    figures: dict[str, list[str]]


@pytest.fixture(scope="session")
def _tiny_runs() -> dict[str, TinyRun]:
    """The session's cache of `tiny_recipe_run`'s runs, by recipe."""
    return {}


@pytest.fixture
def tiny_recipe_run(_tiny_runs: dict[str, TinyRun], tmp_path_factory: pytest.TempPathFactory,
                    request: pytest.FixtureRequest) -> Callable[[str], TinyRun]:
    """`tiny_recipe_run(name)`: the recipe run once per session at tests/golden/make_golden.py's tiny scale, with
    its figures checked as they are saved (tests/figure_checks.py); later calls return the same run.

    Function-scoped over a session cache, so that tools/test_timings.py, when measuring, learns which tests need
    which run and charges a run's cost to the run, not to the test that happened to make it first."""
    sys.path.insert(0, str(TESTS / "golden"))
    from make_golden import run_tiny  # imports distill: only for the sessions that need a recipe run
    timings = request.config.pluginmanager.get_plugin("test_timings")  # loaded with -p test_timings

    def run(name: str) -> TinyRun:
        key, node = f"tiny_recipe_run[{name}]", request.node.nodeid
        if name not in _tiny_runs:
            work, start = tmp_path_factory.mktemp(f"tiny-{name}"), _cpu_seconds()
            with recording_figures() as figures:
                results = run_tiny(name, work)
            _tiny_runs[name] = TinyRun(results, work, figures)
            if timings is not None:
                timings.record_shared(key, _cpu_seconds() - start, node)
        if timings is not None:
            timings.record_use(key, node)
        return _tiny_runs[name]
    return run


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@pytest.fixture(scope="session")
def tiny_forecast_run(tmp_path_factory: pytest.TempPathFactory, tiny_forecast: tuple[str, ...]) -> tuple:
    """covid-lstm at `tiny_forecast`, run and written once per session: (the ForecastRun, its run folder)."""
    from distill.io.run_writer import write_run
    from distill.protocols import load_config
    from distill.protocols.forecast.run import forecast_output, run_forecast

    out_dir = tmp_path_factory.mktemp("tiny-forecast")
    config = load_config("covid-lstm", list(tiny_forecast))
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, out_dir)
    return run, out_dir

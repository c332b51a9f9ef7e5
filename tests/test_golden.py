"""Behaviour unchanged: every recipe at tiny scale reproduces the numbers stored in tests/golden/.

The stored files come from `python tests/golden/make_golden.py`; regenerate them only for a change that is meant
to move the numbers, and say so in the commit. Floats match to 1e-3 relative: float32 noise across thread
counts and CPUs reaches 2e-4 relative on the SEMs (differences of near-equal numbers) between two x86
machines; a change of behaviour moves them by more.
"""
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_golden import GOLDEN, RECIPES, numbers  # noqa: E402


def differences(expected, actual, where: str = "") -> list[str]:
    """Every place where `actual` departs from `expected`, as 'path: expected != actual'."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{where}: keys {sorted(set(expected) ^ set(actual))}"] if set(expected) != set(actual) else []
        for key in set(expected) & set(actual):
            found += differences(expected[key], actual[key], f"{where}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(expected)} != {len(actual)}"]
        return [diff for i, (e, a) in enumerate(zip(expected, actual)) for diff in differences(e, a, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        same = (math.isnan(expected) and math.isnan(actual)) or math.isclose(expected, actual, rel_tol=1e-3,
                                                                               abs_tol=1e-9)
        return [] if same else [f"{where}: {expected!r} != {actual!r}"]
    return [] if expected == actual and type(expected) is type(actual) else [f"{where}: {expected!r} != {actual!r}"]


def test_differences_sees_a_changed_number_and_a_missing_key():
    assert differences({"a": [1.0, 2]}, {"a": [1.0 + 1e-9, 2]}) == []
    assert differences({"a": [1.0, 2]}, {"a": [1.1, 2]}) == [".a[0]: 1.0 != 1.1"]
    assert differences({"a": 1, "b": 2}, {"a": 1}) == [": keys ['b']"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_reproduces_its_golden_results(recipe, tiny_recipe_run):
    expected = json.loads((GOLDEN / f"{recipe}.json").read_text())
    run = tiny_recipe_run(recipe)  # the run make_golden.py's run_recipe makes, shared with other tests
    actual = json.loads(json.dumps(numbers(run.results, str(run.work))))
    found = differences(expected, actual)
    assert not found, f"{len(found)} differences, first: " + "; ".join(found[:5])

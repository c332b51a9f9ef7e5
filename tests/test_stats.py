"""The verdict rule: paired tests over folds, Holm's correction, and a verdict only below 0.05."""
import math

import pytest

from distill.core.stats import add_verdicts, holm, paired_comparison
from distill.io.tables import verdict_line


def test_holm_matches_the_step_down_procedure_by_hand():
    # sorted p: 0.01 (x3), 0.03 (x2 -> 0.06), 0.04 (x1 -> 0.04, but monotone: 0.06)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm([0.2, float("nan")])
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1])


def test_a_consistent_difference_is_named_and_a_noisy_one_is_not():
    comparisons = {
        "clear": paired_comparison([1, 2, 3, 4, 5], [2, 3, 4, 5, 6.5], "a", "b", "mae"),
        "noise": paired_comparison([1, 2, 3, 4, 5], [1.1, 1.9, 3.2, 4, 5], "a", "c", "mae"),
    }
    add_verdicts(comparisons)
    assert comparisons["clear"]["verdict"] == "better"
    assert comparisons["noise"]["verdict"] == "not distinguishable"
    assert comparisons["clear"]["p_adjusted"] >= comparisons["clear"]["p_value"]
    low, high = comparisons["clear"]["ci95"]
    assert low < comparisons["clear"]["mean"] < high < 0
    assert comparisons["clear"]["sign_test_p"] == pytest.approx(0.0625)  # 5 of 5 folds: 2 / 2**5
    assert "not distinguishable" in verdict_line(comparisons["noise"])


def test_higher_is_better_metrics_flip_the_verdict():
    comparisons = {"acc": paired_comparison([0.9, 0.91, 0.92, 0.93, 0.94], [0.8, 0.8, 0.81, 0.83, 0.82], "a", "b",
                                            "accuracy")}
    assert add_verdicts(comparisons, lower_is_better=False)["acc"]["verdict"] == "better"

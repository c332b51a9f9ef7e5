"""Report helpers: atomic writes, JSON without NaN, findings computed from the numbers."""
import json
import math

import pytest

from distill.core.stats import paired_comparison, summarize
from distill.io.run_writer import results_json, write_atomic
from distill.io.tables import findings


def test_write_atomic_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = write_atomic(tmp_path / "deep" / "results.json", "first")
    write_atomic(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_results_json_turns_nan_into_null():
    text = results_json({"sem": math.nan, "values": [1.0, math.nan]})
    assert json.loads(text) == {"sem": None, "values": [1.0, None]}


def test_summary_and_paired_comparison_match_hand_computation():
    summary = summarize([1.0, 2.0, 3.0])
    assert summary["mean"] == 2.0 and summary["sem"] == pytest.approx(1 / math.sqrt(3))
    comparison = paired_comparison([1.0, 2.0, 4.0], [2.0, 2.5, 4.1], "a", "b", "mse")
    assert comparison["mean"] == pytest.approx(-0.5333333) and comparison["wins"] == 3
    assert 0 < comparison["p_value"] < 0.3


def profile(params, flops, latency):
    return {"params": params, "flops": flops, "latency_ms": {"batch1": latency, "batch256": latency}}


def test_findings_say_who_wins_only_beyond_the_sem():
    clear = paired_comparison([1.0, 1.1, 0.9, 1.0], [2.0, 2.2, 1.9, 2.1], "student_kd", "student_scratch", "mse")
    noisy = paired_comparison([1.0, 3.0, 1.0], [2.0, 1.0, 2.5], "teacher", "persistence", "mse")
    models = {"teacher": profile(100, 1000, 2.0), "student_kd": profile(10, 100, 0.5)}
    lines = findings(models, {"x": clear, "y": noisy})
    assert lines[0].startswith("student_kd is better than student_scratch by 1.05 in mse")
    assert "4 of 4 folds favour student_kd" in lines[0]
    assert lines[1].startswith("teacher and persistence are not distinguishable")
    assert lines[2] == ("student_kd has 0.10x the teacher's parameters and 0.10x its FLOPs per prediction, "
                        "and answers 4.0x faster at batch 1.")
    higher = findings(models, {"x": clear}, lower_is_better=False)
    assert higher[0].startswith("student_kd is worse than student_scratch")
    assert "favour student_scratch" in higher[0]

"""Report helpers: atomic writes, JSON without NaN, findings computed from the numbers."""
import json
import math

import pytest

from distill.core.stats import add_verdicts, paired_comparison, summarize
from distill.io.run_writer import results_json, write_atomic
from distill.io.tables import NOISY_MARK, cost_sentence, findings, model_table


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
    return {"params": params, "flops": flops, "latency_ms": {"batch1": latency, "batch256": latency, "batch1_iqr": 0.0,
                                                             "batch1_noisy": False}}


def test_findings_name_a_winner_only_by_the_holm_corrected_verdict():
    clear = paired_comparison([1.0, 1.1, 0.9, 1.0], [2.0, 2.2, 1.9, 2.1], "student_kd", "student_scratch", "mse")
    # beyond two SEMs (-0.32 +- 0.12) but p = 0.06: the old rule called this "better"
    noisy = paired_comparison([1.0] * 5, [1.5, 1.6, 0.9, 1.4, 1.2], "teacher", "persistence", "mse")
    assert abs(noisy["mean"]) > noisy["sem"] and noisy["p_value"] > 0.05
    models = {"teacher": profile(100, 1000, 2.0), "student_kd": profile(10, 100, 0.5)}
    unjudged = findings(models, {"x": clear, "y": noisy})
    assert not any("better" in line or "worse" in line for line in unjudged[:2])
    assert "not corrected for multiple comparisons" in unjudged[0]
    add_verdicts({"x": clear, "y": noisy})
    lines = findings(models, {"x": clear, "y": noisy}, unit="patients/day")
    assert lines[0].startswith("student_kd is better than student_scratch (Holm p = ")
    assert "-1.05 +- 0.0289 patients/day (SEM; 95% CI" in lines[0] and "(4/4 folds lower)" in lines[0]
    assert lines[1].startswith("teacher and persistence are not distinguishable (Holm p = ")
    assert lines[2] == ("student_kd has 0.10x the teacher's parameters and 0.10x its FLOPs per prediction, "
                        "and answers 4.0x faster at batch 1.")
    higher = add_verdicts({"x": dict(clear)}, lower_is_better=False)
    assert findings(models, higher)[0].startswith("student_kd is worse than student_scratch")


def test_no_speed_ratio_from_a_noisy_latency():
    """A teacher's 464 ms at batch 1 on a busy machine (0.19 ms re-measured) must not become "15429x faster"."""
    teacher, student = profile(100, 1000, 464.0), profile(10, 100, 0.03)
    teacher["latency_ms"]["batch1_noisy"] = True
    sentence = cost_sentence({"teacher": teacher, "student_kd": student}, "student_kd")
    assert "faster" not in sentence and "x faster" not in sentence and "too noisy to compare" in sentence
    del teacher["latency_ms"]["batch1_noisy"]  # written before the spread was recorded: no ratio either
    assert "faster" not in cost_sentence({"teacher": teacher, "student_kd": student}, "student_kd")
    summary = {"mean": 1.0, "sem": 0.1}
    rows = model_table({name: {**entry, "test": {"mse": summary}, "train": {"mse": summary}}
                        for name, entry in (("teacher", teacher), ("student_kd", student))}, ["mse"])
    assert rows[1][3] == "464.000" + NOISY_MARK and rows[2][3] == "0.030"


def test_counts_print_with_one_decimal_and_no_negative_zero():
    """Misclassified images per fold are whole numbers: '6.0 +- 1.2', not '6.0000 +- 1.2247'; a mean that rounds
    to zero prints as 0.0000, never -0.0000."""
    from distill.io.tables import fixed, format_mean_sem
    errors = summarize([5.0, 7.0, 4.0, 8.0])
    entry = {"params": 10, "flops": 10, "latency_ms": {"batch1": 1.0, "batch256": 1.0},
             "test": {"accuracy": summarize([0.9, 0.8]), "errors": errors}, "train": {"accuracy": summarize([1.0, 1.0])}}
    row = model_table({"student": entry}, ["accuracy", "errors"])[1]
    assert row[5] == "0.8500 +- 0.0500" and row[6] == f"6.0 +- {errors['sem']:.1f}"
    assert format_mean_sem({"mean": -0.00001, "sem": 0.00002}) == "0.0000 +- 0.0000"
    assert fixed(-0.00004, 4, sign=True) == "+0.0000" and fixed(-0.0004, 3, sign=True) == "+0.000"
    assert fixed(-0.0006, 3) == "-0.001" and fixed(0.25, 2, sign=True) == "+0.25"


def test_the_last_line_suggests_only_commands_that_serve_the_run(tmp_path):
    """`distill predict` serves forecasting and classification runs; the others are pointed to `distill export`
    alone, with a model name that exists (and the suggested command works: test_cli)."""
    from distill.io.checkpoints import PREDICTED_PROTOCOLS, checkpoint_line
    from distill.protocols.serve import PREDICTORS
    assert set(PREDICTED_PROTOCOLS) == set(PREDICTORS)
    line = checkpoint_line(tmp_path, "privileged", ["h3-n40/teacher", "h3-n40/student_distilled"])
    assert "predict" not in line and line.endswith(f"(export one: distill export {tmp_path} h3-n40/teacher)")
    line = checkpoint_line(tmp_path, "classification", ["teacher", "student_scratch"])
    assert f"distill predict {tmp_path} --data IMAGE|FOLDER --model teacher, or distill export" in line


def test_the_oracle_of_the_seed_rule_knows_unreported_days_are_zero():
    """covid-seed (missing: zero) showed a blank oracle row and nan in every horizon column: the simulator reports no
    hospital data for its first 65 days, the seed's rule makes those target days 0, and the oracle was NaN there."""
    import numpy as np

    from distill.data.covid_sim import TARGET, simulate_covid_with_oracle
    from distill.data.panel import build_panel
    table, oracle = simulate_covid_with_oracle(days=120, seed=0)
    unreported = table[TARGET].isna().to_numpy()
    assert unreported[:65].all() and oracle.isna().to_numpy()[unreported].all()
    part = build_panel({"sim": table}, TARGET, missing="zero", oracles={"sim": oracle}).parts[0]
    assert len(part.oracle) == len(table) and not np.isnan(part.oracle).any()
    assert (part.oracle[unreported] == 0).all() and (part.clean.frame[TARGET].to_numpy()[unreported] == 0).all()
    reported = build_panel({"sim": table}, TARGET, missing="ffill", oracles={"sim": oracle}).parts[0]
    assert not np.isnan(reported.oracle).any()  # ffill trims the unreported leading days instead

"""The small forecasting student (compact_mlp), the report's cost section and its bottom line (issue 19)."""
import pytest
import torch

from distill.errors import DistillError
from distill.io.run_writer import write_run
from distill.io.tables import _fmt_count
from distill.models import build_model
from distill.protocols import load_config
from distill.protocols.forecast.bottom_line import bottom_line_markdown, cost_line, distillation_line, teacher_line
from distill.protocols.forecast.cost import cost_markdown, cost_table
from distill.protocols.forecast.output import forecast_output
from distill.protocols.forecast.run import run_forecast
from distill.protocols.forecast.student_view import with_target_index


def test_the_compact_view_is_the_recent_target_days_and_each_features_mean_and_last_day():
    model = build_model("compact_mlp", (5, 4), 3, target_index=2, recent_days=3, hidden=[6])
    x = torch.randn(2, 5, 4)
    expected = torch.cat([x[:, -3:, 2], x.mean(dim=1), x[:, -1]], dim=1)
    assert torch.equal(model.view(x), expected)
    assert model(x).shape == (2, 3)
    assert sum(p.numel() for p in model.parameters()) == (3 + 8) * 6 + 6 + 6 * 3 + 3


@pytest.mark.parametrize("options", [{}, {"recent": [0, 2, 2], "recent_days": 2, "summaries": ["last", "mean"]},
                                     {"summaries": [], "hidden": []}])
def test_inference_folds_the_view_into_the_first_layer_with_the_same_outputs(options):
    model = build_model("compact_mlp", (5, 4), 3, target_index=1, **options).eval()
    x = torch.randn(7, 5, 4)
    with torch.enable_grad():
        plain = model(x)
    with torch.no_grad():
        folded = model(x)
        assert torch.allclose(folded, plain, atol=1e-5)
        model.first.weight.add_(1.0)  # changed weights: the folded weight is rebuilt
        assert torch.allclose(model(x), model.rest(model.first(model.view(x))), atol=1e-5)


def test_the_recipes_students_are_a_quarter_of_its_teacher_on_covid_lstm_shapes():
    config = load_config("covid-lstm", [])
    shape = (config.data.input_days, 512)  # covid-lstm's window after cleaning (the simulator's columns)
    count = lambda model, options: sum(p.numel() for p in build_model(model, shape, 14, **options).parameters())
    teacher = config.teacher  # the teacher as the run builds it: its LSTM copies and the blended families
    blend = [{"model": m.model, "options": {**m.options, "target_index": 3}, "copies": m.copies} for m in teacher.blend]
    teacher_params = count("ensemble", {"member": teacher.model, "member_options": teacher.options,
                                        "size": teacher.ensemble, "blend": blend})
    for name in ("student_kd", "student_scratch"):
        assert count(config.students[name].model, {**config.students[name].options, "target_index": 3}) * 4 <= \
            teacher_params


def test_the_view_indices_come_back_from_the_options_so_a_checkpoint_reloads():
    options = {"target_index": 1, "recent": [1, 3], "summaries": ["last"], "hidden": [5]}
    model = build_model("compact_mlp", (6, 4), 2, **options)
    again = build_model("compact_mlp", (6, 4), 2, **options)
    again.load_state_dict(model.state_dict())
    x = torch.randn(3, 6, 4)
    assert torch.equal(model.eval()(x), again.eval()(x))


@pytest.mark.parametrize("options, message", [
    ({"recent": [7]}, "recent/target_index"), ({"target_index": -1}, "recent/target_index"),
    ({"recent_days": 9}, "recent_days"), ({"summaries": ["max"]}, "summaries"),
])
def test_bad_view_options_are_one_line_errors(options, message):
    with pytest.raises(DistillError, match=message):
        build_model("compact_mlp", (5, 4), 3, **options)


def test_the_run_fills_the_targets_column_into_compact_students_only(tiny_forecast):
    config = load_config("covid-lstm", [*tiny_forecast, "students.student_kd.options.target_index=0"])
    filled = with_target_index(config, 3)
    assert filled.students["student_kd"].options["target_index"] == 0  # given: kept
    assert filled.students["student_scratch"].options["target_index"] == 3
    assert "target_index" not in filled.teacher.options  # the rnn teacher has no such option


def _latency(b1: float, noisy: bool = False, speedup: float | None = None) -> dict:
    latency = {"batch1": b1, "batch1_noisy": noisy, "batch256": 10 * b1, "batch256_noisy": False}
    if speedup is not None:
        latency |= {"batch1_speedup": speedup, "batch1_speedup_noisy": noisy,
                    "batch256_speedup": speedup / 2, "batch256_speedup_noisy": False}
    return latency


def _skill(mean: float) -> dict:
    return {"mean": mean, "sem": 0.01, "per_fold": [mean] * 3}


def _results(comparison: dict) -> dict:
    models = {
        "teacher": {"params": 64000, "flops": 1_000_000, "bytes": 256000, "latency_ms": _latency(0.3),
                    "test": {"skill": _skill(0.40), "mae_original": _skill(10.0)}},
        "student_kd": {"params": 16000, "flops": 30000, "bytes": 64000, "latency_ms": _latency(0.1, speedup=3.0),
                       "test": {"skill": _skill(0.36), "mae_original": _skill(11.0)}},
        "student_scratch": {"params": 16000, "flops": 30000, "bytes": 64000,
                            "latency_ms": _latency(0.1, noisy=True, speedup=2.5),
                            "test": {"skill": _skill(0.30), "mae_original": _skill(12.0)}},
        "ridge": {"kind": "baseline", "test": {"skill": _skill(0.35), "mae_original": _skill(10.5)}},
    }
    return {"models": models, "comparison": comparison, "best_baseline": {"name": "ridge"},
            "data": {"unit": "patients/day"}}


def test_the_cost_table_gives_ratios_against_the_teacher_and_marks_noisy_latencies():
    rows = cost_table(_results({})["models"])
    assert [row[0] for row in rows[1:]] == ["teacher", "student_kd", "student_scratch"]  # baselines are not profiled
    teacher, kd, scratch = rows[1:]
    assert teacher[6:] == ["1", "1", "1x", "1x"]
    assert kd[1:4] == ["16.00k", "30.00k", "64.00kB"] and kd[6:] == ["0.250", "0.030", "3.00x", "1.50x"]
    assert scratch[4] == "0.100~" and scratch[8] == "2.50x~"
    assert any("answers 3.0x faster" in part for part in cost_markdown(_results({})))


def test_the_bottom_line_quotes_each_verdict_and_says_not_compared_for_a_missing_one():
    comparison = {"teacher_vs_best_baseline": {"verdict": "better", "p_adjusted": 0.012},
                  "student_kd_vs_teacher": {"verdict": "not distinguishable", "p_adjusted": 0.4}}
    results = _results(comparison)
    assert teacher_line(results).startswith("Does the teacher beat the best baseline? Verdict: the teacher is "
                                            "better than ridge (Holm p = 0.012); skill 0.400 +- 0.010 vs 0.350 +- 0.010")
    lines = bottom_line_markdown(results)
    assert lines[0] == "## Bottom line"
    assert "it keeps 90% of the teacher's skill. Verdict: student_kd and the teacher are not distinguishable (Holm p = 0.4)" \
        in lines[1]
    assert "0.25x the teacher's parameters (16,000 vs 64,000)" in cost_line(results)
    assert "3.00x as fast at batch 1." in cost_line(results)
    assert "student_kd and student_scratch were not compared" in distillation_line(results)


def test_no_share_of_a_teacher_skill_within_one_sem_of_zero():
    results = _results({})
    results["models"]["teacher"]["test"]["skill"] = {"mean": 0.02, "sem": 0.4, "per_fold": [0.02] * 3}
    assert "no share is quoted: the teacher's skill over persistence is within one SEM" in \
        bottom_line_markdown(results)[1]
    assert "were not compared" in teacher_line(results)


def test_a_tiny_run_with_compact_students_writes_the_bottom_line_and_cost_section(tiny_forecast, tmp_path):
    config = load_config("covid-lstm", [*tiny_forecast, "train.final_fit=false"])
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert report.index("## Bottom line") < report.index("## Results")
    assert "## What the models cost" in report and (tmp_path / "cost.png").exists()
    for name in ("teacher", "student_kd", "student_scratch"):
        assert f"| {name} | {_fmt_count(run.results['models'][name]['params'])} |" in report
    assert run.results["comparison"]["student_kd_vs_student_scratch"]["verdict"] in \
        distillation_line(run.results)


def test_a_fused_adam_step_between_two_evaluations_is_seen():
    model = build_model("compact_mlp", (5, 4), 3, target_index=1)
    x = torch.randn(6, 5, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)  # steps without bumping versions
    with torch.no_grad():
        before = model.eval()(x)
    model.train()
    model(x).square().mean().backward()
    optimizer.step()
    with torch.no_grad():
        after = model.eval()(x)
        assert not torch.allclose(before, after)
        assert torch.allclose(after, model.rest(model.first(model.view(x))), atol=1e-5)

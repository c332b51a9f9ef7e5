"""The forecasting protocol end to end on tiny data: contract, honesty, determinism, seed options."""
import numpy as np
import pytest
import torch

from distill.core.protocol import run_protocol
from distill.core.task import FoldData
from distill.models.baselines import Persistence
from distill.protocols import load_config
from distill.protocols.forecast.config import TeacherLabelled
from distill.protocols.forecast.run import run_forecast
from distill.tasks.regression import RegressionTask

TINY = ["data.sim_days=200", "train.epochs=2", "cv.folds=2", "train.batch_size=64",
        "teacher.options.hidden=4", "teacher.options.layers=1", "report.latency_repeats=3"]


@pytest.fixture(scope="module")
def tiny_run():
    return run_forecast(load_config("covid-lstm", TINY), show_progress=False)


def test_results_follow_the_contract(tiny_run):
    results = tiny_run.results
    assert results["recipe"] == "covid-lstm" and results["task"] == "regression" and results["folds"] == 2
    trained = {"teacher", "student_kd", "student_scratch"}
    baselines = {"persistence", "seven_day_mean", "linear_drift", "ridge", "auto_ets", "oracle"}
    assert set(results["models"]) == trained | baselines
    for name, entry in results["models"].items():
        if name in trained:
            assert {"params", "flops", "bytes", "latency_ms", "test", "train"} <= set(entry)
        for metric in ("mae_original", "rmse_original", "skill", "share_of_achievable", "mae_first_week"):
            summary = entry["test"][metric]
            assert len(summary["per_fold"]) == 2
            assert summary["mean"] == pytest.approx(np.mean(summary["per_fold"]))
        assert len(entry["test"]["mae_by_horizon"]["mean"]) == 14
        assert len(entry["diagnostics"]["output_spread"]["per_fold"]) == 2
    assert results["models"]["persistence"]["test"]["skill"]["mean"] == 0.0
    assert results["models"]["oracle"]["test"]["share_of_achievable"]["mean"] == pytest.approx(1.0)
    for entry in results["comparison"].values():
        assert {"mean", "sem", "ci95", "p_value", "p_adjusted", "verdict"} <= set(entry)
    assert results["comparison"]["student_kd_vs_student_scratch"]["metric"] == "mae_original"
    assert {"text", "cumulative", "constant_or_empty"} == set(results["dropped_columns"])
    assert results["data"]["feature_set"] == "leading" and 10 < results["data"]["features"] < 100  # of ~500 columns


def test_students_are_scored_on_the_truth_and_fidelity_separately(tiny_run):
    protocol = tiny_run.protocol
    fold = protocol.folds[0]
    kd = protocol.outcomes["student_kd"][0]
    truth_mse = float((kd.test_outputs - fold.y_test).pow(2).mean())
    assert kd.test["mse"] == pytest.approx(truth_mse, rel=1e-5)
    assert kd.fidelity["mse"] != pytest.approx(truth_mse, rel=1e-3)


def test_scores_are_in_patients_per_day_from_the_decoded_forecasts(tiny_run):
    table, models = tiny_run.table, tiny_run.results["models"]
    for k, (_, _, test) in enumerate(tiny_run.splits):
        truth = table.targets[test]
        assert truth.min() >= 0 and truth.max() > 50  # hospitalizations per day, not scaled units
        forecasts = tiny_run.forecasts[k]
        teacher_mae = np.abs(forecasts["teacher"] - truth).mean()
        assert models["teacher"]["test"]["mae_original"]["per_fold"][k] == pytest.approx(teacher_mae)
        persistence = np.abs(np.repeat(table.history[test][:, -1:], 14, axis=1) - truth).mean()
        assert models["teacher"]["test"]["skill"]["per_fold"][k] == pytest.approx(1 - teacher_mae / persistence)


def test_curves_are_scored_every_n_epochs_and_after_the_last(tiny_run):
    curves = tiny_run.results["curves"]
    assert set(curves) == {"teacher", "student_kd", "student_scratch"}
    assert all(run["epoch"] == [2] and len(run["train"]) == len(run["test"]) == 1  # recipe: every 4 epochs
               for runs in curves.values() for run in runs)
    config = load_config("covid-lstm", TINY + ["train.epochs=5", "train.curve_every=2"])
    every_two = run_forecast(config, show_progress=False).results["curves"]["teacher"][0]
    assert every_two["epoch"] == [2, 4, 5] and len(every_two["test"]) == 3


def test_same_config_and_seed_give_the_same_numbers(tiny_run):
    again = run_forecast(load_config("covid-lstm", TINY), show_progress=False)
    for name in ("teacher", "student_kd"):
        assert again.results["models"][name]["test"]["mse"] == tiny_run.results["models"][name]["test"]["mse"]


def test_seed_protocol_options_are_applied_and_labelled():
    config = load_config("covid-seed", TINY + ["train.batch_size=16"])
    results = run_forecast(config, show_progress=False).results
    assert len(set(results["teacher_for_students"])) == 1  # one best-fold teacher labels every fold
    assert "mse_sum" in results["models"]["teacher"]["test"]
    notes = " ".join(results["notes"])
    assert notes.count("LEAK") == 3


def test_per_fold_scaler_never_sees_test_days():
    config = load_config("covid-lstm", TINY + ["data.scaling=minmax", "data.target_mode=level", "data.sim_locations=1"])
    results = run_forecast(config, show_progress=False)
    assert not any("LEAK" in note for note in results.results["notes"])
    # test targets can leave [0, 1] because the scaler was fitted without them
    scaled = torch.cat([fold.y_test for fold in results.protocol.folds])
    train = torch.cat([fold.y_train for fold in results.protocol.folds])
    assert train.min() >= 0 and train.max() <= 1
    assert scaled.max() > 1 or scaled.min() < 0


def test_persistence_holds_the_last_observed_target():
    x = torch.rand(4, 10, 3)
    out = Persistence(target_index=2, horizon=5)(x)
    assert torch.equal(out, x[:, -1, 2:3].expand(-1, 5))
    assert torch.equal(Persistence(2, 5, "change")(x), torch.zeros(4, 5))


def test_change_targets_are_level_minus_last_input_day_and_windows_stay_views(tiny_run):
    minmax = TINY + ["data.scaling=minmax", "data.sim_locations=1"]
    level = run_forecast(load_config("covid-lstm", minmax + ["data.target_mode=level"]), show_progress=False)
    change = run_forecast(load_config("covid-lstm", minmax + ["data.target_mode=change"]), show_progress=False)
    target_index = change.scalings[0]["columns"].index("new_hospitalized_patients")
    for changed, leveled in zip(change.protocol.folds, level.protocol.folds):
        last = leveled.x_test[:][:, -1, target_index].unsqueeze(1)
        assert torch.allclose(changed.y_test, leveled.y_test - last, atol=1e-6)
        assert changed.x_train.windows.untyped_storage().nbytes() < 4 * 200 * 500  # one scaled table, no copies


def test_assistant_chain_learns_from_the_named_student():
    config = load_config("covid-lstm", TINY + ["students.student_scratch.teacher=student_kd",
                                               "students.student_scratch.alpha=1.0"])
    run = run_forecast(config, show_progress=False)
    kd = run.protocol.outcomes["student_kd"][0].test_outputs
    chained = run.protocol.outcomes["student_scratch"][0]
    assert chained.fidelity["mse"] == pytest.approx(float((chained.test_outputs - kd).pow(2).mean()), rel=1e-5)


def test_privileged_teacher_inputs_are_used_by_the_teacher_only():
    g = torch.Generator().manual_seed(0)
    x, xp = torch.rand(40, 3, 2, generator=g), torch.rand(40, 5, generator=g)
    y = xp[:, :2].clone()
    fold = FoldData(0, x[:30], y[:30], x[30:], y[30:], torch.arange(30, 40),
                    teacher_x_train=xp[:30], teacher_x_test=xp[30:])
    config = load_config("covid-lstm", TINY)
    teacher = config.teacher.model_copy(update={"model": "mlp", "options": {"hidden": [8]}, "ensemble": 1,
                                                  "blend": []})
    students = {"student_kd": config.students["student_kd"].model_copy(  # no teacher labels: they need its inputs
        update={"model": "mlp", "options": {"hidden": [64, 64], "output": "none"},
                "teacher_labelled": TeacherLabelled()})}
    result = run_protocol([fold], RegressionTask(), teacher, students, config.train, 0, {}, latency_repeats=3,
                          show_progress=False)
    assert result.profiles["teacher"]["params"] == 5 * 8 + 8 + 8 * 2 + 2
    assert result.profiles["student_kd"]["params"] == 6 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2

"""data.privileged (issue 19, generalized distillation): the teacher alone reads named columns on the horizon days."""
import json

import numpy as np
import pytest
import torch

import distill
from distill.cli import main
from distill.core.early_stopping import BestEpoch
from distill.core.task import FoldData
from distill.data.covid_sim import simulate_covid
from distill.errors import DistillError
from distill.io.results_schema import validate_results
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.forecast.run import forecast_output, load_panel, run_forecast
from distill.tasks.regression import RegressionTask

TINY = ["data.sim_days=200", "data.sim_locations=2", "train.epochs=2", "cv.folds=2", "teacher.options.hidden=4",
        "teacher.ensemble=1", "report.latency_repeats=3", "report.auto_ets=false"]
HORIZON, INPUT_DAYS, LEVEL_DAYS = 14, 10, 7


@pytest.fixture(scope="module")
def privileged_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("privileged") / "run"
    config = load_config("covid-lstm-privileged", TINY)
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, out_dir)
    return run, config, out_dir


def _slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def test_the_teachers_inputs_carry_the_horizon_cases_of_each_window(privileged_run):
    run, config, _ = privileged_run
    columns = run.scalings[0]["columns"]
    c, features = columns.index("new_confirmed"), len(columns)
    panel, _ = load_panel(config)
    fit = run.splits[0][0]
    fold = run.protocol.folds[0]
    for j in (0, len(fit) // 2, len(fit) - 1):
        window = fit[j]
        frame = panel.parts[run.table.series[window]].clean.frame
        start = run.table.rows[window]
        cases = frame["new_confirmed"].to_numpy()
        horizon_cases = cases[start + INPUT_DAYS:start + INPUT_DAYS + HORIZON]  # by hand, from the cleaned table
        level = _slog(cases[start + INPUT_DAYS - LEVEL_DAYS:start + INPUT_DAYS]).mean()
        mean, std = run.scalings[0]["input_mean"][c], run.scalings[0]["input_std"][c]
        expected = np.clip((_slog(horizon_cases) - level - mean) / std, -5, 5)
        teacher = fold.teacher_x_train[j]  # (input_days, features + horizon)
        assert teacher.shape == (INPUT_DAYS, features + HORIZON)
        for day in range(INPUT_DAYS):  # the same horizon block on every input day
            assert np.allclose(teacher[day, features:].numpy(), expected, atol=1e-4)
        assert torch.equal(teacher[:, :features], fold.x_train[j])  # the students' inputs, unchanged


def test_students_never_see_the_horizon_and_the_teacher_has_its_own_validation_inputs(privileged_run):
    run, _, _ = privileged_run
    features = len(run.scalings[0]["columns"])
    for fold in run.protocol.folds:
        assert fold.x_train.shape[-1] == fold.x_val.shape[-1] == fold.x_test.shape[-1] == features
        assert fold.teacher_x_val.shape == (*fold.x_val.shape[:2], features + HORIZON)
        assert torch.equal(fold.teacher_x_val[:][..., :features], fold.x_val[:])
        assert len(fold.teacher_x_test) == len(fold.x_test)
    shapes = run.protocol.input_shapes()
    assert shapes["teacher"] == (INPUT_DAYS, features + HORIZON)
    assert shapes["student_kd"] == shapes["student_scratch"] == (INPUT_DAYS, features)
    assert run.final.models["teacher"].project[1].in_features == features + HORIZON  # the final teacher too


def test_the_run_writes_privileged_results_and_labels_the_teacher(privileged_run):
    run, _, out_dir = privileged_run
    results = json.loads((out_dir / "results.json").read_text())
    validate_results(results, "forecast")
    assert results["data"]["privileged"] == ["new_confirmed"]
    assert {"teacher", "student_kd", "student_scratch"} <= set(results["models"])
    assert "student_kd_vs_student_scratch" in results["comparison"]
    report = (out_dir / "report.md").read_text()
    assert "| teacher (privileged*) |" in report
    assert "sees new_confirmed on the horizon days: not a deployable forecaster" in report
    bottom = report.split("## Bottom line")[1].split("\n## ")[0]
    assert bottom.strip().splitlines()[0].startswith("- Does distillation pay?")


def test_the_default_run_has_no_privileged_key():
    assert load_config("covid-lstm").data.privileged == []


@pytest.fixture(scope="module")
def new_table(tmp_path_factory):
    table = simulate_covid(days=260, seed=3).iloc[200:].reset_index(drop=True)
    path = tmp_path_factory.mktemp("data") / "new.csv"
    table.to_csv(path, index=False)
    return table, path


def test_predict_and_export_refuse_the_teacher_and_serve_students(privileged_run, new_table, capsys):
    _, _, out_dir = privileged_run
    for argv in (["predict", str(out_dir), "--data", str(new_table[1]), "--model", "teacher"],
                 ["export", str(out_dir), "teacher"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("distill: error: ") and err.count("\n") == 1 and "data.privileged" in err, err
    with pytest.raises(DistillError, match="unknown at forecast time"):
        distill.load(out_dir, "teacher")
    forecast = distill.load(out_dir, "student_kd").predict(new_table[0])
    assert len(forecast) == HORIZON and (forecast["new_hospitalized_patients"] >= 0).all()


@pytest.mark.parametrize("assignment, message", [
    ("students.student_kd.teacher_labelled.recent=true", "teacher_labelled.recent: those windows' horizon"),
    ("students.student_kd.teacher_labelled.jitter=2", "jitter/mixup windows have no horizon values"),
    ("students.student_kd.teacher_labelled.mixup=2", "jitter/mixup windows have no horizon values"),
    ("data.quantiles=hub", "data.quantiles hub is not supported"),
    ("data.privileged=[new_hospitalized_patients]", "names the target"),
    ("data.privileged=[no_such_column]", "'no_such_column', which is not an input column"),
    ("data.scaling=minmax", "use data.scaling: window_log"),
])
def test_what_cannot_work_is_refused_in_one_line_and_writes_nothing(tmp_path, capsys, assignment, message):
    out = tmp_path / "run"
    argv = ["run", "covid-lstm-privileged", "--out", str(out), "--no-progress",
            *[a for o in [*TINY, "data.sim_locations=1", assignment] for a in ("--set", o)]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_a_privileged_teacher_shrinks_towards_a_privileged_ridge():
    config = load_config("covid-lstm-privileged", [*TINY, "data.sim_locations=1", "teacher.shrink=ridge",
                                                   "train.final_fit=false"])
    run = run_forecast(config, show_progress=False)
    assert len(run.results["teacher_shrinkage"]) == 2
    features = len(run.scalings[0]["columns"])
    shrunk = run.protocol.models[0]["teacher"]
    assert shrunk.anchor.in_features == INPUT_DAYS * (features + HORIZON)


def _fold_with_validation(teacher_x_val):
    g = torch.Generator().manual_seed(0)
    x, xp, y = torch.rand(20, 3, 2, generator=g), torch.rand(20, 3, 5, generator=g), torch.rand(20, 2, generator=g)
    return FoldData(0, x[:10], y[:10], x[15:], y[15:], torch.arange(15, 20), teacher_x_train=xp[:10],
                    teacher_x_test=xp[15:], x_val=x[10:15], y_val=y[10:15], teacher_x_val=teacher_x_val)


def test_the_teacher_is_scored_on_its_own_validation_inputs():
    privileged = torch.rand(5, 3, 5)
    fold = _fold_with_validation(privileged)
    assert fold.val_inputs("teacher") is privileged and fold.val_inputs("student_kd") is fold.x_val
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(15, 2))
    assert BestEpoch(model, fold, RegressionTask(), None, "teacher").x_val is privileged
    with pytest.raises(DistillError, match="teacher_x_val"):
        _fold_with_validation(None).val_inputs("teacher")

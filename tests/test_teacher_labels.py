"""Teacher-labelled windows for forecasting students: the windows before each origin, jitter and mixup (issue 19)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from distill.core.task import FoldData
from distill.core.teacher_labels import extra_inputs, with_teacher_labels
from distill.data.windows import OriginBlock
from distill.errors import DistillError
from distill.protocols import load_config
from distill.protocols.forecast.run import run_forecast
from distill.protocols.forecast.windows import recent_windows


def _sources(recent=False, jitter=0, mixup=0, noise=0.1):
    return SimpleNamespace(recent=recent, jitter=jitter, mixup=mixup, noise=noise,
                           used=recent or jitter > 0 or mixup > 0)


def _fold(transfer: bool = True) -> FoldData:
    x = torch.randn(6, 4, 3)
    return FoldData(index=0, x_train=x, y_train=torch.randn(6, 2), x_test=x[:2], y_test=torch.randn(2, 2),
                    test_rows=torch.arange(2), x_transfer=torch.randn(3, 4, 3) if transfer else None)


def test_the_extra_rows_are_the_recent_windows_then_jittered_then_mixed_copies():
    fold = _fold()
    extra = extra_inputs(fold, _sources(recent=True, jitter=2, mixup=1, noise=0.5), seed=0)
    assert extra.shape == (3 + 2 * 6 + 6, 4, 3)
    assert torch.equal(extra[:3], fold.x_transfer)
    jittered = extra[3:9] - fold.x_train
    assert 0.3 < float(jittered.std()) < 0.7  # noise of sd 0.5 on every labelled row
    mixed = extra[-6:]
    low, high = fold.x_train.min(dim=0).values, fold.x_train.max(dim=0).values
    assert bool(((mixed >= low - 1e-6) & (mixed <= high + 1e-6)).all())  # convex mixes stay within the rows' range
    assert torch.equal(extra, extra_inputs(fold, _sources(recent=True, jitter=2, mixup=1, noise=0.5), seed=0))


def test_the_extra_rows_targets_are_the_teachers_forecasts_and_the_labelled_rows_keep_the_truth():
    fold = _fold()
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    labelled = with_teacher_labels(fold, teacher, _sources(recent=True, jitter=1), seed=1)
    assert len(labelled.x_train) == 6 + 3 + 6
    assert torch.equal(labelled.y_train[:6], fold.y_train)
    with torch.no_grad():
        assert torch.allclose(labelled.y_train[6:], teacher(labelled.x_train[6:]))
    assert labelled.x_test is fold.x_test and labelled.y_test is fold.y_test


def test_recent_windows_without_windows_before_the_origin_are_a_one_line_error():
    with pytest.raises(DistillError, match="cv.split: rolling"):
        extra_inputs(_fold(transfer=False), _sources(recent=True), seed=0)


def test_the_recent_windows_forecast_from_the_horizon_before_the_origin_and_are_in_no_fit():
    starts = np.arange(40)
    table = SimpleNamespace(starts=starts)
    block = OriginBlock(origins=np.array([30]), train=np.flatnonzero(starts + 5 + 4 <= 30),
                        test=np.flatnonzero(starts + 5 == 30), test_origins=np.array([30]))
    (recent,) = recent_windows(table, [block], input_days=5, horizon=4)
    assert list(starts[recent] + 5) == [27, 28, 29]  # forecasts starting 1-3 periods before the origin
    assert not set(recent) & set(block.train) and not set(recent) & set(block.test)
    assert recent_windows(table, None, 5, 4) is None


@pytest.mark.parametrize("overrides, message", [
    (["students.student_scratch.teacher_labelled.jitter=2"], "alpha 0"),
    (["cv.split=blocked", "students.student_kd.teacher_labelled.recent=true"], "cv.split: rolling"),
])
def test_teacher_labels_that_cannot_work_are_one_line_errors(tiny_forecast, overrides, message):
    with pytest.raises(DistillError, match=message):
        run_forecast(load_config("covid-lstm", [*tiny_forecast, *overrides]), show_progress=False)


def test_a_run_trains_the_distilled_student_on_more_rows_than_the_scratch_student(tiny_forecast):
    run = run_forecast(load_config("covid-lstm", [*tiny_forecast, "train.final_fit=false", "report.auto_ets=false",
                                                  "students.student_kd.teacher_labelled.recent=true",
                                                  "students.student_kd.teacher_labelled.jitter=1",
                                                  "students.student_kd.teacher_labelled.mixup=0"]),
                       show_progress=False)
    outcomes = run.protocol.outcomes
    for kd, scratch, fold in zip(outcomes["student_kd"], outcomes["student_scratch"], run.protocol.folds):
        recent = 0 if fold.x_transfer is None else len(fold.x_transfer)
        assert recent > 0
        assert len(kd.train_outputs) == 2 * len(fold.x_train) + recent
        assert len(scratch.train_outputs) == len(fold.x_train)


def test_quantile_students_leave_the_teacher_labels_out_and_the_run_says_so(tiny_forecast):
    run = run_forecast(load_config("covid-lstm", [*tiny_forecast, "train.final_fit=false", "report.auto_ets=false",
                                                  "data.quantiles=hub", "teacher.blend=[]",
                                                  "students.student_kd.teacher_labelled.jitter=1"]),
                       show_progress=False)
    assert any("student_kd: its teacher_labelled windows are not used" in note for note in run.results["notes"])
    assert len(run.protocol.outcomes["student_kd"][0].train_outputs) == len(run.protocol.folds[0].x_train)

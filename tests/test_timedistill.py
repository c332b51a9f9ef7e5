"""TimeDistill's multi-scale and spectral terms on forecasts (Ni et al. 2025; issue 19, item 3): the formulas on
hand-computed cases, per-fold reduction, the config's refusals and a covid-lstm run with the terms in its curves."""
import math

import pytest
import torch

from distill.errors import DistillError
from distill.losses import TimeDistillLoss, multiscale_mse, spectral_kl, timedistill_terms
from distill.losses.timedistill import pool_horizon
from distill.methods import Guide
from distill.protocols import load_config
from distill.protocols.forecast.config import ForecastStudentSpec
from distill.protocols.forecast.run import run_forecast
from distill.tasks.regression import RegressionTask


def test_identical_forecasts_cost_nothing():
    forecasts = torch.randn(5, 14)
    assert float(multiscale_mse(forecasts, forecasts.clone(), [1, 2, 4, 8])) == 0.0
    assert abs(float(spectral_kl(forecasts, forecasts.clone()))) < 1e-6


def test_the_multiscale_term_is_the_mean_over_scales_of_the_pooled_mse():
    student, teacher = torch.tensor([[1.0, 3.0]]), torch.zeros(1, 2)
    # scale 1: (1 + 9) / 2 = 5; scale 2: the block mean 2 against 0, 4; their mean 4.5
    assert float(multiscale_mse(student, teacher, [1, 2])) == pytest.approx(4.5)
    assert float(multiscale_mse(student, teacher, [2])) == pytest.approx(4.0)


def test_a_horizon_the_scale_does_not_divide_keeps_its_last_days_as_a_shorter_block():
    assert pool_horizon(torch.tensor([[1.0, 2.0, 6.0]]), 2).tolist() == [[1.5, 6.0]]
    # blocks [1, 2] -> 1.5 and [6] -> 6 against 0: (2.25 + 36) / 2
    assert float(multiscale_mse(torch.tensor([[1.0, 2.0, 6.0]]), torch.zeros(1, 3), [2])) == pytest.approx(19.125)
    assert pool_horizon(torch.arange(14.0).reshape(1, 14), 4).shape == (1, 4)


def test_the_spectral_term_is_the_kl_between_softmaxed_amplitude_spectra():
    student = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # |rFFT| at k = 1, 2: 1, 1 -> uniform
    teacher = torch.tensor([[1.0, 1.0, -1.0, -1.0]])  # |rFFT| at k = 1, 2: |2 - 2i| = 2 sqrt 2, 0
    p = 1 / (1 + math.exp(-2 * math.sqrt(2)))  # softmax([2 sqrt 2, 0]) at tau 1
    expected = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert float(spectral_kl(student, teacher, temperature=1.0)) == pytest.approx(expected, rel=1e-5)
    # the level (k = 0) is left out: adding a constant changes no spectrum term
    assert float(spectral_kl(student + 7.0, teacher - 3.0, temperature=1.0)) == pytest.approx(expected, rel=1e-5)
    assert float(spectral_kl(teacher, student, temperature=1.0)) != pytest.approx(expected, rel=1e-3)  # not symmetric


def test_the_gradient_reaches_the_student_and_not_the_teacher():
    student = torch.randn(3, 8, requires_grad=True)
    teacher = torch.randn(3, 8, requires_grad=True)
    terms = timedistill_terms(student, teacher, scales=[1, 2, 4], multiscale_weight=1.0, spectral_weight=0.5)
    assert list(terms) == ["loss_multiscale", "loss_spectral"]
    sum(terms.values()).backward()
    assert student.grad is not None and float(student.grad.abs().sum()) > 0
    assert teacher.grad is None


def test_a_term_of_weight_zero_is_left_out_and_weights_scale_the_terms():
    student, teacher = torch.randn(4, 6), torch.randn(4, 6)
    only = timedistill_terms(student, teacher, scales=[1, 3], multiscale_weight=2.0, spectral_weight=0.0)
    assert list(only) == ["loss_multiscale"]
    assert float(only["loss_multiscale"]) == pytest.approx(2 * float(multiscale_mse(student, teacher, [1, 3])))
    assert float(TimeDistillLoss([1, 3], 2.0, 0.0)(student, teacher)) == pytest.approx(float(only["loss_multiscale"]))


def test_on_stacked_folds_k_times_the_term_is_the_sum_of_each_folds_own():
    student, teacher = torch.randn(3, 5, 14), torch.randn(3, 5, 14)  # (folds, batch, horizon)
    stacked = timedistill_terms(student, teacher, scales=[1, 2, 4, 8], multiscale_weight=1.0, spectral_weight=1.0)
    folds = [timedistill_terms(student[k], teacher[k], scales=[1, 2, 4, 8], multiscale_weight=1.0,
                               spectral_weight=1.0) for k in range(3)]
    for name, value in stacked.items():
        assert 3 * float(value) == pytest.approx(sum(float(fold[name]) for fold in folds), rel=1e-5)


def test_the_stacked_student_loss_is_the_sum_of_each_folds_own_loss_with_the_terms():
    spec = ForecastStudentSpec.model_validate({"model": "compact_mlp", "alpha": 0.5, "timedistill": {
        "multiscale_weight": 1.0, "spectral_weight": 0.5, "scales": [1, 2, 4]}})
    outputs, targets, teacher = torch.randn(3, 4, 7), torch.randn(3, 4, 7), torch.randn(3, 4, 7)  # (folds, batch, H)
    task = RegressionTask()
    stacked = task.stacked_student_loss(outputs, targets, Guide(teacher), spec)
    terms = task.stacked_student_terms(outputs, targets, Guide(teacher), spec)
    assert [list(fold) for fold in terms] == [["loss_hard", "loss_kd", "loss_multiscale", "loss_spectral"]] * 3
    assert float(stacked) == pytest.approx(sum(float(sum(fold.values())) for fold in terms), rel=1e-5)


def test_forecasts_the_terms_cannot_read_are_one_line_errors():
    with pytest.raises(DistillError, match="longer than the 4-day horizon"):
        multiscale_mse(torch.zeros(2, 4), torch.zeros(2, 4), [8])
    with pytest.raises(DistillError, match="at least 4 days"):
        spectral_kl(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(DistillError, match="one shape"):
        spectral_kl(torch.zeros(2, 6), torch.zeros(2, 5))


@pytest.mark.parametrize("overrides, message", [
    (["students.student_scratch.timedistill.spectral_weight=1"], "alpha 0"),
    (["data.quantiles=hub", "students.student_kd.timedistill.multiscale_weight=1"], "data.quantiles none"),
    (["data.horizon=3", "students.student_kd.timedistill.multiscale_weight=1"], "longer than the 3-day horizon"),
    (["data.horizon=3", "students.student_kd.timedistill.spectral_weight=1"], "data.horizon >= 4"),
    (["students.student_kd.timedistill.scales=[2, 0]"], "whole numbers"),
])
def test_timedistill_settings_that_make_no_sense_are_refused_in_one_line(tiny_forecast, overrides, message):
    with pytest.raises(DistillError, match=message):
        load_config("covid-lstm", [*tiny_forecast, *overrides])


def test_the_default_config_leaves_the_terms_off():
    config = load_config("covid-lstm", [])
    assert not any(spec.timedistill.used for spec in config.students.values())


def test_a_covid_lstm_run_with_the_terms_trains_and_logs_them_per_fold(tiny_forecast):
    run = run_forecast(load_config("covid-lstm", [
        *tiny_forecast, "train.final_fit=false", "report.auto_ets=false",
        "students.student_kd.timedistill.multiscale_weight=1", "students.student_kd.timedistill.spectral_weight=0.5",
        "students.student_kd.teacher_labelled.jitter=1"]), show_progress=False)
    curves = run.results["curves"]
    for fold in curves["student_kd"]:
        assert {"loss_kd", "loss_multiscale", "loss_spectral"} <= set(fold)
        assert all(math.isfinite(value) and value >= 0 for value in fold["loss_spectral"])
    assert all("loss_multiscale" not in fold for fold in curves["student_scratch"])
    (note,) = [note for note in run.results["notes"] if "TimeDistill" in note]
    assert note.startswith("student_kd:") and "loss_spectral (weight 0.5)" in note and "1, 2, 4, 8 days" in note

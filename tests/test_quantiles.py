"""Quantile forecasts: pinball and quantile-distillation losses, the non-crossing head (and its ONNX export),
the Hub's baseline, conformal residual quantiles, the Hub CSV format and bad levels."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from distill.errors import DistillError
from distill.losses.pinball import (
    HUB_LEVELS,
    QuantileDistillationLoss,
    check_levels,
    pinball_loss,
    quantile_distillation_loss,
)
from distill.models import MODELS, build_model
from distill.models.quantile import QuantileForecaster, QuantileHead
from distill.protocols.forecast.quantiles import ConformalQuantiles, hub_baseline_quantiles, hub_frame, write_hub_csv

TAU = torch.tensor(HUB_LEVELS, dtype=torch.float64)


def _pinball_by_hand(q: torch.Tensor, y: torch.Tensor) -> float:
    total = 0.0
    for index in np.ndindex(*q.shape):
        u, tau = float(y[index[:-1]] - q[index]), HUB_LEVELS[index[-1]]
        total += tau * u if u >= 0 else (tau - 1) * u
    return total / q.numel()


def test_pinball_loss_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    q, y = torch.randn(3, 4, 23, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g, dtype=torch.float64)
    assert pinball_loss(q, y, TAU).item() == pytest.approx(_pinball_by_hand(q, y), abs=1e-12)


@pytest.mark.parametrize("lam", [0.0, 0.4, 1.0])
def test_quantile_distillation_mixes_truth_and_teacher(lam):
    g = torch.Generator().manual_seed(1)
    student, teacher = (torch.randn(2, 3, 23, generator=g, dtype=torch.float64) for _ in range(2))
    truth = torch.randn(2, 3, generator=g, dtype=torch.float64)
    teacher_term = 0.0
    for index in np.ndindex(*student.shape):
        u, tau = float(teacher[index] - student[index]), HUB_LEVELS[index[-1]]
        teacher_term += tau * u if u >= 0 else (tau - 1) * u
    expected = (1 - lam) * _pinball_by_hand(student, truth) + lam * teacher_term / student.numel()
    assert quantile_distillation_loss(student, teacher, truth, lam=lam, levels=TAU).item() == pytest.approx(expected)
    assert QuantileDistillationLoss(lam)(student, teacher, truth).item() == pytest.approx(expected, rel=1e-6)
    assert quantile_distillation_loss(teacher, teacher, truth, lam=1.0, levels=TAU).item() == 0.0


def test_quantile_distillation_checks_its_inputs():
    with pytest.raises(DistillError, match="lambda must be in"):
        quantile_distillation_loss(torch.zeros(1, 2, 23), torch.zeros(1, 2, 23), torch.zeros(1, 2), lam=2.0, levels=TAU)
    with pytest.raises(DistillError, match="do not match"):
        quantile_distillation_loss(torch.zeros(1, 2, 23), torch.zeros(1, 3, 23), torch.zeros(1, 2), lam=0.5, levels=TAU)
    with pytest.raises(DistillError, match="levels"):
        pinball_loss(torch.zeros(1, 2, 5), torch.zeros(1, 2), TAU)


@pytest.mark.parametrize("seed", range(5))
def test_head_never_crosses_on_random_weights(seed):
    torch.manual_seed(seed)
    model = build_model("quantile", (14, 2), 7, base="mlp", base_options={"hidden": [16]})
    for parameter in model.parameters():  # far from any sensible initialisation
        torch.nn.init.normal_(parameter, std=3.0)
    q = model(torch.randn(64, 14, 2) * 5)  # (batch, horizon, levels)
    assert q.shape == (64, 7, 23)
    assert bool((q.diff(dim=-1) >= 0).all())


def test_head_starts_as_a_standard_normal_around_its_median():
    head = QuantileHead(horizon=2, levels=HUB_LEVELS)
    q = head(torch.zeros(1, 2 * 23))
    np.testing.assert_allclose(q[0, 0].detach().numpy(), norm.ppf(HUB_LEVELS), atol=1e-5)
    assert HUB_LEVELS[head.median_index] == 0.5


def test_quantile_model_learns_a_known_distribution():
    """Trained with the pinball loss on y ~ N(2, 0.5^2) (inputs carry no signal), the head finds its quantiles."""
    torch.manual_seed(0)
    model = build_model("quantile", (3, 1), 1, base="mlp", base_options={"hidden": [8]})
    x, y = torch.randn(2000, 3, 1), 2.0 + 0.5 * torch.randn(2000, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.03)
    levels = torch.tensor(HUB_LEVELS)
    for _ in range(200):
        optimiser.zero_grad()
        pinball_loss(model(x), y, levels).backward()
        optimiser.step()
    learned = model(torch.randn(200, 3, 1)).mean(dim=0)[0].detach().numpy()
    # SE of the 1% quantile of 2,000 draws ~ 0.04; an untrained head is N(median, 1), 1.2 off at the tails
    np.testing.assert_allclose(learned, 2.0 + 0.5 * norm.ppf(HUB_LEVELS), atol=0.12)


def test_quantile_family_is_registered_and_refuses_nesting():
    assert MODELS["quantile"] is QuantileForecaster
    model = build_model("quantile", (10, 3), 4, base="lstm", base_options={"hidden": 4, "layers": 1},
                        quantiles=[0.1, 0.5, 0.9])
    assert model(torch.randn(2, 10, 3)).shape == (2, 4, 3) and model.median_index == 1
    with pytest.raises(DistillError, match="base cannot be"):
        build_model("quantile", (10, 3), 4, base="quantile")


def test_quantile_head_exports_to_onnx():
    pytest.importorskip("onnxruntime")
    from distill.io.export_formats import onnx_program, onnx_session, run_onnx

    torch.manual_seed(0)
    model = build_model("quantile", (14, 2), 7, base="mlp", base_options={"hidden": [8]}).eval()
    program, difference = onnx_program(model, (14, 2))
    assert difference <= 1e-4
    x = torch.randn(5, 14, 2)
    out = run_onnx(onnx_session(program), x)
    assert out.shape == (5, 7, 23) and (np.diff(out, axis=-1) >= 0).all()


def test_hub_baseline_on_a_known_series():
    history = np.array([10.0, 12.0, 11.0, 15.0, 14.0])  # changes 2, -1, 4, -1; symmetrised: +-1, +-1, +-2, +-4
    quantiles = hub_baseline_quantiles(history, horizon=4, samples=20_000)
    symmetric = np.array([2, -1, 4, -1, -2, 1, -4, 1], dtype=float)
    np.testing.assert_allclose(quantiles[0], 14 + np.quantile(symmetric, HUB_LEVELS), atol=2e-3)
    np.testing.assert_allclose(quantiles[:, HUB_LEVELS.index(0.5)], 14.0, atol=1e-9)  # the last value, every day
    width = quantiles[:, HUB_LEVELS.index(0.975)] - quantiles[:, HUB_LEVELS.index(0.025)]
    assert (np.diff(width) > 0).all()  # the spread grows with the horizon
    assert (np.diff(quantiles, axis=-1) >= 0).all()


def test_hub_baseline_on_a_straight_line_is_a_random_walk_of_its_step():
    """Every change is +3, so one day's change is +-3 with probability 1/2; day 2 is -6, 0, +6 w.p. 1/4, 1/2, 1/4."""
    quantiles = hub_baseline_quantiles(100.0 + 3.0 * np.arange(30), horizon=2, levels=[0.1, 0.5, 0.9], samples=40_000)
    np.testing.assert_allclose(quantiles[1], [187 - 6, 187, 187 + 6], atol=1e-6)
    near_zero = hub_baseline_quantiles(np.array([0.0, 4.0, 0.0, 3.0, 0.0]), horizon=3, samples=5_000)
    assert (near_zero >= 0).all()  # counts stay >= 0


def test_hub_baseline_needs_history():
    with pytest.raises(DistillError, match="at least 2"):
        hub_baseline_quantiles(np.array([5.0]), horizon=3)


def test_conformal_residual_quantiles_cover_at_the_nominal_rate():
    generator = np.random.default_rng(0)
    forecasts = generator.uniform(50, 150, size=(2000, 3))
    truth = forecasts + generator.normal(scale=[2.0, 4.0, 8.0], size=forecasts.shape)  # spread grows per day
    calibrate, test = slice(0, 1000), slice(1000, None)
    conformal = ConformalQuantiles().fit(forecasts[calibrate], truth[calibrate])
    quantiles = conformal.transform(forecasts[test])  # (windows, horizon, levels)
    assert quantiles.shape == (1000, 3, 23) and (np.diff(quantiles, axis=-1) >= 0).all()
    from distill.core.wis import interval_coverage

    for nominal, share in interval_coverage(quantiles, truth[test], "hub").items():
        assert share == pytest.approx(nominal, abs=0.04)
    widths = quantiles[..., HUB_LEVELS.index(0.975)] - quantiles[..., HUB_LEVELS.index(0.025)]
    assert widths[0, 0] < widths[0, 1] < widths[0, 2]


def test_conformal_widens_an_overconfident_quantile_model():
    """Quantile forecasts half as wide as N(0, 1)'s cover ~ 65% at 95%; recalibrated on other windows, ~ 95%."""
    from distill.core.wis import interval_coverage

    generator = np.random.default_rng(3)
    truth = generator.normal(size=(3000, 2))
    narrow = np.broadcast_to(0.5 * norm.ppf(HUB_LEVELS), (*truth.shape, 23))
    assert interval_coverage(narrow, truth, "hub")[0.95] < 0.7
    conformal = ConformalQuantiles().fit(narrow[:1500], truth[:1500])
    calibrated = conformal.transform(narrow[1500:])
    assert (np.diff(calibrated, axis=-1) >= 0).all()
    for nominal, share in interval_coverage(calibrated, truth[1500:], "hub").items():
        assert share == pytest.approx(nominal, abs=0.03)
    with pytest.raises(DistillError, match="quantile forecasts"):
        conformal.transform(np.zeros((4, 2, 5)))


def test_conformal_log_scale_keeps_counts_nonnegative():
    forecasts = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 50.0]])
    truth = forecasts * np.array([[0.5], [1.5], [1.0]])
    quantiles = ConformalQuantiles(scale="log").fit(forecasts, truth).transform(np.array([[0.0, 3.0]]))
    assert (quantiles >= 0).all()
    with pytest.raises(DistillError, match="scale"):
        ConformalQuantiles(scale="relative")


def test_hub_csv_has_the_hub_columns_targets_and_dates(tmp_path):
    quantiles = np.sort(np.random.default_rng(0).uniform(0, 10, size=(2, 23)), axis=-1)
    frame = hub_frame(dt.date(2021, 3, 1), "US_FL", quantiles)
    path = write_hub_csv(tmp_path / "forecast.csv", [frame, hub_frame(dt.date(2021, 3, 1), "US_NY_36061", quantiles)])
    read = pd.read_csv(path)
    assert list(read.columns) == ["forecast_date", "target", "target_end_date", "location", "type", "quantile", "value"]
    assert len(read) == 2 * 2 * 24
    first = read[read.location == "US_FL"]
    assert first.target.unique().tolist() == ["1 day ahead inc hosp", "2 day ahead inc hosp"]
    assert first[first.target == "2 day ahead inc hosp"].target_end_date.unique().tolist() == ["2021-03-03"]
    points = first[first.type == "point"]
    assert points["quantile"].isna().all() and points.value.tolist() == pytest.approx(quantiles[:, 11].tolist())
    assert first[first.type == "quantile"]["quantile"].tolist()[:23] == pytest.approx(list(HUB_LEVELS))
    weekly = hub_frame(dt.date(2021, 3, 1), "US_FL", quantiles, unit="wk")
    assert weekly.target.iloc[0] == "1 wk ahead inc hosp" and weekly.target_end_date.iloc[-1] == "2021-03-15"


def test_calibration_and_wis_parts_figures_are_written(tmp_path):
    from distill.protocols.forecast.quantile_figures import plot_calibration, plot_wis_parts

    calibration = plot_calibration({"teacher": np.array(HUB_LEVELS), "baseline": np.sqrt(HUB_LEVELS)}, HUB_LEVELS,
                                   tmp_path / "calibration.png")
    parts = plot_wis_parts({"teacher": {"dispersion": 1.0, "overprediction": 0.5, "underprediction": 0.2}},
                           tmp_path / "wis.png", "patients/day")
    assert calibration.read_bytes()[:4] == b"\x89PNG" and parts.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("levels, message", [
    ([0.0, 0.5, 0.9], "outside"),
    ([0.1, 0.5, 1.2], "outside"),
    ([0.1, float("nan"), 0.5], "outside"),
    ([0.5, 0.1, 0.9], "not sorted"),
    ([0.1, 0.5, 0.5, 0.9], "repeated"),
    ([], "empty"),
    ("deciles", "not allowed"),
])
def test_bad_levels_are_one_line(levels, message):
    with pytest.raises(DistillError, match=message) as error:
        check_levels(levels)
    assert "\n" not in str(error.value)
    with pytest.raises(DistillError, match=message):
        build_model("quantile", (5, 1), 2, base="mlp", quantiles=levels)


def test_quantile_task_losses_and_median_scores():
    from distill.config import StudentSpec
    from distill.core.task import FoldData
    from distill.tasks.quantile import QuantileTask

    torch.manual_seed(0)
    task = QuantileTask()
    model = build_model("quantile", (6, 2), 3, base="mlp", base_options={"hidden": [8]})
    x, y = torch.randn(10, 6, 2), torch.randn(10, 3)
    fold = FoldData(index=0, x_train=x, y_train=y, x_test=x, y_test=y, test_rows=torch.arange(10), units=2.0)
    assert task.output_dim(None, fold) == 3
    expected = pinball_loss(model(x), y, torch.tensor(HUB_LEVELS)).item()
    assert task.teacher_loss(model, x, y, None).item() == pytest.approx(expected)
    guide = task.guide(model, x, None)
    assert guide.outputs is not None and guide.outputs.shape == (10, 3, 23)
    kd = sum(task.student_loss(model, x, y, guide, StudentSpec(model="quantile", alpha=1.0)).values())
    assert kd.item() == pytest.approx(0.0, abs=1e-7)  # a student equal to its teacher has nothing to learn
    scores = task.metrics(guide.outputs, y, fold)
    median = guide.outputs[..., 11]
    assert scores["mae"] == pytest.approx(float((median - y).abs().mean())) and scores["mae_original"] == 2 * scores["mae"]
    with pytest.raises(DistillError, match="median"):
        QuantileTask([0.1, 0.9])


def test_score_quantiles_pairs_models_over_groups():
    from distill.protocols.forecast.quantiles import score_quantiles

    generator = np.random.default_rng(4)
    truth = generator.normal(size=(400, 3))
    calibrated = np.broadcast_to(norm.ppf(HUB_LEVELS), (400, 3, 23))
    wide = 3.0 * calibrated
    groups = np.repeat(np.arange(20), 20)  # 20 origins of 20 windows each
    scores = score_quantiles({"model": calibrated, "baseline": wide}, truth, groups, baseline="baseline",
                             pairs=[("model", "baseline")])
    assert scores["groups"] == 20 and len(scores["models"]["model"]["wis"]["per_fold"]) == 20
    assert scores["models"]["model"]["relative_wis"]["overall"] < 1.0
    assert scores["models"]["baseline"]["coverage"]["50%"] > 0.9  # three times too wide
    assert scores["comparisons"]["model_vs_baseline"]["verdict"] == "better"
    with pytest.raises(DistillError, match="baseline"):
        score_quantiles({"model": calibrated}, truth, groups, baseline="baseline", pairs=[])

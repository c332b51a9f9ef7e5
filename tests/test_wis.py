"""WIS, its parts, coverage and relative WIS against cases worked by hand and a known Gaussian."""
import numpy as np
import pytest
import torch
from scipy.stats import norm

from distill.core import wis as wis_module
from distill.core.wis import (
    central_intervals,
    interval_coverage,
    level_coverage,
    relative_wis,
    weighted_interval_score,
)
from distill.errors import DistillError
from distill.losses.pinball import HUB_LEVELS, pinball_loss

LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
QUANTILES = np.array([1.0, 2.0, 3.0, 4.0, 5.0])

# Worked by hand from Bracher et al. 2021, K = 2 intervals: alpha = 0.2 ([1, 5]) and 0.5 ([2, 4]), median 3.
#  y = 6: IS_0.2 = 4 + 10 * 1 = 14, IS_0.5 = 2 + 4 * 2 = 10; WIS = (0.5 * 3 + 0.1 * 14 + 0.25 * 10) / 2.5 = 2.16
#         dispersion = (0.1 * 4 + 0.25 * 2) / 2.5 = 0.36; underprediction = (0.5 * 3 + 1 + 2) / 2.5 = 1.8
#  y = 2.5: inside both; WIS = (0.5 * 0.5 + 0.1 * 4 + 0.25 * 2) / 2.5 = 0.46; overprediction = 0.25 / 2.5 = 0.1
#  y = 0: IS_0.2 = 4 + 10 * 1 = 14, IS_0.5 = 2 + 4 * 2 = 10; WIS = 2.16; overprediction = (1.5 + 1 + 2) / 2.5
HAND = [  # truth, wis, dispersion, overprediction, underprediction
    (6.0, 2.16, 0.36, 0.0, 1.8),
    (2.5, 0.46, 0.36, 0.1, 0.0),
    (0.0, 2.16, 0.36, 1.8, 0.0),
]


@pytest.mark.parametrize("scoringrules", [True, False], ids=["scoringrules", "numpy"])
@pytest.mark.parametrize("truth, expected_wis, dispersion, over, under", HAND)
def test_wis_and_parts_match_the_hand_computed_case(monkeypatch, scoringrules, truth, expected_wis, dispersion,
                                                    over, under):
    if scoringrules:
        pytest.importorskip("scoringrules")
    else:
        monkeypatch.setattr(wis_module, "find_spec", lambda name: None)
    parts = weighted_interval_score(QUANTILES, np.array(truth), LEVELS)
    assert float(parts.wis) == pytest.approx(expected_wis, abs=1e-12)
    assert float(parts.dispersion) == pytest.approx(dispersion, abs=1e-12)
    assert float(parts.overprediction) == pytest.approx(over, abs=1e-12)
    assert float(parts.underprediction) == pytest.approx(under, abs=1e-12)


def test_parts_sum_to_wis_and_wis_is_twice_the_mean_pinball_loss():
    generator = np.random.default_rng(0)
    quantiles = np.sort(generator.normal(size=(40, 7, len(HUB_LEVELS))), axis=-1)
    truth = generator.normal(size=(40, 7))
    parts = weighted_interval_score(quantiles, truth, "hub")
    assert parts.wis.shape == truth.shape
    np.testing.assert_allclose(parts.dispersion + parts.overprediction + parts.underprediction, parts.wis, atol=1e-12)
    pinball = pinball_loss(torch.from_numpy(quantiles), torch.from_numpy(truth), torch.tensor(HUB_LEVELS,
                                                                                                 dtype=torch.float64))
    assert parts.wis.mean() == pytest.approx(2.0 * float(pinball), rel=1e-12)


def test_hub_levels_give_the_median_and_eleven_intervals():
    intervals = central_intervals("hub")
    assert HUB_LEVELS[intervals.median] == 0.5
    np.testing.assert_allclose(sorted(intervals.alphas), [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])


def test_coverage_of_a_known_gaussian_is_nominal():
    """Quantiles estimated from N(0, 1) samples cover fresh N(0, 1) draws at the nominal rates."""
    generator = np.random.default_rng(1)
    forecast = np.quantile(generator.normal(size=200_000), HUB_LEVELS)  # (levels,)
    truth = generator.normal(size=(4000, 5))
    quantiles = np.broadcast_to(forecast, (*truth.shape, len(HUB_LEVELS)))
    coverage = interval_coverage(quantiles, truth, "hub")
    for nominal, share in coverage.items():  # SEM of a share of 20,000 draws <= 0.0036
        assert share == pytest.approx(nominal, abs=0.012), (nominal, share)
    np.testing.assert_allclose(level_coverage(quantiles, truth), HUB_LEVELS, atol=0.012)
    # the exact N(0, 1) quantiles have the smallest expected WIS: a forecast twice as wide scores worse
    exact = np.broadcast_to(norm.ppf(HUB_LEVELS), quantiles.shape)
    wide = np.broadcast_to(2.0 * norm.ppf(HUB_LEVELS), quantiles.shape)
    assert weighted_interval_score(exact, truth, "hub").wis.mean() < weighted_interval_score(wide, truth, "hub").wis.mean()


def test_an_overconfident_forecast_undercovers():
    generator = np.random.default_rng(2)
    truth = generator.normal(size=(5000, 1))
    narrow = np.broadcast_to(0.5 * norm.ppf(HUB_LEVELS), (*truth.shape, len(HUB_LEVELS)))
    coverage = interval_coverage(narrow, truth, "hub")
    assert coverage[0.95] == pytest.approx(2 * norm.cdf(0.5 * norm.ppf(0.975)) - 1, abs=0.02)
    assert coverage[0.95] < 0.8


def test_relative_wis_per_horizon_and_overall():
    model = np.array([[1.0, 2.0], [3.0, 2.0]])
    baseline = np.array([[2.0, 2.0], [2.0, 6.0]])
    relative = relative_wis(model, baseline)
    assert relative["overall"] == pytest.approx(8.0 / 12.0)
    assert relative["per_horizon"] == pytest.approx([1.0, 0.5])
    with pytest.raises(DistillError, match="same shape|one shape"):
        relative_wis(model, baseline[:, :1])


@pytest.mark.parametrize("levels, message", [
    ((0.1, 0.25, 0.75, 0.9), "median"),
    ((0.1, 0.5, 0.8), "pairs"),
])
def test_wis_needs_a_median_and_symmetric_levels(levels, message):
    with pytest.raises(DistillError, match=message):
        weighted_interval_score(np.zeros(len(levels)), np.array(0.0), levels)


def test_mismatched_shapes_are_one_line():
    with pytest.raises(DistillError, match="do not match") as error:
        weighted_interval_score(np.zeros((3, 4, 5)), np.zeros((3, 5)), LEVELS)
    assert "\n" not in str(error.value)

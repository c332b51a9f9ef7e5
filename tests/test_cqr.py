"""Conformalized quantile regression of nested central intervals (`IntervalCQR`): the finite-sample rank worked
by hand, coverage of a known Gaussian restored, quantiles non-crossing after any shift, pooling when the
calibration windows are too few."""
import numpy as np
import pytest
from scipy.stats import norm

from distill.core.wis import interval_coverage
from distill.errors import DistillError
from distill.losses.pinball import HUB_LEVELS
from distill.protocols.forecast.cqr import IntervalCQR

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)  # the median, the central 50% and 90% intervals


def _gaussian(windows: int, horizon: int, sd: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N(0, 1) truth and quantile forecasts of N(0, sd^2) (too narrow for sd < 1, too wide for sd > 1)."""
    truth = np.random.default_rng(seed).standard_normal((windows, horizon))
    quantiles = np.broadcast_to(sd * norm.ppf(HUB_LEVELS), (windows, horizon, len(HUB_LEVELS))).copy()
    return quantiles, truth


def test_the_offset_is_the_kth_smallest_score_worked_by_hand():
    quantiles = np.tile(np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), (4, 1, 1))  # (4 windows, 1 day, 5 levels)
    truth = np.array([[0.0], [2.0], [-3.0], [0.7]])
    cqr = IntervalCQR(LEVELS).fit(quantiles, truth)
    # 90% interval [-1, 1]: scores max(-1 - y, y - 1) = -1, 1, 2, -0.3; k = ceil(0.9 * 5) = 5 > 4: the largest, 2
    # 50% interval [-0.5, 0.5]: scores -0.5, 1.5, 2.5, 0.2; k = ceil(0.5 * 5) = 3: 1.5
    assert cqr.offsets_.tolist() == [[2.0, 1.5]]
    assert not cqr.per_horizon_day_ and cqr.capped_ == [0.9]
    calibrated = cqr.transform(quantiles[:1])[0, 0]
    assert calibrated.tolist() == [-3.0, -2.0, 0.0, 2.0, 3.0]


@pytest.mark.parametrize("sd", [0.5, 2.0])
def test_calibration_restores_the_coverage_of_a_known_gaussian(sd):
    calibration, truth = _gaussian(400, 3, sd, seed=0)
    test, test_truth = _gaussian(4000, 3, sd, seed=1)
    before = interval_coverage(test, test_truth, HUB_LEVELS)
    cqr = IntervalCQR().fit(calibration, truth)
    after = interval_coverage(cqr.transform(test), test_truth, HUB_LEVELS)
    assert cqr.per_horizon_day_ and cqr.offsets_.shape == (3, 11)
    for nominal in (0.5, 0.8, 0.95):
        assert abs(before[nominal] - nominal) > 0.04  # miscalibrated before
        assert after[nominal] == pytest.approx(nominal, abs=0.03)


def test_calibrated_quantiles_never_cross_and_keep_the_median():
    generator = np.random.default_rng(2)
    quantiles = np.sort(generator.normal(size=(60, 4, len(HUB_LEVELS))), axis=-1)
    truth = generator.normal(size=(60, 4))
    cqr = IntervalCQR().fit(quantiles, truth)
    cqr.offsets_ = generator.normal(scale=2.0, size=cqr.offsets_.shape)  # any shift, outward or inward
    calibrated = cqr.transform(quantiles)
    assert (np.diff(calibrated, axis=-1) >= 0).all()
    assert np.array_equal(calibrated[..., HUB_LEVELS.index(0.5)], quantiles[..., HUB_LEVELS.index(0.5)])


def test_too_few_windows_pool_the_horizon_days_and_log_scale_keeps_counts_nonnegative():
    generator = np.random.default_rng(3)
    truth = generator.poisson(50.0, size=(20, 5)).astype(float)
    quantiles = np.sort(generator.poisson(50.0, size=(20, 5, len(HUB_LEVELS))), axis=-1).astype(float)
    cqr = IntervalCQR(scale="log").fit(quantiles, truth)
    assert not cqr.per_horizon_day_  # 20 < 49 windows for the 98% interval
    assert np.allclose(cqr.offsets_, cqr.offsets_[:1])  # one offset per interval, shared by the days
    assert (cqr.transform(quantiles) >= 0).all()
    again = IntervalCQR.from_description(cqr.describe())
    assert np.array_equal(again.transform(quantiles), cqr.transform(quantiles))


def test_bad_shapes_and_scales_are_one_line():
    with pytest.raises(DistillError, match="scale 'ratio' is not allowed"):
        IntervalCQR(scale="ratio")
    with pytest.raises(DistillError, match=r"\(windows, horizon, 23\)"):
        IntervalCQR().fit(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(DistillError, match="same >= 2 windows"):
        IntervalCQR().fit(np.zeros((5, 3, 23)), np.zeros((4, 3)))

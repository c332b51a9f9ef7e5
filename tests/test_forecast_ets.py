"""AutoETS (statsmodels) as a baseline: fitted on the past only, forms by AICc, skipped with a note without the extra."""
import numpy as np
import pytest

from distill.protocols import load_config
from distill.protocols.forecast.evaluation import best_baseline

ets = pytest.importorskip("distill.protocols.forecast.ets")
pytest.importorskip("statsmodels")


def test_ets_follows_a_weekly_pattern_on_a_trend_that_persistence_cannot():
    days = np.arange(300)
    weekly = np.array([1.2, 1.1, 1.0, 1.0, 1.0, 0.85, 0.85])
    series = 100 * np.exp(days / 150) * weekly[days % 7]
    fit = ets.fit_ets(series[:280], daily=True)
    assert fit.seasonal_periods == 7  # AICc keeps the weekly form
    forecast = ets.forecast_ets(fit, series[:280], 14)
    truth = series[280:294]
    assert np.abs(forecast - truth).mean() < 0.3 * np.abs(series[279] - truth).mean()


def test_forecasts_read_only_the_history_before_each_origin():
    rng = np.random.default_rng(0)
    series = 50 + rng.normal(0, 5, 200).cumsum().clip(-40, None)
    fit = ets.fit_ets(series[:150], daily=True)
    changed = series.copy()
    changed[170:] = 1e6  # the future: must not move a forecast from origin 170
    windows = [(0, 160), (0, 170)]
    before = ets.ets_forecasts([series], windows, {0: fit}, 7)
    after = ets.ets_forecasts([changed], windows, {0: fit}, 7)
    assert np.array_equal(before, after)


def test_gaps_in_the_history_are_interpolated_and_an_empty_history_refused():
    series = np.r_[np.nan, np.nan, np.linspace(10, 40, 60)]
    series[[20, 21, 30]] = np.nan
    assert np.isfinite(ets.forecast_ets(ets.fit_ets(series, daily=False), series, 5)).all()
    from distill.errors import DistillError
    with pytest.raises(DistillError, match="no observed target"):
        ets.fit_ets(np.full(30, np.nan), daily=True)


def test_the_best_baseline_is_the_lowest_inner_validation_error():
    assert best_baseline({"persistence": [3.0, 5.0], "auto_ets": [2.0, 4.5], "ridge": [1.0, 9.0]}) == "auto_ets"
    assert best_baseline({}) is None


def test_without_statsmodels_autoets_is_skipped_with_a_note(monkeypatch):
    import distill.protocols.forecast.run as run_module
    monkeypatch.setattr(run_module, "ets_available", lambda: False)
    setup, note = run_module._ets_setup(load_config("covid-lstm", []), None)
    assert setup is None and "AutoETS skipped" in note and "distill[forecast]" in note


def test_ets_intervals_centre_on_its_forecast_widen_with_the_horizon_and_cover_a_random_walk():
    from distill.core.wis import interval_coverage
    from distill.losses.pinball import HUB_LEVELS

    rng = np.random.default_rng(1)
    walks = 1000 + rng.normal(0, 10, (16, 170)).cumsum(axis=1)  # random walks: ETS(A,N,N) on log1p fits them well
    quantiles, truth = [], []
    for walk in walks:
        fit = ets.fit_ets(walk[:150], daily=False)
        found = ets.ets_quantile_forecasts([walk], [(0, 156)], {0: fit}, 7, HUB_LEVELS)[0]  # (7 days, 23 levels)
        assert np.allclose(found[:, HUB_LEVELS.index(0.5)], ets.forecast_ets(fit, walk[:156], 7))
        assert (np.diff(found, axis=1) > 0).all() and (np.diff(found[:, -1] - found[:, 0]) > 0).all()
        quantiles.append(found)
        truth.append(walk[156:163])
    coverage = interval_coverage(np.stack(quantiles), np.stack(truth), HUB_LEVELS)
    assert 0.8 <= coverage[0.95] <= 1.0 and 0.3 <= coverage[0.5] <= 0.7

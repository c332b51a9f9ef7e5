"""AutoETS, the strongest simple baseline: exponential smoothing state-space models fitted on a series' target
history up to each forecast origin, the form chosen by AICc (Hyndman et al. 2002, "A state space framework for
automatic forecasting using exponential smoothing methods"; Hyndman & Athanasopoulos, "Forecasting: Principles
and Practice", ch. 8).

statsmodels' `ETSModel` does the fitting (the optional extra `distill[forecast]`). statsforecast's AutoETS was
the first choice, but its release (2.1.1) pins pandas < 3, which would downgrade the pandas every other part of
distill runs on; statsmodels installs beside torch 2.13, numpy 2 and pandas 3 without touching them.

Candidates: additive errors on log1p(target) (counts: a multiplicative shape that still allows zeros; on the
target itself where its history goes below 0), trend
none or additive damped, weekly seasonality (7 periods, daily data) or none - four models per fit, the lowest
AICc kept. One fit per series and refit block; every later origin is forecast from its parameters, with the
states run over the periods observed since
(`ETSModel.smooth`). A block's fit is made where its trained models stop fitting: at the first origin of its
inner validation windows (they choose the best baseline), and carried through its test origins, as the
trained models are fitted before their validation windows too. Gaps in a target history are filled by
linear interpolation between past values. A fit estimates its parameters on the last `FIT_PERIODS` periods.
In quantile runs (`data.quantiles: hub`) the same fits give AutoETS's own prediction intervals
(`quantiles_ets`: the exact forecast variance of the additive-error state space model), scored by WIS.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from distill.errors import DistillError

MIN_HISTORY = 14  # periods of target a fit needs
FIT_PERIODS = 140  # a fit estimates its parameters on the last 20 weeks (daily) of the history: ETS is local, and
                   # statsmodels' optimiser costs about linearly in the length


def ets_available() -> bool:
    """Whether the optional extra (statsmodels) is installed."""
    try:
        import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class EtsFit:
    """One fitted ETS form and its parameters, reusable at later origins of the same series."""

    trend: str | None
    damped: bool
    seasonal_periods: int | None
    params: np.ndarray  # smoothing parameters and the initial states at period `start`
    start: int  # the period of the history the fit's states start on
    logged: bool = True  # fitted on log1p of the target (a history that never went below 0), else on its values


def _candidates(daily: bool) -> list[tuple[str | None, bool, int | None]]:
    seasons = (None, 7) if daily else (None,)
    return [(trend, trend is not None, season) for trend in (None, "add") for season in seasons]


def _model(history: np.ndarray, trend: str | None, damped: bool, seasonal_periods: int | None):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    return ETSModel(history, error="add", trend=trend, damped_trend=damped,
                    seasonal="add" if seasonal_periods else None, seasonal_periods=seasonal_periods)


def _filled(history: np.ndarray, logged: bool = True) -> np.ndarray:
    """log1p of the target (or the target, `logged=False`), gaps filled by linear interpolation between past
    values (leading gaps dropped)."""
    observed = ~np.isnan(history)
    if not observed.any():
        raise DistillError("AutoETS: a series has no observed target before an origin")
    first = int(np.flatnonzero(observed)[0])
    history = history[first:]
    positions = np.arange(len(history))
    mask = ~np.isnan(history)
    values = np.interp(positions, positions[mask], history[mask])
    return np.log1p(np.clip(values, 0, None)) if logged else values


def fit_ets(history: np.ndarray, daily: bool) -> EtsFit:
    """The candidate with the lowest AICc on the history (raw target values, NaN where missing)."""
    first = int(np.flatnonzero(~np.isnan(history))[0]) if (~np.isnan(history)).any() else 0
    logged = bool(np.nanmin(history) >= 0) if (~np.isnan(history)).any() else True
    series = _filled(history, logged)
    start = first + max(0, len(series) - FIT_PERIODS)
    series = series[-FIT_PERIODS:]
    best, best_aicc = None, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the optimiser on short or flat histories
        for trend, damped, season in _candidates(daily):
            if season and len(series) < 3 * season:
                continue
            try:
                result = _model(series, trend, damped, season).fit(disp=False, maxiter=200)
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(result.aicc) and result.aicc < best_aicc:
                best, best_aicc = EtsFit(trend, damped, season, np.asarray(result.params), start, logged), result.aicc
    if best is None:
        raise DistillError("AutoETS: no candidate model could be fitted on a series' history")
    return best


def forecast_ets(fit: EtsFit, history: np.ndarray, horizon: int) -> np.ndarray:
    """(horizon,) forecasts from the end of `history` with the fit's parameters: its states run from the fit's
    first period to the end of `history` (no refit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        series = _filled(history[fit.start:], fit.logged)
        result = _model(series, fit.trend, fit.damped, fit.seasonal_periods).smooth(fit.params)
        forecast = np.asarray(result.forecast(horizon))
        return np.clip(np.expm1(forecast), 0, None) if fit.logged else forecast


def ets_forecasts(targets: list[np.ndarray], windows: list[tuple[int, int]], fits: dict[int, EtsFit],
                  horizon: int) -> np.ndarray:
    """(windows, horizon) forecasts of `windows` = (series, origin row) pairs from the series' `fits`, the states
    run over the series' target up to each origin."""
    out = np.empty((len(windows), horizon))
    cache: dict[tuple[int, int], np.ndarray] = {}
    for row, (series, origin) in enumerate(windows):
        if (series, origin) not in cache:
            cache[series, origin] = forecast_ets(fits[series], targets[series][:origin], horizon)
        out[row] = cache[series, origin]
    return out


def quantiles_ets(fit: EtsFit, history: np.ndarray, horizon: int, levels: Sequence[float]) -> np.ndarray:
    """(horizon, levels) quantiles of the fit's prediction distribution from the end of `history`: statsmodels'
    exact forecast variance v_h of the additive-error model (its `get_prediction`, method "exact"; Hyndman,
    Koehler, Ord & Snyder 2008, "Forecasting with Exponential Smoothing", ch. 6) with Gaussian errors,
    q_tau = mu_h + z_tau sqrt(v_h), on log1p of the target and back (quantiles survive a monotone map)."""
    import pandas as pd
    from scipy.stats import norm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        series = pd.Series(_filled(history[fit.start:], fit.logged))  # statsmodels 0.14's prediction needs an index
        result = _model(series, fit.trend, fit.damped, fit.seasonal_periods).smooth(fit.params)
        prediction = result.get_prediction(start=len(series), end=len(series) + horizon - 1)
    mean, variance = np.asarray(prediction.predicted_mean), np.asarray(prediction.forecast_variance)
    quantiles = mean[:, None] + norm.ppf(np.asarray(levels))[None, :] * np.sqrt(variance)[:, None]  # (horizon, L)
    return np.clip(np.expm1(quantiles), 0, None) if fit.logged else quantiles


def ets_quantile_forecasts(targets: list[np.ndarray], windows: list[tuple[int, int]], fits: dict[int, EtsFit],
                           horizon: int, levels: Sequence[float]) -> np.ndarray:
    """(windows, horizon, levels) quantile forecasts of `windows` = (series, origin row) pairs (`quantiles_ets`)."""
    cache: dict[tuple[int, int], np.ndarray] = {}
    for series, origin in windows:
        if (series, origin) not in cache:
            cache[series, origin] = quantiles_ets(fits[series], targets[series][:origin], horizon, levels)
    return np.stack([cache[window] for window in windows])


def form_name(fit: EtsFit) -> str:
    form = f"ETS(A,{'Ad' if fit.damped else 'N'},{'A' if fit.seasonal_periods else 'N'})"
    return f"{form} on log1p" if fit.logged else form

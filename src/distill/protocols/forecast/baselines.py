"""Naive and statistical forecasts every forecasting table carries, in the target's own units.

A forecaster has skill only where it beats these (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", ch. 5.2 and 5.10). Each reads only a window's input days (and ridge, the fold's training windows).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.linear_model import Ridge

RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def persistence(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last observed day, held: (windows, input_days) -> (windows, horizon)."""
    return np.repeat(history[:, -1:], horizon, axis=1)


def seven_day_mean(history: np.ndarray, horizon: int) -> np.ndarray:
    """The mean of the last 7 input days (fewer if the window is shorter), held."""
    return np.repeat(history[:, -7:].mean(axis=1, keepdims=True), horizon, axis=1)


def linear_drift(history: np.ndarray, horizon: int) -> np.ndarray:
    """A straight line fitted by least squares to the input days, extended (clipped at 0)."""
    days = history.shape[1]
    t = np.arange(days) - (days - 1) / 2
    slope = (history * t).sum(axis=1, keepdims=True) / (t ** 2).sum()
    intercept = history.mean(axis=1, keepdims=True)
    ahead = (days - 1) / 2 + np.arange(1, horizon + 1)
    return np.clip(intercept + slope * ahead, 0, None)


def fit_ridge(inputs: np.ndarray, targets: np.ndarray, val_inputs: np.ndarray, val_targets: np.ndarray,
              alphas: tuple[float, ...] = RIDGE_ALPHAS) -> Ridge:
    """Ridge regression on the flattened window inputs; alpha chosen on the inner validation windows."""
    from sklearn.linear_model import Ridge  # imported here: scikit-learn would add ~20 MB to training's peak memory
    flat, val_flat = inputs.reshape(len(inputs), -1), val_inputs.reshape(len(val_inputs), -1)
    errors = {alpha: np.abs(Ridge(alpha=alpha).fit(flat, targets).predict(val_flat) - val_targets).mean()
              for alpha in alphas}
    return Ridge(alpha=min(errors, key=errors.get)).fit(flat, targets)

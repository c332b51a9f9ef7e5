"""Naive and statistical forecasts every forecasting table carries, in the target's own units.

A forecaster has skill only where it beats these (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", ch. 5.2 and 5.10). Each reads only a window's input days (ridge, `distill.core.ridge`, reads the
fold's training windows).
"""
from __future__ import annotations

import numpy as np


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

"""Mackey-Glass series: a chaotic delay system, the standard small benchmark for long-term prediction.

The delay differential equation dx/dt = -a x(t) + b x(t - tau) / (1 + x(t - tau)^10) is integrated with
Euler steps of size `step` from a constant history x(t) = history for t <= 0, and sampled once per time
unit. With step = 1 this is the discrete map of the privileged-information time-series setup (Hayashi et al.
2019 use the same series):

    x_{t+1} = x_t - a x_t + b x_{t-tau} / (1 + x_{t-tau}^10),   a = 0.1, b = 0.2, tau = 17, history 0.9.

For tau = 17 the series is chaotic and stays in (0, 1.5).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from distill.errors import DistillError
from distill.io.atomic import write_csv_atomic

MIN_LENGTH = 2


def check_mackey_glass(length: int, tau: int, a: float, b: float, history: float, step: float, noise: float) -> int:
    """Validate the parameters; return the number of Euler steps per time unit."""
    if not isinstance(length, int | np.integer) or length < MIN_LENGTH:
        raise DistillError(f"Mackey-Glass length must be an integer >= {MIN_LENGTH}, got {length!r}")
    if not isinstance(tau, int | np.integer) or tau < 1:
        raise DistillError(f"Mackey-Glass tau must be an integer >= 1, got {tau!r}")
    for name, value in {"a": a, "b": b, "history": history}.items():
        if not (np.isfinite(value) and value > 0):
            raise DistillError(f"Mackey-Glass {name} must be a finite number > 0, got {value!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise DistillError(f"Mackey-Glass noise must be a finite number >= 0, got {noise!r}")
    steps_per_unit = round(1.0 / step) if 0 < step <= 1 else 0
    if steps_per_unit == 0 or not np.isclose(steps_per_unit * step, 1.0):
        raise DistillError(f"Mackey-Glass step must be 1/k for a positive integer k (1, 0.5, 0.1, ...), got {step!r}")
    return steps_per_unit


def mackey_glass(length: int, tau: int = 17, a: float = 0.1, b: float = 0.2, history: float = 0.9,
                 step: float = 1.0, seed: int | None = None, noise: float = 0.0) -> np.ndarray:
    """Return x(0), x(1), ..., x(length - 1) of the Mackey-Glass system, shape (length,).

    noise > 0 adds Gaussian noise with that standard deviation to every value of the constant history (so
    each seed starts its own chaotic trajectory) and to every returned value (observation noise), drawn
    from numpy's generator seeded with `seed` (seed None: fresh, unrepeatable randomness).
    """
    steps_per_unit = check_mackey_glass(length, tau, a, b, history, step, noise)
    rng = np.random.default_rng(seed)
    delay = tau * steps_per_unit
    past = np.full(delay + 1, float(history))  # x at steps -delay .. 0
    if noise > 0:
        past += rng.normal(0.0, noise, past.shape)
    x = past.tolist()
    for _ in range((length - 1) * steps_per_unit):
        current, delayed = x[-1], x[-1 - delay]
        x.append(current + step * (-a * current + b * delayed / (1.0 + delayed**10)))
    series = np.asarray(x[delay::steps_per_unit])  # (length,)
    if noise > 0:
        series = series + rng.normal(0.0, noise, series.shape)
    return series


def mackey_glass_frame(length: int, tau: int = 17, a: float = 0.1, b: float = 0.2, history: float = 0.9,
                       step: float = 1.0, seed: int | None = None, noise: float = 0.0, start: str = "2000-01-01",
                       freq: str = "D") -> pd.DataFrame:
    """The series as a table with columns `time` (from `start`, one row per `freq`) and `value`."""
    values = mackey_glass(length, tau, a, b, history, step, seed, noise)
    try:
        time = pd.date_range(start=start, periods=length, freq=freq)
    except (ValueError, TypeError) as error:
        raise DistillError(f"Mackey-Glass start/freq must be a date and a pandas frequency, got "
                           f"start={start!r}, freq={freq!r}") from error
    return pd.DataFrame({"time": time, "value": values})


def write_mackey_glass(path: str | os.PathLike, length: int, tau: int = 17, a: float = 0.1, b: float = 0.2,
                       history: float = 0.9, step: float = 1.0, seed: int | None = None, noise: float = 0.0,
                       start: str = "2000-01-01", freq: str = "D") -> Path:
    """Write `mackey_glass_frame(...)` to a CSV file atomically (temporary file, then rename); return the path."""
    frame = mackey_glass_frame(length, tau, a, b, history, step, seed, noise, start, freq)
    return write_csv_atomic(path, frame)

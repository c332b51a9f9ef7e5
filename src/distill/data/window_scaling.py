"""Per-window (instance) normalisation in log space: every window is read relative to its own recent level.

Waves differ in size between folds, so a model fitted on one level must forecast another. Reading each
window relative to its own last days (as RevIN does: Kim et al. 2022, "Reversible Instance Normalization
for Accurate Time-Series Forecasting against Distribution Shift") makes a doubling look the same at 100
and at 10,000 patients a day:

    inputs   z[d, f] = clip((slog(x[d, f]) - mean_{last k days} slog(x[., f]) - mu_f) / sd_f, -c, c)
    target   u[h]    = (log1p(y[h]) - level - m) / s,   level = mean_{last k days} log1p(y_input)
    forecast y_hat[h] = expm1(clip(u_hat[h] * s + m, lo, hi) + level)   (>= 0)

with slog(x) = sign(x) log1p(|x|). mu, sd, m, s and the clip range [lo, hi] are fitted on the fold's
training windows only; c = 5 keeps a feature first seen after training (vaccinations that start later)
from blowing up a model's inputs.
"""
from __future__ import annotations

import numpy as np
import torch

from distill.data.windows import RowScaling

CLIP = 5.0


def signed_log(values: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|): log scale for counts, still defined for negative features (mobility, weather)."""
    return np.sign(values) * np.log1p(np.abs(values))


class WindowLogScaler:
    """Scikit-learn style: `fit` on training windows, then `transform_inputs`, `encode_targets`, `decode`.

    `level_days` is how many of the last input days define a window's level (7: one week, so the weekday
    pattern of reporting averages out).
    """

    def __init__(self, target_index: int, level_days: int = 7) -> None:
        self.target_index, self.level_days = target_index, level_days

    def relative_inputs(self, windows: np.ndarray) -> np.ndarray:
        """slog of every window less its level over the last `level_days` days: fold-independent (no fitting)."""
        logged = signed_log(windows.astype(np.float32, copy=False))  # (windows, days, features), float32: memory
        logged -= logged[:, -self.level_days:].mean(axis=1, keepdims=True)
        return logged

    def levels(self, windows: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(windows, 1): mean log1p of the target over the last `level_days` input days (of `rows` only, if given;
        cheaper than passing `windows[rows]`, which copies every feature)."""
        target = windows[:, -self.level_days:, self.target_index]
        target = np.clip((target if rows is None else target[rows]).astype(np.float64), 0, None)
        return np.log1p(target).mean(axis=1, keepdims=True)

    def fit(self, windows: np.ndarray, targets: np.ndarray, rows: np.ndarray | None = None,
            relative: np.ndarray | None = None) -> WindowLogScaler:
        """Fit on the windows at `rows` (default: all) and their targets; `relative`: `relative_inputs(windows)`,
        if already computed."""
        relative = self.relative_inputs(windows) if relative is None else relative
        if rows is not None:
            relative, targets = relative[rows], targets[rows]
        self.input_mean_ = relative.mean(axis=(0, 1), dtype=np.float64)  # (features,)
        self.input_std_ = relative.std(axis=(0, 1), dtype=np.float64)
        self.silent_ = self.input_std_ == 0  # constant on the training windows: carries nothing there
        self.input_std_[self.silent_] = 1.0
        change = np.log1p(np.clip(targets, 0, None)) - self.levels(windows, rows)  # (windows, horizon)
        self.target_mean_ = change.mean(axis=0)  # (horizon,)
        self.target_std_ = float(change.std()) or 1.0
        self.change_range_ = (float(change.min()) - 1.0, float(change.max()) + 1.0)
        return self

    def transform_inputs(self, windows: np.ndarray) -> np.ndarray:
        return self.scaling()(torch.from_numpy(self.relative_inputs(windows))).numpy()

    def scaling(self) -> RowScaling:
        """What turns `relative_inputs` into model inputs, applied lazily to the rows a batch gathers."""
        return RowScaling(torch.from_numpy(self.input_mean_.astype(np.float32)),
                          torch.from_numpy(self.input_std_.astype(np.float32)), torch.from_numpy(self.silent_), CLIP)

    def encode_targets(self, windows: np.ndarray, targets: np.ndarray) -> np.ndarray:
        change = np.log1p(np.clip(targets, 0, None)) - self.levels(windows)
        return ((change - self.target_mean_) / self.target_std_).astype(np.float32)

    def decode(self, windows: np.ndarray, outputs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Model outputs (windows, horizon) -> forecasts in the target's own units; `rows`: which of `windows`
        the outputs are for (default: all)."""
        change = np.clip(outputs * self.target_std_ + self.target_mean_, *self.change_range_)
        return np.expm1(change + self.levels(windows, rows))

    def describe(self, columns: list[str]) -> dict:
        """The fitted scaling as JSON-able data (what a saved model's inputs went through)."""
        return {"scaling": "window_log", "columns": list(columns), "level_days": self.level_days,
                "target_index": self.target_index, "input_mean": self.input_mean_.tolist(),
                "input_std": self.input_std_.tolist(), "zeroed": [c for c, s in zip(columns, self.silent_) if s],
                "target_mean": self.target_mean_.tolist(), "target_std": self.target_std_,
                "change_range": list(self.change_range_), "clip": CLIP}

    @classmethod
    def from_description(cls, description: dict) -> WindowLogScaler:
        """The fitted scaler back from `describe`'s data (a run's `models/scaling-*.json`), without refitting."""
        scaler = cls(int(description["target_index"]), int(description["level_days"]))
        zeroed = set(description["zeroed"])
        scaler.silent_ = np.array([column in zeroed for column in description["columns"]])
        scaler.input_mean_ = np.asarray(description["input_mean"], dtype=np.float64)
        scaler.input_std_ = np.asarray(description["input_std"], dtype=np.float64)
        scaler.target_mean_ = np.asarray(description["target_mean"], dtype=np.float64)
        scaler.target_std_ = float(description["target_std"])
        scaler.change_range_ = tuple(float(v) for v in description["change_range"])
        return scaler

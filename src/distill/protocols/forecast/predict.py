"""Forecasts from a finished forecasting run: a new table -> the next `horizon` days, in the target's own units.

A saved model is served exactly as it was trained: the run's config.yaml says how the table was cleaned
(`data.missing`) and windowed (`input_days`, `horizon`), and `models/scaling-<final|fold<k>>.json` holds the
fitted scaling of the model's own training windows (rebuilt with `from_description`, never refitted on the
new file). The forecast starts the day after the last day of the file that reports the target.

    predictor = distill.load("runs/covid-lstm-...", "student_kd")   # the final model if the run saved one
    predictor.predict(pandas.read_csv("US_TX.csv"))                 # date, forecast (patients/day)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from distill.config import read_recipe, validate_config
from distill.core.train import predict
from distill.data.covid import FREQUENCIES, clean_covid_table
from distill.data.window_scaling import WindowLogScaler
from distill.data.windows import TableScaler
from distill.errors import DistillError
from distill.io.checkpoints import FINAL, FOLDER, load_model, model_label, saved_folds
from distill.protocols.forecast.config import ForecastConfig

SPREAD_NOTE = "fold_min / fold_max: the lowest and highest forecast of the run's fold models (their spread, " \
              "not a calibrated interval)"


class _Served:
    """One saved model and the scaling it was trained with: raw windows -> forecasts in original units."""

    def __init__(self, run_dir: Path, name: str, fold: int | str, data) -> None:
        self.model = load_model(run_dir, name, fold)
        path = run_dir / FOLDER / f"scaling-{model_label(fold)}.json"
        if not path.is_file():
            raise DistillError(f"run {run_dir} has no {path.name}: the scaling its {name!r} expects")
        self.description = json.loads(path.read_text())
        self.columns: list[str] = self.description["columns"]
        self.target_index = self.columns.index(data.target)
        self.scaling, self.target_mode = data.scaling, data.target_mode
        if data.scaling == "window_log":
            self.scaler = WindowLogScaler.from_description(self.description)
            self.nonnegative = True  # log1p of the target: counts
        else:
            self.scaler = TableScaler.from_description(self.description, keep_columns=(self.target_index,))
            self.nonnegative = self.scaler.column_min(self.target_index) >= 0

    def forecast(self, windows: np.ndarray) -> np.ndarray:
        """(windows, input_days, features) raw values in `columns` order -> (windows, horizon), clipped at 0
        where the target was never negative in the model's training data."""
        if self.scaling == "window_log":
            x = torch.from_numpy(self.scaler.transform_inputs(windows))  # (windows, days, features)
            forecasts = self.scaler.decode(windows, predict(self.model, x).numpy())
        else:
            days, features = windows.shape[1:]
            scaled = self.scaler.transform(windows.reshape(-1, features).astype(np.float32))
            x = torch.from_numpy(scaled.reshape(-1, days, features))  # (windows, days, features)
            outputs = predict(self.model, x).numpy()
            if self.target_mode == "change":
                outputs = outputs + x[:, -1, self.target_index:self.target_index + 1].numpy()
            forecasts = outputs * self.scaler.column_range(self.target_index) + self.scaler.column_min(self.target_index)
        return np.clip(forecasts, 0, None) if self.nonnegative else forecasts


class ForecastPredictor:
    """A saved model of a forecasting run, served: `predict(table)` forecasts the days after the table's end.

    `fold` picks the model: "final" (fitted on all the data; the default when the run saved one), or a fold
    model 1..K. `intervals=True` adds the spread of the K fold models' forecasts beside the forecast.
    """

    def __init__(self, run_dir: str | Path, name: str = "student_kd", fold: int | str | None = None,
                 intervals: bool = False) -> None:
        self.run_dir = Path(run_dir)
        config_file = self.run_dir / "config.yaml"
        if not config_file.is_file():
            raise DistillError(f"no config.yaml in {self.run_dir}: not the folder of a finished run")
        self.config = validate_config(read_recipe(str(config_file)), ForecastConfig)
        self.data, self.name = self.config.data, name
        self.fold, folds = saved_folds(self.run_dir, name, fold)
        self.served = _Served(self.run_dir, name, self.fold, self.data)
        self.spread = [_Served(self.run_dir, name, k, self.data) for k in range(1, folds + 1)] if intervals else []

    @property
    def columns(self) -> list[str]:
        """The columns the model reads, in order."""
        return self.served.columns

    def describe(self) -> str:
        """Which model forecasts what, one line."""
        which = "final model (fitted on all the run's data)" if self.fold == FINAL else f"fold {self.fold} model"
        spread = f"; {SPREAD_NOTE}" if self.spread else ""
        return f"{self.name}, {which}: {self.data.horizon} days of {self.data.target}{spread}"

    def predict(self, data: pd.DataFrame | torch.Tensor | np.ndarray) -> pd.DataFrame | torch.Tensor:
        """A table (the v3 layout it was trained on) -> DataFrame of `date` and the forecast (with `fold_min`,
        `fold_max` when asked); or raw windows (batch, input_days, features) in `columns` order -> (batch, horizon)."""
        if isinstance(data, pd.DataFrame):
            return self.forecast_table(data)
        windows = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        expected = (self.data.input_days, len(self.columns))
        if windows.ndim != 3 or windows.shape[1:] != expected:
            raise DistillError(f"windows must be (batch, {expected[0]}, {expected[1]}) raw values in the model's "
                               f"column order, got {tuple(windows.shape)}")
        return torch.from_numpy(self.served.forecast(windows.astype(np.float64)))

    def last_window(self, table: pd.DataFrame) -> tuple[np.ndarray, object]:
        """(1, input_days, features) raw window ending on the table's last day with the target, and that day."""
        clean = clean_covid_table(table, self.data.target, date_column=self.data.date, missing=self.data.missing,
                                  columns=self.columns, freq=self.data.freq)
        days, target = self.data.input_days, clean.target
        if len(clean.frame) < days:
            raise DistillError(f"the data has {len(clean.frame)} days up to its last day with {self.data.target!r}; "
                               f"the model reads the last {days}")
        gaps = np.flatnonzero(np.isnan(target[-days:]))
        if len(gaps):
            day = clean.dates.iloc[len(target) - days + int(gaps[-1])]
            raise DistillError(f"{self.data.target!r} is missing on {_day(day)}, one of the last {days} days the "
                               "model reads: too few complete days at the end of the data")
        return clean.frame.to_numpy(dtype=np.float64)[None, -days:], clean.dates.iloc[-1]

    def forecast_table(self, table: pd.DataFrame) -> pd.DataFrame:
        window, last = self.last_window(table)
        steps = np.arange(1, self.data.horizon + 1)
        step = FREQUENCIES[self.data.freq]
        when = pd.Timestamp(last) + step * steps if isinstance(last, pd.Timestamp) else last + steps
        forecast = pd.DataFrame({"date" if isinstance(last, pd.Timestamp) else "row": when})
        forecast[self.data.target] = self.served.forecast(window)[0]
        if self.spread:
            folds = np.stack([served.forecast(window)[0] for served in self.spread])  # (K, horizon)
            forecast["fold_min"], forecast["fold_max"] = folds.min(axis=0), folds.max(axis=0)
        return forecast


def cv_test_folds(run_dir: str | Path) -> tuple[str, list]:
    """The run's cross-validation test folds rebuilt from its config: the metric's name and, per fold, the
    model inputs of the test windows and a function scoring outputs on them (MAE in the target's units)."""
    # imported here, not at the top: the run module brings the report and figure stack, which serving never needs
    from distill.protocols.forecast.run import load_panel, series_arrays
    from distill.protocols.forecast.windows import minmax_folds, panel_window_table, split_windows, window_log_folds

    config = validate_config(read_recipe(str(Path(run_dir) / "config.yaml")), ForecastConfig)
    data = config.data
    panel, _ = load_panel(config)
    series, _, target_index = series_arrays(panel, config)
    values = series[0][1]
    table = panel_window_table(series, data.input_days, data.horizon)
    splits, _ = split_windows(config, table, panel.first_origin)
    make = window_log_folds if data.scaling == "window_log" else \
        (lambda c, t, i, s: minmax_folds(c, values, t, i, s))
    folds, codecs = make(config, table, target_index, splits)
    tests = []
    for fold, codec, (_, _, test) in zip(folds, codecs, splits):
        x = fold.x_test[torch.arange(len(test))]  # (test windows, days, features)
        score = (lambda outputs, c=codec, rows=test:
                 float(np.abs(np.clip(c.decode(rows, outputs), 0, None) - table.targets[rows]).mean()))
        tests.append((x, score))
    return f"mae_original ({data.target} per {panel.period}, lower is better)", tests


def _day(value) -> str:
    return str(value.date()) if isinstance(value, pd.Timestamp) else f"row {value}"

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
from distill.data.panel import split_long_table
from distill.data.window_scaling import WindowLogScaler
from distill.data.windows import TableScaler
from distill.errors import DistillError
from distill.io.checkpoints import FINAL, FOLDER, load_model, model_input_shape, model_label, saved_folds
from distill.protocols.forecast.config import ForecastConfig
from distill.protocols.forecast.quantiles import ConformalQuantiles, check_levels, hub_frame, point_outputs

INTERVALS = (0.5, 0.8, 0.95)  # central intervals `--intervals` adds: lower_50 / upper_50, ..., lower_95 / upper_95


class _Served:
    """One saved model and the scaling it was trained with: raw windows -> forecasts in original units."""

    def __init__(self, run_dir: Path, name: str, fold: int | str, data, trust_imports: bool = False) -> None:
        self.name, self.model = name, load_model(run_dir, name, fold, trust_imports)
        path = run_dir / FOLDER / f"scaling-{model_label(fold)}.json"
        if not path.is_file():
            raise DistillError(f"run {run_dir} has no {path.name}: the scaling its {name!r} expects")
        self.description = _scaling_description(path, data.target, model_input_shape(run_dir, name)[-1])
        self.columns: list[str] = self.description["columns"]
        self.target_index = self.columns.index(data.target)
        self.scaling, self.target_mode = data.scaling, data.target_mode
        try:
            if data.scaling == "window_log":
                self.scaler = WindowLogScaler.from_description(self.description)
                self.nonnegative = True  # log1p of the target: counts
            else:
                self.scaler = TableScaler.from_description(self.description, keep_columns=(self.target_index,))
                self.nonnegative = self.scaler.column_min(self.target_index) >= 0
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise DistillError(f"{path} is not the {data.scaling} scaling this run wrote ({type(error).__name__}: "
                               f"{error})") from None

    def forecast(self, windows: np.ndarray) -> np.ndarray:
        """(windows, input_days, features) raw values in `columns` order -> (windows, horizon), clipped at 0
        where the target was never negative in the model's training data (a quantile model: its median)."""
        return self.quantiles(windows, point=True)

    def quantiles(self, windows: np.ndarray, point: bool = False) -> np.ndarray:
        """A quantile model's (windows, horizon, levels) forecasts, or with `point` any model's (windows, horizon)."""
        x = self._inputs(windows)
        outputs = predict(self.model, x).numpy()  # (windows, horizon[, levels]) in model units
        if point:
            return self._decode(windows, x, point_outputs(outputs))
        if outputs.ndim != 3:
            raise DistillError(f"{self.name!r} forecasts points, not quantiles: --quantiles needs a run made with "
                               "data.quantiles: hub (use --intervals for conformal intervals of a point model)")
        return np.stack([self._decode(windows, x, outputs[..., j]) for j in range(outputs.shape[-1])], axis=-1)

    def _inputs(self, windows: np.ndarray) -> torch.Tensor:
        if self.scaling == "window_log":
            return torch.from_numpy(self.scaler.transform_inputs(windows))  # (windows, days, features)
        days, features = windows.shape[1:]
        scaled = self.scaler.transform(windows.reshape(-1, features).astype(np.float32))
        return torch.from_numpy(scaled.reshape(-1, days, features))  # (windows, days, features)

    def _decode(self, windows: np.ndarray, x: torch.Tensor, outputs: np.ndarray) -> np.ndarray:
        if self.scaling == "window_log":
            forecasts = self.scaler.decode(windows, outputs)
        else:
            if self.target_mode == "change":
                outputs = outputs + x[:, -1, self.target_index:self.target_index + 1].numpy()
            forecasts = outputs * self.scaler.column_range(self.target_index) + self.scaler.column_min(self.target_index)
        return np.clip(forecasts, 0, None) if self.nonnegative else forecasts


class ForecastPredictor:
    """A saved model of a forecasting run, served: `predict(table)` forecasts the days after the table's end.

    `fold` picks the model: "final" (fitted on all the data; the default when the run saved one), or a fold
    model 1..K. `intervals=True` adds the central 50 / 80 / 95% intervals: a quantile model's own quantiles, or
    for a point model its inner-validation residual quantiles (conformal, from results.json `intervals`).
    `quantiles=True` (quantile models only) gives the Forecast Hub's long format instead (`hub_frame`).
    `trust_imports=True` builds a model results.json names by import path (running that code).
    """

    def __init__(self, run_dir: str | Path, name: str = "student_kd", fold: int | str | None = None,
                 intervals: bool = False, quantiles: bool = False, trust_imports: bool = False) -> None:
        self.run_dir = Path(run_dir)
        config_file = self.run_dir / "config.yaml"
        if not config_file.is_file():
            raise DistillError(f"no config.yaml in {self.run_dir}: not the folder of a finished run")
        self.config = validate_config(read_recipe(str(config_file)), ForecastConfig)
        self.data, self.name = self.config.data, name
        if name == "teacher" and self.data.privileged:
            raise DistillError(f"the teacher of {self.run_dir} reads {', '.join(self.data.privileged)} on the horizon "
                               "days (data.privileged), unknown at forecast time: it cannot be served; serve a student")
        self.fold, _ = saved_folds(self.run_dir, name, fold)
        self.served = _Served(self.run_dir, name, self.fold, self.data, trust_imports)
        self.hub = quantiles
        self.conformal, self.intervals = None, intervals
        quantile_run = self.config.data.quantiles == "hub"
        if quantiles and not quantile_run:
            raise DistillError(f"--quantiles needs quantile forecasts; {self.run_dir} was run with point models "
                               "(rerun with --set data.quantiles=hub, or use --intervals)")
        if intervals and not quantile_run:
            saved = json.loads((self.run_dir / "results.json").read_text()).get("intervals", {})
            if name not in saved:
                raise DistillError(f"{self.run_dir} keeps no calibrated intervals for {name!r} (a run without inner "
                                   "validation, or made before they were kept); rerun it")
            self.conformal = ConformalQuantiles.from_description(saved[name])

    @property
    def columns(self) -> list[str]:
        """The columns the model reads, in order."""
        return self.served.columns

    def describe(self) -> str:
        """Which model forecasts what, one line."""
        which = "final model (fitted on all the run's data)" if self.fold == FINAL else f"fold {self.fold} model"
        label = ""
        if self.intervals:
            label = ("; lower_/upper_50, 80, 95: central intervals from the model's own quantiles (its 0.25-0.75, "
                     "0.1-0.9, 0.025-0.975)" if self.conformal is None else
                     f"; lower_/upper_50, 80, 95: conformal intervals (the model's residual quantiles on "
                     f"{self.conformal.calibration_windows_} inner-validation windows, per horizon day)")
        return f"{self.name}, {which}: {self.data.horizon} days of {self.data.target}{label}"

    def predict(self, data: pd.DataFrame | torch.Tensor | np.ndarray) -> pd.DataFrame | torch.Tensor:
        """A table (the v3 layout it was trained on) -> DataFrame of `date` and the forecast (with `fold_min`,
        `fold_max` when asked); or raw windows (batch, input_days, features) in `columns` order -> (batch, horizon)."""
        if isinstance(data, pd.DataFrame):
            return self.forecast_table(data)
        windows = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
        expected = (self.data.lookback, len(self.columns))
        if windows.ndim != 3 or windows.shape[1:] != expected:
            raise DistillError(f"windows must be (batch, {expected[0]}, {expected[1]}) raw values in the model's "
                               f"column order, got {tuple(windows.shape)}")
        return torch.from_numpy(self.served.forecast(windows.astype(np.float64)))

    def last_window(self, table: pd.DataFrame) -> tuple[np.ndarray, object]:
        """(1, input_days, features) raw window ending on the table's last day with the target, and that day."""
        clean = clean_covid_table(table, self.data.target, date_column=self.data.date, missing=self.data.missing,
                                  columns=self.columns, freq=self.data.freq)
        days, target = self.data.lookback, clean.target
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
        """The next `horizon` periods after the table's end; a long table (the run's `data.series` column) is
        forecast series by series, with the series column first."""
        column = self.data.series
        if column and column in table.columns:
            parts = []
            for name, rows in split_long_table(table, column, "data").items():
                try:
                    forecast = self._forecast_one(rows)
                except DistillError as error:
                    raise DistillError(f"series {name!r}: {error}") from None
                parts.append(forecast.assign(**{column: name})[[column, *forecast.columns]])
            return pd.concat(parts, ignore_index=True)
        return self._forecast_one(table)

    def _forecast_one(self, table: pd.DataFrame) -> pd.DataFrame:
        window, last = self.last_window(table)
        if self.hub:
            if not isinstance(last, pd.Timestamp):
                raise DistillError("the Hub format needs dates; the table has no date column")
            location = str(table["location_key"].dropna().iloc[-1]) if "location_key" in table else "unknown"
            return hub_frame(last.date(), location, self.served.quantiles(window)[0], "hub",
                             target=f"{self.data.target}")
        steps = np.arange(1, self.data.horizon + 1)
        step = FREQUENCIES[self.data.freq]
        when = pd.Timestamp(last) + step * steps if isinstance(last, pd.Timestamp) else last + steps
        forecast = pd.DataFrame({"date" if isinstance(last, pd.Timestamp) else "row": when})
        forecast[self.data.target] = self.served.forecast(window)[0]
        if self.intervals:
            levels = check_levels("hub")
            quantiles = (self.served.quantiles(window) if self.conformal is None
                         else self.conformal.transform(self.served.forecast(window)))[0]  # (horizon, levels)
            for coverage in INTERVALS:
                low, high = levels.index(round((1 - coverage) / 2, 3)), levels.index(round((1 + coverage) / 2, 3))
                forecast[f"lower_{round(coverage * 100)}"] = quantiles[:, low]
                forecast[f"upper_{round(coverage * 100)}"] = quantiles[:, high]
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
    table = panel_window_table(series, data.lookback, data.horizon)
    splits, _ = split_windows(config, table, panel.first_origin)
    make = window_log_folds if data.scaling == "window_log" else \
        (lambda c, t, i, s: minmax_folds(c, values, t, i, s))
    folds, codecs = make(config, table, target_index, splits)
    tests = []
    for fold, codec, (_, _, test) in zip(folds, codecs, splits):
        x = fold.x_test[torch.arange(len(test))]  # (test windows, days, features)
        score = (lambda outputs, c=codec, rows=test:
                 float(np.abs(np.clip(c.decode(rows, point_outputs(outputs)), 0, None) - table.targets[rows]).mean()))
        tests.append((x, score))
    return f"mae_original ({data.target} per {panel.period}, lower is better)", tests


def _scaling_description(path: Path, target: str, features: int) -> dict:
    """A saved scaling file, checked: JSON with one column name per model input, the target among them."""
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DistillError(f"{path} is not JSON ({error}); it should hold the scaling the run fitted") from None
    columns = description.get("columns") if isinstance(description, dict) else None
    if not isinstance(columns, list) or not all(isinstance(column, str) for column in columns):
        raise DistillError(f"{path} has no `columns` list of names; not a scaling file this version wrote")
    if len(columns) != features or target not in columns:
        raise DistillError(f"{path} names {len(columns)} columns ({', '.join(columns[:4])}...); the model reads "
                           f"{features} inputs, the target {target!r} among them")
    return description


def _day(value) -> str:
    return str(value.date()) if isinstance(value, pd.Timestamp) else f"row {value}"

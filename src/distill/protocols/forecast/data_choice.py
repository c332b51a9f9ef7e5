"""The lookback and the feature count chosen on inner validation (issue 19): `data.input_days: auto` (or a list of
candidates) and `data.features: auto`.

Screening model: ridge regression (`distill.core.ridge`, its penalty chosen on the same windows) on the
window_log-scaled windows of the FIRST rolling-origin fit, every candidate (input days L, feature count k) scored
by its mean absolute error, in the target's units, on that fit's inner validation windows. Those lie before
every forecast origin, so no choice reads a test window, and all folds then read one input shape (the
fold-parallel stacking of their models needs it). Inner validation windows are never pooled across fits: a
later fit's lie after an earlier fit's test origins.

Feature ranking, on the fitting windows only: the target first, then the COVID-19 leading indicators, then
the other columns, each group by |correlation| between a column's scaled mean over the input days and the
mean of the scaled target over the horizon; k counts the columns after the target (0: the target alone).
"""
from __future__ import annotations

import numpy as np

from distill.core.ridge import fit_ridge
from distill.data.window_scaling import WindowLogScaler
from distill.errors import DistillError
from distill.protocols.forecast.config import ForecastConfig, ForecastData
from distill.protocols.forecast.windows import panel_window_table, split_windows

LOOKBACKS = (7, 14, 28, 56)  # data.input_days: auto
FEATURE_COUNTS = (0, 5, 10, 20, 45)  # data.features: auto, besides every column

Series = list[tuple[str, np.ndarray, np.ndarray, int, np.ndarray | None]]


def lookback_candidates(data: ForecastData) -> list[int]:
    """The input days to choose among: data.input_days itself when it is an int."""
    if data.input_days == "auto":
        return list(LOOKBACKS)
    return [data.input_days] if isinstance(data.input_days, int) else sorted(set(data.input_days))


def needs_choice(data: ForecastData) -> bool:
    """Whether the run chooses its lookback or its features on inner validation."""
    return not isinstance(data.input_days, int) or data.features == "auto"


def check_data_choice(config: ForecastConfig) -> None:
    """Refuse what the choice cannot be made honestly or at all from, before any data is read."""
    data, cv = config.data, config.cv
    if not needs_choice(data):
        return
    key = "data.features auto" if isinstance(data.input_days, int) else f"data.input_days {data.input_days}"
    if cv.split != "rolling":
        raise DistillError(f"{key} is chosen on the first rolling-origin fit's inner validation windows: it needs "
                           f"cv.split: rolling (got {cv.split})")
    if cv.inner_validation == 0:
        raise DistillError(f"{key} is chosen on inner validation windows: cv.inner_validation is 0; set it above 0 "
                           "(e.g. 0.2)")
    if data.scaling != "window_log":
        raise DistillError(f"{key} screens window_log-scaled windows: data.scaling {data.scaling} needs a fixed "
                           "data.input_days and data.features")
    if data.features == "auto" and data.privileged:
        raise DistillError("data.features auto may leave out the data.privileged columns: name the features")


def choose_data(config: ForecastConfig, series: Series, columns: list[str], leading: list[bool],
                first_origin: int | None) -> tuple[ForecastConfig, dict]:
    """The config with the chosen data.input_days and data.features, and the record of the choice (results.json
    `data_choice`). `series`: every series' (name, values, target, offset, oracle) in `columns` order, the
    target first; `leading`: which columns are COVID-19 leading indicators."""
    data = config.data
    others = len(columns) - 1
    counts = sorted({k for k in FEATURE_COUNTS if k < others} | {others}) if data.features == "auto" else [others]
    scores: dict[tuple[int, int], float] = {}  # (input days, k) -> validation MAE
    rankings: dict[int, list[int]] = {}
    for days in lookback_candidates(data):
        try:
            rankings[days], errors = _screen(config, series, leading, days, counts, first_origin)
        except DistillError as error:
            raise DistillError(f"data.input_days candidate {days}: {error}") from None
        scores.update({(days, k): errors[k] for k in counts})
    best_days, best_k = min(scores, key=lambda key: scores[key])
    chosen = [columns[i] for i in rankings[best_days][:best_k + 1]]
    candidates = [{"input_days": days, "features": k, "validation_mae": mae} for (days, k), mae in scores.items()]
    record = {"chosen_on": "ridge MAE (target units) on the inner validation windows of the first rolling-origin "
                           "fit, before every test origin; features ranked on its fitting windows",
              "input_days": best_days, "features": best_k,
              "columns": chosen if data.features == "auto" else None, "candidates": candidates}
    return with_data_choice(config, record), record


def with_data_choice(config: ForecastConfig, record: dict | None) -> ForecastConfig:
    """`config` with a recorded choice applied (unchanged without one): what the run's models were trained on."""
    if record is None:
        return config
    update: dict = {"input_days": record["input_days"]}
    if record["columns"] is not None:
        update["features"] = record["columns"]
    return config.model_copy(update={"data": config.data.model_copy(update=update)})


def data_choice_line(results: dict) -> list[str]:
    """One line on what inner validation chose (none when nothing was chosen)."""
    record = results.get("data_choice")
    if record is None:
        return []
    chosen = next(entry for entry in record["candidates"] if entry["input_days"] == record["input_days"]
                  and entry["features"] == record["features"])
    tried = sorted({entry["input_days"] for entry in record["candidates"]})
    features = sorted({entry["features"] for entry in record["candidates"]})
    return [f"data chosen on the first fit's inner validation (ridge MAE {chosen['validation_mae']:.4g}): "
            f"input_days {record['input_days']} of {tried}, the target + {record['features']} features of {features}"]


def _screen(config: ForecastConfig, series: Series, leading: list[bool], days: int, counts: list[int],
            first_origin: int | None) -> tuple[list[int], dict[int, float]]:
    """One lookback: the columns ranked on the first fit's fitting windows, and per feature count the ridge's MAE
    on its inner validation windows. Only those windows' values are read."""
    data = config.data
    table = panel_window_table(series, days, data.horizon)
    resolved = config.model_copy(update={"data": data.model_copy(update={"input_days": days})})
    fit, val, _ = split_windows(resolved, table, first_origin)[0][0]
    inputs, targets = table.inputs[fit], table.targets[fit]
    val_inputs, val_targets = table.inputs[val], table.targets[val]
    scaler = WindowLogScaler(0, data.level_days).fit(inputs, targets)
    x, x_val = scaler.transform_inputs(inputs), scaler.transform_inputs(val_inputs)  # (windows, days, features)
    y, y_val = scaler.encode_targets(inputs, targets), scaler.encode_targets(val_inputs, val_targets)
    ranking = rank_columns(x, y, leading)
    errors = {}
    for k in counts:
        keep = ranking[:k + 1]
        ridge = fit_ridge(x[:, :, keep], y, x_val[:, :, keep], y_val)
        forecast = scaler.decode(val_inputs, ridge.predict(x_val[:, :, keep].reshape(len(val), -1)))
        errors[k] = float(np.abs(forecast - val_targets).mean())
    return ranking, errors


def rank_columns(x: np.ndarray, y: np.ndarray, leading: list[bool]) -> list[int]:
    """Column order for the choice: 0 (the target) first, then the leading indicators, then the rest, each by
    |corr(mean of the column over the input days, mean of the target over the horizon)| on these windows; a column
    constant on them scores 0."""
    means, outcome = x.mean(axis=1), y.mean(axis=1)  # (windows, features), (windows,)
    centred, outcome = means - means.mean(axis=0), outcome - outcome.mean()
    scale = np.sqrt((centred ** 2).sum(axis=0) * (outcome ** 2).sum())
    strength = np.abs(np.divide(centred.T @ outcome, scale, out=np.zeros(len(leading)), where=scale > 0))
    order = sorted(range(1, len(leading)), key=lambda i: (not leading[i], -strength[i], i))
    return [0, *order]

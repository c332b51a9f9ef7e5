"""Time-series windows, cross-validation splits and per-fold scaling, shared by every forecasting recipe.

A window starting at day i reads `input_days` days of every feature (days i .. i+input_days-1) and
predicts the target on the next `horizon` days. Windows are strided views of one (days, features)
tensor: no window is ever copied until a batch is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from distill.errors import DistillError

SPLITS = ("blocked", "rolling", "shuffled")


def window_count(days: int, input_days: int, horizon: int) -> int:
    """How many full windows a series of `days` rows holds."""
    return days - input_days - horizon + 1


def make_windows(values: torch.Tensor, target: torch.Tensor, input_days: int,
                 horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Views x (windows, input_days, features) and y (windows, horizon) of a (days, features) table."""
    count = window_count(len(values), input_days, horizon)
    if count < 1:
        raise DistillError(f"the data has {len(values)} rows; a window needs input_days + horizon = "
                           f"{input_days + horizon}")
    x = values[:count + input_days - 1].unfold(0, input_days, 1).transpose(1, 2)  # (windows, days, features)
    y = target[input_days:].unfold(0, horizon, 1)  # (windows, horizon)
    return x, y


class RowScaling:
    """Per-feature scaling applied to windows as they are gathered: (x - mean) / std, the `zeroed` features set
    to 0, then clipped to [-clip, clip]. Lets K folds share one array of unscaled windows instead of holding
    K scaled copies (peak memory); float32 elementwise steps, so the result is the same as scaling up front."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, zeroed: torch.Tensor, clip: float) -> None:
        self.mean, self.std, self.zeroed, self.clip = mean, std, zeroed, clip  # (features,) each

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Scale x (..., features), a fresh copy of the windows, in place."""
        x -= self.mean
        x /= self.std
        x[..., self.zeroed] = 0.0
        return x.clamp_(-self.clip, self.clip)

    def to(self, device: torch.device) -> RowScaling:
        return RowScaling(self.mean.to(device), self.std.to(device), self.zeroed.to(device), self.clip)


class WindowSet:
    """A subset of windows (e.g. one fold's training windows) that copies nothing until a batch is drawn.

    Behaves like the tensor `windows[index]` for what the protocol needs - `len`, `shape`, indexing
    by rows, `split` into batches - while holding only the strided view and the row numbers. With a
    `scaling`, the gathered rows are scaled on the way out (`RowScaling`), so folds share one `windows`.
    """

    def __init__(self, windows: torch.Tensor, index: torch.Tensor, scaling: RowScaling | None = None) -> None:
        self.windows, self.index, self.scaling = windows, index, scaling

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.index), *self.windows.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return self.windows.dtype

    def _scaled(self, rows: torch.Tensor) -> torch.Tensor:
        return rows if self.scaling is None else self.scaling(rows)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self[key[0]][key[1:]]
        rows = self.index[key]
        if rows.dim() == 0:
            return self.windows[rows] if self.scaling is None else self.scaling(self.windows[rows].clone())
        return self._scaled(self.windows.index_select(0, rows))  # gathers only the requested windows (4x faster than [])

    def rows(self, index: torch.Tensor) -> WindowSet:
        """The windows at positions `index` of this set, sharing its windows and scaling."""
        return WindowSet(self.windows, self.index[index], self.scaling)

    def to(self, device: torch.device) -> WindowSet:
        """The same windows on `device` (a no-op on the device they are on)."""
        scaling = None if self.scaling is None else self.scaling.to(device)
        return WindowSet(self.windows.to(device), self.index.to(device), scaling)

    def split(self, size: int) -> list[torch.Tensor]:
        return [self._scaled(self.windows.index_select(0, part)) for part in self.index.split(size)]


def gather_rows(source: torch.Tensor | WindowSet, rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Rows `rows` of a tensor or WindowSet, written straight into `out` (e.g. one fold's slice of a
    stacked batch), so that stacking K folds' batches costs no second copy."""
    if isinstance(source, WindowSet):
        torch.index_select(source.windows, 0, source.index[rows], out=out)
        return source._scaled(out)
    return torch.index_select(source, 0, rows, out=out)


def shuffled_folds(n_windows: int, folds: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The seed's split: KFold with shuffling over overlapping windows (neighbours leak across folds)."""
    from sklearn.model_selection import KFold  # imported here: scikit-learn costs a run ~20 MB of peak memory
    splitter = KFold(n_splits=folds, shuffle=True, random_state=random_state)
    return [(train, test) for train, test in splitter.split(np.arange(n_windows))]


def _starts(n_windows: int, starts: np.ndarray | None) -> np.ndarray:
    """The first day of every window (consecutive days unless windows were dropped)."""
    return np.arange(n_windows) if starts is None else np.asarray(starts)


def blocked_folds(n_windows: int, folds: int, span: int,
                  starts: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous test blocks; training windows that share any day with a test window are purged.

    A window starting on day j covers days j .. j+span-1, so it overlaps the test block of windows starting
    on days a .. b iff a-span < j < b+span. `starts` gives each window's first day (default: window i starts
    on day i); returned indices are positions in the list of windows.
    """
    starts = _starts(n_windows, starts)
    position = np.arange(n_windows)
    splits = []
    for test in np.array_split(position, folds):
        first, last = starts[test[0]], starts[test[-1]]
        train = position[(starts <= first - span) | (starts >= last + span)]
        if len(train) == 0:
            raise DistillError(f"{n_windows} windows are too few for {folds} blocked folds with a purge gap "
                               f"of {span - 1} windows on each side; use fewer folds or more data")
        splits.append((train, test))
    return splits


def rolling_folds(n_windows: int, folds: int, span: int, starts: np.ndarray | None = None,
                  first_origin: float = 0.4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling origin (Tashman 2000, "Out-of-sample tests of forecasting accuracy"): the windows after the first
    `first_origin` share are cut into `folds` consecutive test blocks, and each fold trains only on windows
    that end before its test block begins - never on the future, as a deployed forecaster."""
    starts = _starts(n_windows, starts)
    position = np.arange(n_windows)
    splits = []
    for test in np.array_split(position[int(n_windows * first_origin):], folds):
        train = position[starts <= starts[test[0]] - span]
        if len(train) < 2:
            raise DistillError(f"{n_windows} windows are too few for {folds} rolling-origin folds; use fewer "
                               "folds or more data")
        splits.append((train, test))
    return splits


@dataclass
class OriginBlock:
    """Forecast origins that share one fit: the windows it trains on, and the test windows of its origins."""

    origins: np.ndarray  # (origins,) periods: the first forecast day of each origin
    train: np.ndarray  # positions of the windows whose targets all end before the block's first origin
    test: np.ndarray  # positions of the windows forecasting from one of `origins`
    test_origins: np.ndarray  # (test,) the origin of each test window


def rolling_origins(starts: np.ndarray, input_days: int, horizon: int, first_origin: int, step: int,
                    refit_every: int | None, fits: int = 5) -> list[OriginBlock]:
    """Rolling origin (Tashman 2000, "Out-of-sample tests of forecasting accuracy"), as forecasters deploy: an
    origin every `step` periods from `first_origin` on; the test windows of origin o are those whose first
    forecast day is o (one per series that reports on every day they read); a fit trains only on windows whose
    forecast days all end before its origin. `refit_every` consecutive origins share the fit made at the first
    of them (the later ones are forecast by a model that has not seen the periods between); None: the origins
    are shared out among `fits` fits. `starts` are the windows' first periods, in time order; returned
    positions index them."""
    starts = np.asarray(starts)
    span = input_days + horizon
    window_origins = starts + input_days
    last_origin = int((starts + span - 1).max()) - horizon + 1
    origins = [o for o in range(first_origin, last_origin + 1, step) if (window_origins == o).any()]
    if refit_every is None:
        refit_every = max(1, -(-len(origins) // fits))
    if len(origins) < 2 * refit_every or len(origins) < 2:
        raise DistillError(f"rolling origin: {len(origins)} forecast origins (every {step} periods over the last part "
                           f"of the data) are too few for 2 fits of cv.refit_every={refit_every}; raise "
                           "cv.test_share, lower cv.step or cv.refit_every, or give more data")
    blocks = []
    for first in range(0, len(origins), refit_every):
        chosen = np.array(origins[first:first + refit_every])
        train = np.flatnonzero(starts + span <= chosen[0])
        test = np.flatnonzero(np.isin(window_origins, chosen))
        if len(train) < 4:
            raise DistillError(f"rolling origin: the first origin has {len(train)} windows to train on; lower "
                               "cv.test_share or give more data")
        blocks.append(OriginBlock(chosen, train, test, window_origins[test]))
    return blocks


def inner_validation(train: np.ndarray, span: int, fraction: float,
                     starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Carve (fit, validation) from a fold's training windows: the latest `fraction` of them validate, and
    fitting windows that share a day with them are purged. The test windows are never touched."""
    starts = _starts(int(train.max()) + 1, starts)
    count = max(1, int(round(len(train) * fraction)))
    val = train[-count:]
    fit = train[:-count][starts[train[:-count]] <= starts[val[0]] - span]
    if len(fit) < 2:
        raise DistillError(f"a fold has {len(train)} training windows: too few to keep {fraction:g} of them for "
                           "inner validation with a purge gap; lower cv.inner_validation or use fewer folds")
    return fit, val


def make_folds(n_windows: int, folds: int, split: str, span: int, random_state: int,
               starts: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Dispatch on `cv.split`; checks there are enough windows for the folds."""
    if folds < 2:
        raise DistillError(f"cv.folds must be at least 2, got {folds}")
    if n_windows < 2 * folds:
        raise DistillError(f"{n_windows} windows are too few for {folds} folds; need at least {2 * folds}")
    if split == "blocked":
        return blocked_folds(n_windows, folds, span, starts)
    if split == "rolling":
        return rolling_folds(n_windows, folds, span, starts)
    if split == "shuffled":
        return shuffled_folds(n_windows, folds, random_state)
    raise DistillError(f"unknown cv.split {split!r}; allowed: {', '.join(SPLITS)}")


def covered_days(window_indices: np.ndarray, span: int) -> np.ndarray:
    """Sorted unique day indices that the given windows read or predict."""
    return np.unique((window_indices[:, None] + np.arange(span)[None, :]).ravel())


@dataclass
class TableScaler:
    """MinMax scaling to [0, 1] of every column, fitted on chosen rows only (scikit-learn style).

    A column that is constant on the fitted rows carries no information there; it is set to 0 rather
    than passed through raw, so values first seen in a test period (say, vaccinations that start
    later) cannot blow up a model's inputs. Columns in `keep_columns` (the target) are never zeroed.
    """

    keep_columns: tuple[int, ...] = ()

    def fit(self, table: np.ndarray, rows: np.ndarray | None = None) -> TableScaler:
        from sklearn.preprocessing import MinMaxScaler  # imported here: see `shuffled_folds`
        self.scaler_ = MinMaxScaler().fit(table if rows is None else table[rows])
        self.silent_ = self.scaler_.data_range_ == 0
        self.silent_[list(self.keep_columns)] = False
        return self

    def transform(self, table: np.ndarray) -> np.ndarray:
        scaled = np.ascontiguousarray(self.scaler_.transform(table), dtype=np.float32)  # row-major: a window's
        scaled[:, self.silent_] = 0.0  # days are then contiguous, and batches gather 4x faster than column-major
        return scaled

    def describe(self, columns: list[str]) -> dict:
        """The fitted scaling as JSON-able data: x_scaled = (x - min) / range, and 0 in the zeroed columns."""
        return {"columns": list(columns), "min": self.scaler_.data_min_.tolist(),
                "range": self.scaler_.data_range_.tolist(),
                "zeroed": [name for name, silent in zip(columns, self.silent_) if silent]}

    @classmethod
    def from_description(cls, description: dict, keep_columns: tuple[int, ...] = ()) -> TableScaler:
        """The fitted scaler back from `describe`'s data (a run's `models/scaling-*.json`), without refitting."""
        from sklearn.preprocessing import MinMaxScaler  # imported here: see `shuffled_folds`
        data_min = np.asarray(description["min"], dtype=np.float64)
        data_range = np.asarray(description["range"], dtype=np.float64)
        scaler = cls(keep_columns)
        scaler.scaler_ = MinMaxScaler()
        scaler.scaler_.n_features_in_ = len(data_min)
        scaler.scaler_.data_min_, scaler.scaler_.data_range_ = data_min, data_range
        scaler.scaler_.data_max_ = data_min + data_range
        scaler.scaler_.scale_ = 1.0 / np.where(data_range == 0, 1.0, data_range)
        scaler.scaler_.min_ = -data_min * scaler.scaler_.scale_
        zeroed = set(description["zeroed"])
        scaler.silent_ = np.array([column in zeroed for column in description["columns"]])
        return scaler

    def column_range(self, column: int) -> float:
        """Width of the fitted range of one column: multiply a scaled error by it for original units."""
        return float(self.scaler_.data_range_[column]) or 1.0

    def column_min(self, column: int) -> float:
        """Fitted minimum of one column: the original value that scales to 0."""
        return float(self.scaler_.data_min_[column])

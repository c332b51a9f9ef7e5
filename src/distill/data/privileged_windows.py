"""Samples for learning with privileged time-series information: what the student and the teacher read at time t.

A sample is anchored at time t, the last row the student reads. The student reads rows t - L + 1 .. t of its
columns (the target and the non-privileged features): only what exists when the prediction is made. The
teacher may also read privileged cells: future rows (t + 1 .. t + k - 1, or chosen offsets around the target
time t + k, e.g. the verified Mackey-Glass setup's t+k-2, t+k-1, t+k+1, t+k+2) and privileged columns
(sensors that are not there when the model runs). Targets: the direction 1[x(t+k) > x(t)] or the value x(t+k).
`ChangeEncoder` optionally re-encodes every row but t as its change from row t.

`SampleLayout` records rows (relative to t) and column indices per role; `gather` reads them from a table as
(samples, rows, columns) tensors. Sample j is anchored at t = j + first, so sample j covers rows
j .. j + span - 1 of the table, the convention `make_folds` needs for its purge gap.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from distill.errors import DistillError


@dataclass(frozen=True)
class SampleLayout:
    """Rows relative to the anchor t and column indices that each role reads; the target is at t + horizon."""

    student_rows: tuple[int, ...]
    student_columns: tuple[int, ...]
    teacher_rows: tuple[int, ...]
    teacher_columns: tuple[int, ...]
    target_column: int
    horizon: int

    @property
    def first(self) -> int:
        """How many rows before t a sample reads."""
        return -min((*self.student_rows, *self.teacher_rows))

    @property
    def last(self) -> int:
        """How many rows after t a sample reads (the target's, or a privileged row beyond it)."""
        return max((self.horizon, *self.teacher_rows))

    @property
    def span(self) -> int:
        """Rows covered by one sample."""
        return self.first + self.last + 1

    def sample_count(self, rows: int) -> int:
        return rows - self.span + 1

    def anchors(self, samples: np.ndarray) -> np.ndarray:
        """The anchor time t of each sample index."""
        return samples + self.first


def future_rows(horizon: int, offsets: Sequence[int] | None) -> tuple[int, ...]:
    """Privileged rows relative to t: every row strictly between t and t + k, or t + k + offset."""
    if offsets is None:
        if horizon < 2:
            raise DistillError(f"horizon {horizon} leaves no rows between the input window and the target; "
                               "set privileged.offsets (relative to the target time, each > -horizon)")
        return tuple(range(1, horizon))
    early = [offset for offset in offsets if horizon + offset < 1]
    if early:
        raise DistillError(f"privileged offset {early[0]} at horizon {horizon} points at time "
                           f"t{horizon + early[0]:+d}, which the student may see; allowed: offsets > -{horizon}")
    return tuple(sorted({horizon + offset for offset in offsets}))


def column_indices(columns: Sequence[str], names: Sequence[str], role: str) -> tuple[int, ...]:
    """Indices of `names` in `columns`; a name that is not there is a DistillError naming the role."""
    missing = [name for name in names if name not in columns]
    if missing:
        raise DistillError(f"{role} column {missing[0]!r} is not in the data; available: {', '.join(columns)}")
    return tuple(list(columns).index(name) for name in names)


def make_layout(columns: Sequence[str], target: str, features: Sequence[str], privileged_columns: Sequence[str],
                kind: str, offsets: Sequence[int] | None, teacher_sees: str, input_length: int,
                horizon: int) -> SampleLayout:
    """Who reads what: see the module docstring. kind: future | columns | both; teacher_sees: all | privileged."""
    student_names = list(dict.fromkeys([target, *features]))
    shared = [name for name in privileged_columns if name in student_names]
    if shared:
        raise DistillError(f"privileged column {shared[0]!r} is also a student input (target or data.features); "
                           "a column is either privileged or not")
    student_columns = column_indices(columns, student_names, "student")
    hidden_columns = column_indices(columns, privileged_columns, "privileged")
    window = tuple(range(1 - input_length, 1))
    future = future_rows(horizon, offsets) if kind in ("future", "both") else ()
    if teacher_sees == "privileged":
        teacher_rows, teacher_columns = (future, student_columns) if kind == "future" else (window, hidden_columns)
    else:
        teacher_rows, teacher_columns = window + future, student_columns + hidden_columns
    return SampleLayout(student_rows=window, student_columns=student_columns, teacher_rows=teacher_rows,
                        teacher_columns=teacher_columns, target_column=student_columns[0], horizon=horizon)


def valid_samples(table: np.ndarray, layout: SampleLayout) -> np.ndarray:
    """Boolean mask over samples: True where every cell the sample reads (inputs, target) is a number."""
    count = layout.sample_count(len(table))
    columns = sorted({*layout.student_columns, *layout.teacher_columns})
    finite = np.isfinite(table[:, columns]).all(axis=1)  # (rows,)
    read = sorted({*layout.student_rows, *layout.teacher_rows, layout.horizon})
    anchors = layout.anchors(np.arange(max(count, 0)))
    return np.all([finite[anchors + row] for row in read], axis=0) if count > 0 else np.zeros(0, dtype=bool)


def gather(table: torch.Tensor, anchors: torch.Tensor, rows: Sequence[int], columns: Sequence[int]) -> torch.Tensor:
    """(samples, len(rows), len(columns)): table[t + row, column] for each anchor t."""
    index = anchors[:, None] + torch.tensor(rows)[None, :]  # (samples, rows)
    return table[:, list(columns)][index]


def direction_targets(table: np.ndarray, anchors: np.ndarray, layout: SampleLayout) -> torch.Tensor:
    """1[x(t+k) > x(t)] of the target column, (samples,) int64."""
    values = table[:, layout.target_column]
    return torch.from_numpy((values[anchors + layout.horizon] > values[anchors]).astype(np.int64))


def value_targets(table: torch.Tensor, anchors: torch.Tensor, layout: SampleLayout) -> torch.Tensor:
    """x(t+k) of the target column, (samples, 1)."""
    return table[anchors + layout.horizon, layout.target_column].unsqueeze(1)


@dataclass
class ChangeEncoder:
    """Rows other than t as changes from row t of the same column, divided by their training std; row t kept.

    An invertible linear map of the inputs: the same information and, for linear models, the same function
    class. Lagged values of a smooth series are nearly collinear, so a logistic regression on them needs
    thousands of Adam steps; on changes it converges in a few hundred. Fitted on training samples only
    (scikit-learn style); `anchor` is the position of row t among the role's rows.
    """

    anchor: int

    def _changes(self, x: torch.Tensor) -> torch.Tensor:
        return x - x[:, self.anchor:self.anchor + 1]  # (samples, rows, columns)

    def fit(self, x: torch.Tensor) -> ChangeEncoder:
        self.scale_ = self._changes(x).std(dim=0).clamp_min(1e-8)  # (rows, columns)
        self.scale_[self.anchor] = 1.0
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self._changes(x) / self.scale_
        encoded[:, self.anchor] = x[:, self.anchor]
        return encoded


def anchor_position(rows: Sequence[int], role: str) -> int:
    """Where row t is among a role's rows; change encoding needs it."""
    if 0 not in rows:
        raise DistillError(f"target.inputs 'changes' needs row t among the {role}'s rows; with "
                           "privileged.teacher_sees 'privileged' and kind 'future' use target.inputs 'levels'")
    return list(rows).index(0)

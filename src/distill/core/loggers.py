"""What a fit shows and records per epoch: the progress display of `Distiller.fit` and the loggers
(`CSVLogger`, always available; `TensorBoardLogger`, with the `tensorboard` extra), which are callbacks.

The recipes' `train.log: csv|tensorboard` writes the same files into the run folder (`logging_to`), one row
(or scalar) per epoch of every training loop, named by what it trains (`distill.core.resume.UnitKey`).
Epochs are numbered from 1 everywhere. Only rank 0 writes.
"""
from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from distill.core.callbacks import Callback
from distill.errors import DistillError
from distill.io.atomic import atomic_open

LOGS = ("none", "csv", "tensorboard")


class Fitting(Protocol):
    """What a logger reads of the `distill.Distiller` running it."""

    rank_: int
    history_: dict[str, list[float]]


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


class Progress(Callback):
    """The fit's progress: a tqdm bar over the epochs on a terminal (the epoch's loss and validation scores
    beside it), else one line per epoch on stderr (`epoch 3/20: loss 0.41, val_accuracy 0.95 (0.8 s)`).
    `Distiller.fit(progress=...)` adds it: None (default) picks by whether stderr is a terminal, False
    shows nothing."""

    def __init__(self, epochs: int, terminal: bool | None = None) -> None:
        self.epochs = epochs
        self.terminal = sys.stderr.isatty() if terminal is None else terminal

    def on_fit_start(self, distiller: Fitting) -> None:
        self.bar: Any = None
        if self.terminal and distiller.rank_ == 0:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.epochs, unit="epoch", leave=False)
        self.last = time.perf_counter()

    def on_epoch_end(self, distiller: Fitting, epoch: int, logs: dict[str, float]) -> None:
        if distiller.rank_ != 0:
            return
        shown = {key: value for key, value in logs.items() if key == "loss" or key.startswith("val_")}
        if self.bar is not None:
            self.bar.n = epoch
            self.bar.set_postfix({key: _number(value) for key, value in shown.items()})
            return
        now, start = time.perf_counter(), self.last
        self.last = now
        text = ", ".join(f"{key} {_number(value)}" for key, value in shown.items())
        print(f"epoch {epoch}/{self.epochs}: {text} ({now - start:.1f} s)", file=sys.stderr, flush=True)

    def on_fit_end(self, distiller: Fitting) -> None:
        if self.bar is not None:
            self.bar.close()


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text, the columns in the order they first appear."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


class CSVLogger(Callback):
    """The history, one row per epoch (`epoch`, `loss`, its terms, `lr`, `val_*`), written to `path` after
    every epoch (atomically: the whole file is rewritten, so a killed fit leaves a complete one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, distiller: Fitting, epoch: int, logs: dict[str, float]) -> None:
        if distiller.rank_ != 0:
            return
        history = distiller.history_
        rows = [{key: values[i] for key, values in history.items() if i < len(values)}
                for i in range(len(history["epoch"]))]
        with atomic_open(self.path, newline="") as out:
            out.write(csv_text(rows))


def require_tensorboard(what: str) -> None:
    """Refuse in one line, before any training, when the `tensorboard` package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise DistillError(f"{what} needs the tensorboard package: pip install 'distill[tensorboard]'") from None


def summary_writer(log_dir: Path, purge_step: int | None = None) -> Any:
    """torch's TensorBoard `SummaryWriter` (the `tensorboard` package, the `tensorboard` extra)."""
    require_tensorboard("TensorBoard logging")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir), purge_step=purge_step)


class TensorBoardLogger(Callback):
    """Every number of an epoch's logs as a TensorBoard scalar at step `epoch`, in `log_dir` (`tensorboard
    --logdir DIR`). A resumed fit first drops the scalars a killed one wrote after its checkpoint."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def on_fit_start(self, distiller: Fitting) -> None:
        if distiller.rank_ == 0:
            require_tensorboard("TensorBoardLogger")
        self.writer = None

    def on_epoch_end(self, distiller: Fitting, epoch: int, logs: dict[str, float]) -> None:
        if distiller.rank_ != 0:
            return
        if self.writer is None:
            self.writer = summary_writer(self.log_dir, purge_step=epoch)
        for key, value in logs.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def on_fit_end(self, distiller: Fitting) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class RecipeLog:
    """The recipes' `train.log`: per epoch of every training loop, its mean training loss and seconds, in
    `<run folder>/logs/train.csv` (`csv`) or `<run folder>/logs/tensorboard/<role>-fold<fold>-member<member>`
    (`tensorboard`)."""

    def __init__(self, folder: Path, kind: str) -> None:
        self.folder, self.kind = folder, kind
        self.rows: list[dict[str, Any]] = []
        self.writers: dict[tuple, Any] = {}

    def epoch(self, unit: tuple[str, int | str, int], epoch: int, loss: float, seconds: float) -> None:
        """Record epoch `epoch` (from 1) of the training loop `unit` = (role, fold, member)."""
        role, fold, member = unit
        if self.kind == "csv":
            self.rows.append({"model": role, "fold": fold, "member": member, "epoch": epoch, "loss": loss,
                              "seconds": round(seconds, 4)})
            with atomic_open(self.folder / "train.csv", newline="") as out:
                out.write(csv_text(self.rows))
            return
        if unit not in self.writers:
            self.writers[unit] = summary_writer(self.folder / "tensorboard" / f"{role}-fold{fold}-member{member}",
                                                purge_step=epoch)
        self.writers[unit].add_scalar("loss", loss, epoch)
        self.writers[unit].add_scalar("seconds", seconds, epoch)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


_active: RecipeLog | None = None


def recipe_log() -> RecipeLog | None:
    """The running recipe's log, or None (no `train.log`, library use)."""
    return _active


@contextmanager
def logging_to(folder: Path, kind: str) -> Iterator[None]:
    """Log every training loop of the block into `folder` as `kind` (`LOGS`; "none" logs nothing)."""
    global _active
    if kind not in LOGS:
        raise DistillError(f"train.log {kind!r} is not one of {', '.join(LOGS)}")
    if kind == "tensorboard":
        require_tensorboard("train.log: tensorboard")
    if kind == "none":
        yield
        return
    _active = RecipeLog(folder, kind)
    try:
        yield
    finally:
        _active.close()
        _active = None

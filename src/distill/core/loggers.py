"""What a fit shows and records per epoch: the progress display of `Distiller.fit` and the loggers
(`CSVLogger`, always available; `TensorBoardLogger`, with the `tensorboard` extra), which are callbacks.

The recipes' `train.log: csv|tensorboard` writes the same kinds of files into the run folder
(`distill.core.run_log`). Epochs are numbered from 1 everywhere. Only rank 0 writes.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from distill.core.callbacks import Callback, Distiller
from distill.core.run_log import csv_text, require_tensorboard, summary_writer
from distill.io.atomic import atomic_open


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

    def on_fit_start(self, distiller: Distiller) -> None:
        self.bar: Any = None
        if self.terminal and distiller.rank_ == 0:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.epochs, unit="epoch", leave=False)
        self.last = time.perf_counter()

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
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

    def on_fit_end(self, distiller: Distiller) -> None:
        if self.bar is not None:
            self.bar.close()


class CSVLogger(Callback):
    """The history, one row per epoch (`epoch`, `loss`, its terms, `lr`, `val_*`), written to `path` after
    every epoch (atomically: the whole file is rewritten, so a killed fit leaves a complete one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
        if distiller.rank_ != 0:
            return
        history = distiller.history_
        rows = [{key: values[i] for key, values in history.items() if i < len(values)}
                for i in range(len(history["epoch"]))]
        with atomic_open(self.path, newline="") as out:
            out.write(csv_text(rows))


class TensorBoardLogger(Callback):
    """Every number of an epoch's logs as a TensorBoard scalar at step `epoch`, in `log_dir` (`tensorboard
    --logdir DIR`). A resumed fit first drops the scalars a killed one wrote after its checkpoint."""

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def on_fit_start(self, distiller: Distiller) -> None:
        if distiller.rank_ == 0:
            require_tensorboard("TensorBoardLogger")
        self.writer = None

    def on_epoch_end(self, distiller: Distiller, epoch: int, logs: dict[str, float]) -> None:
        if distiller.rank_ != 0:
            return
        if self.writer is None:
            self.writer = summary_writer(self.log_dir, purge_step=epoch)
        for key, value in logs.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def on_fit_end(self, distiller: Distiller) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

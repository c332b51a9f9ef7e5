"""The recipes' training log, `train.log: none|csv|tensorboard` (default none): per epoch of every training loop,
its mean training loss and its seconds, written while the run trains and moved into the run folder when it is
published, as `<run folder>/logs/train.csv` (columns model, fold, member, epoch, loss, seconds) or
`<run folder>/logs/tensorboard/<model>-fold<fold>-member<member>/` (`tensorboard --logdir <run folder>/logs`).

A training loop is named by what it trains (`distill.core.resume.UnitKey`: role, fold or "stack", member); a
fold-parallel stack logs the sum of its folds' losses. While the run trains, the log lives beside the output
folder in `.<name>.logs/` (watch it live); a killed run leaves it there, `--resume` continues it (an epoch logged
twice keeps its last row), a run without --resume starts it afresh, and a user error deletes it. Epochs are
numbered from 1. Only rank 0 of a multi-process run writes. The same kinds of files as
`distill.core.loggers.CSVLogger` / `TensorBoardLogger`.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distill.errors import DistillError
from distill.io.atomic import atomic_open

LOGS = ("none", "csv", "tensorboard")
CSV_NAME = "train.csv"


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text, the columns in the order they first appear."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def require_tensorboard(what: str) -> None:
    """Refuse in one line, before any training, when the `tensorboard` package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise DistillError(f"{what} needs the tensorboard package: pip install 'distill[tensorboard]'")


def summary_writer(log_dir: Path, purge_step: int | None = None) -> Any:
    """torch's TensorBoard `SummaryWriter` (the `tensorboard` package, the `tensorboard` extra); `purge_step`
    drops what an earlier, killed writer logged from that step on."""
    require_tensorboard("TensorBoard logging")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir), purge_step=purge_step)


class RunLog:
    """One run's training log in `folder`, as `kind` ("csv" or "tensorboard")."""

    def __init__(self, folder: Path, kind: str) -> None:
        self.folder, self.kind = folder, kind
        self.rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.writers: dict[tuple[str, int | str, int], Any] = {}
        earlier = folder / CSV_NAME
        if kind == "csv" and earlier.is_file():  # a killed run's log, continued by --resume
            for row in csv.DictReader(earlier.open(newline="")):
                self.rows[row["model"], row["fold"], row["member"], row["epoch"]] = row

    def epoch(self, unit: tuple[str, int | str, int], epoch: int, loss: float, seconds: float) -> None:
        """Record epoch `epoch` (from 1) of the training loop `unit` = (role, fold, member)."""
        role, fold, member = unit
        if self.kind == "csv":
            row = {"model": role, "fold": fold, "member": member, "epoch": epoch, "loss": loss,
                   "seconds": round(seconds, 4)}
            self.rows[role, str(fold), str(member), str(epoch)] = row
            self._write_csv()
            return
        if unit not in self.writers:
            self.writers[unit] = summary_writer(self.folder / "tensorboard" / f"{role}-fold{fold}-member{member}",
                                                purge_step=epoch)
        self.writers[unit].add_scalar("loss", loss, epoch)
        self.writers[unit].add_scalar("seconds", seconds, epoch)

    def merge(self, rows: dict[tuple[str, str, str, str], dict[str, Any]]) -> None:
        """Take in the CSV rows a worker process logged (`distill.core.workers`), and write the file again."""
        if self.kind == "csv" and rows:
            self.rows.update(rows)
            self._write_csv()

    def _write_csv(self) -> None:
        with atomic_open(self.folder / CSV_NAME, newline="") as out:
            out.write(csv_text(list(self.rows.values())))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


_active: RunLog | None = None


def run_log() -> RunLog | None:
    """The running recipe's log, or None (`train.log: none`, library use)."""
    return _active


def live_folder(out_dir: Path) -> Path:
    """`.<name>.logs` beside `out_dir`: the log while the run trains."""
    return out_dir.parent / f".{out_dir.name}.logs"


@contextmanager
def logging_to(out_dir: Path, kind: str, resume: bool = False) -> Iterator[None]:
    """Log every training loop of the block as `kind` (`LOGS`; "none" logs nothing); when the block ends with
    the run published at `out_dir`, the log moves to `out_dir/logs`."""
    global _active
    if kind not in LOGS:
        raise DistillError(f"train.log {kind!r} is not one of {', '.join(LOGS)}")
    if kind == "none":
        yield
        return
    if kind == "tensorboard":
        require_tensorboard("train.log: tensorboard")
    folder = live_folder(out_dir)
    if not resume:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    _active = RunLog(folder, kind)
    try:
        yield
    except DistillError:  # a user error: running again fails the same way, nothing to continue
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        _active.close()
        _active = None
    if out_dir.is_dir():
        shutil.rmtree(out_dir / "logs", ignore_errors=True)
        folder.rename(out_dir / "logs")

"""Generated CIFAR-100 binary files for the tests: random pixels in the real format (coarse label byte, fine label
byte, 3072 pixel bytes as R, G, B planes), so the loader and cifar100-zoo run end to end without the data set."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# cifar100-zoo at tiny scale on `write_cifar100`'s files: 2 seeds, 2 epochs, a few channels, a short schedule
TINY = ["seeds=2", "train.epochs=2", "train.batch_size=32", "split.validation=0.2", "teacher.options.depth=8",
        "teacher.options.channels=[4,4,8,8]", "student.options.channels=[4,4,4,8]", "optimizer.milestones=[1]",
        "methods.crd.settings.negatives=16", "methods.crd.settings.dim=8", "methods.dkd.settings.warmup=2"]


def cifar_records(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 3074) uint8 records: coarse label fine // 5, fine label, random pixels."""
    records = np.empty((len(labels), 3074), dtype=np.uint8)
    records[:, 0], records[:, 1] = labels // 5, labels
    records[:, 2:] = np.random.default_rng(seed).integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    return records


def write_cifar100(folder: Path, train: int = 600, test: int = 200) -> Path:
    """train.bin and test.bin in `folder`, every fine class in turn (600 training rows: 6 per class)."""
    folder.mkdir(parents=True, exist_ok=True)
    cifar_records(np.arange(train) % 100, seed=1).tofile(folder / "train.bin")
    cifar_records(np.arange(test) % 100, seed=2).tofile(folder / "test.bin")
    return folder

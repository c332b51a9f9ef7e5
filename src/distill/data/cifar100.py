"""CIFAR-100 from its binary version (Krizhevsky 2009; `cifar-100-binary.tar.gz` from
https://www.cs.toronto.edu/~kriz/cifar.html, unpacked: `train.bin`, `test.bin`), read without pickle.

Each record is 3074 bytes: the coarse label (0..19), the fine label (0..99), then 3072 pixel bytes, the red,
green and blue 32x32 planes in turn, rows top to bottom. The fine labels are the classes. Pixels are scaled to
[0, 1] and standardised per channel with the training set's mean and std as the KD benchmarks do (CRD,
mdistiller: mean 0.5071, 0.4865, 0.4409; std 0.2673, 0.2564, 0.2762), unless `mean` / `std` are given.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.errors import DistillError

RECORD = 2 + 3 * 32 * 32  # coarse label, fine label, R, G, B planes
CLASSES = 100
MEAN = (0.5071, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2762)
FILES = ("train.bin", "test.bin")


def read_cifar100_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary file -> (N, 3, 32, 32) uint8 images and (N,) int64 fine labels."""
    if not path.is_file():
        raise DistillError(f"no CIFAR-100 file {path}; data.path must be the folder of train.bin and test.bin "
                           "(cifar-100-binary.tar.gz unpacked)")
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise DistillError(f"{path} is {size:,} bytes, not a whole number of {RECORD}-byte CIFAR-100 records "
                           "(coarse label, fine label, 3072 pixels): not the binary version, or cut short")
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD)  # (N, 3074)
    labels = records[:, 1].astype(np.int64)
    if labels.max() >= CLASSES or records[:, 0].max() >= 20:
        raise DistillError(f"{path} holds labels outside CIFAR-100's (fine {int(labels.max())} of 0..99, coarse "
                           f"{int(records[:, 0].max())} of 0..19): not a CIFAR-100 binary file")
    return records[:, 2:].reshape(-1, 3, 32, 32), labels


def load_cifar100(folder: str | Path, mean: list[float] | None = None,
                  std: list[float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): float32 (N, 3, 32, 32) standardised images and int64 fine labels."""
    root = Path(folder)
    if not root.is_dir():
        raise DistillError(f"data.path {folder} is not a folder; it must hold CIFAR-100's train.bin and test.bin")
    (x_train, y_train), (x_test, y_test) = (read_cifar100_bin(root / name) for name in FILES)
    centre = np.asarray(MEAN if mean is None else mean, dtype=np.float32).reshape(1, -1, 1, 1)
    scale = np.asarray(STD if std is None else std, dtype=np.float32).reshape(1, -1, 1, 1)
    if centre.size != 3 or scale.size != 3 or not (scale > 0).all():
        raise DistillError(f"data.mean and data.std for CIFAR-100 are 3 numbers each (std > 0), got {mean} and {std}")

    def standardised(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) / 255.0 - centre) / scale

    return standardised(x_train), y_train, standardised(x_test), y_test

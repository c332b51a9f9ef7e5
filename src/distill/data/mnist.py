"""MNIST from its four IDX files (LeCun et al.), plain or gzipped, in a folder the user names.

`download_mnist` fetches the gzipped files once into that folder (each written to a temporary
file, then renamed, so an interrupted download never leaves a half file); `load_mnist` never
touches the network. IDX format: two zero bytes, a type code, the number of dimensions, each
dimension as a big-endian int32, then the values in C order.
"""
from __future__ import annotations

import gzip
import math
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from distill.errors import DistillError
from distill.io.atomic import download_atomic

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = 10
MAX_IDX_BYTES = 1 << 30  # the largest IDX file read (MNIST's largest is 47 MB); checked before reading it all
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped when its name ends in .gz) into an array of its stored shape and type.

    The header is read first and the body only up to the size it declares (at most `MAX_IDX_BYTES`), so a
    gzip bomb is refused after inflating no more than the file claims to hold."""
    opener = gzip.open if path.suffix == ".gz" else open
    if path.stat().st_size > MAX_IDX_BYTES:
        raise DistillError(f"{path} is {path.stat().st_size:,} bytes; IDX files up to {MAX_IDX_BYTES:,} are read")
    try:
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES:
                raise DistillError(f"{path} is not an IDX file: bad magic number {magic.hex() or 'missing'}; "
                                   "expected 0000 then a type code (08 for unsigned bytes) and the dimension count")
            dtype, ndim = np.dtype(IDX_TYPES[magic[2]]), magic[3]
            dims = handle.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DistillError(f"{path} is a corrupt IDX file: {4 + len(dims)} bytes cannot hold a {ndim}-D header")
            shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4", count=ndim))
            declared = dtype.itemsize * math.prod(shape)
            if declared > MAX_IDX_BYTES:
                raise DistillError(f"{path} declares shape {shape} ({declared:,} bytes); IDX files up to "
                                   f"{MAX_IDX_BYTES:,} are read")
            body = handle.read(declared + 1)  # one byte more: a longer file (or a gzip bomb) is refused here
    except (OSError, EOFError, zlib.error) as error:
        raise DistillError(f"cannot read IDX file {path}: {error}") from error
    if len(body) != declared:
        raise DistillError(f"{path} is a corrupt IDX file: header says shape {shape} "
                           f"({4 + 4 * ndim + declared} bytes), the file has "
                           f"{4 + 4 * ndim + len(body)}{' or more' if len(body) > declared else ''} bytes")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def find_idx_file(folder: Path, name: str) -> Path:
    """The plain or gzipped copy of an IDX file in the folder."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DistillError(f"MNIST file {name} (or {name}.gz) not found in {folder}; "
                       "put the four IDX files there or call download_mnist")


def read_images(path: Path) -> np.ndarray:
    """(N, 1, rows, cols) float32 in [0, 1] from an unsigned-byte idx3 file."""
    images = read_idx(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DistillError(f"{path} is not an MNIST image file: expected 3-D unsigned bytes, "
                           f"got {images.ndim}-D {images.dtype}")
    return (images.astype(np.float32) / 255.0)[:, None]  # (N, 1, rows, cols)


def read_labels(path: Path) -> np.ndarray:
    """(N,) int64 labels from an unsigned-byte idx1 file."""
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DistillError(f"{path} is not an MNIST label file: expected 1-D unsigned bytes, "
                           f"got {labels.ndim}-D {labels.dtype}")
    return labels.astype(np.int64)


def load_split(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the `train` or `test` part, checked to have the same number of examples."""
    images_path = find_idx_file(folder, FILES[f"{part}_images"])
    labels_path = find_idx_file(folder, FILES[f"{part}_labels"])
    x, y = read_images(images_path), read_labels(labels_path)
    if len(x) == 0:
        raise DistillError(f"MNIST {part} file {images_path.name} holds 0 images")
    if y.max(initial=0) >= CLASSES:
        row = int(np.argmax(y >= CLASSES))
        raise DistillError(f"MNIST {part} labels in {labels_path.name}: label {int(y[row])} at row {row + 1}; "
                           f"MNIST labels are 0..{CLASSES - 1}")
    if len(x) != len(y):
        raise DistillError(f"MNIST {part} files disagree: {images_path.name} has {len(x)} images, "
                           f"{labels_path.name} has {len(y)} labels")
    return x, y


def load_mnist(folder: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,)."""
    folder = Path(folder)
    x_train, y_train = load_split(folder, "train")
    x_test, y_test = load_split(folder, "test")
    return x_train, y_train, x_test, y_test


def download_mnist(folder: str | Path, base_url: str = MNIST_URL, timeout: float = 60.0) -> Path:
    """Download the four gzipped IDX files into `folder` unless a plain or gzipped copy is already there.

    Returns the folder, ready for `load_mnist`. Offline or a bad URL raises a one-line DistillError.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        if (folder / name).is_file() or (folder / f"{name}.gz").is_file():
            continue
        url = f"{base_url.rstrip('/')}/{name}.gz"
        try:
            download_atomic(url, folder / f"{name}.gz", timeout)
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise DistillError(f"cannot download {url}: {reason}; put the IDX files in {folder}") from error
    return folder

"""Labelled image folders read with Pillow, in the two layouts of the medical-imaging KD projects.

- Class folders (the chest X-ray layout): `root/train/<class>/*` and `root/test/<class>/*`.
- One image folder plus a CSV of file name, label and partition (the MHIST layout:
  `images/*.png` and `annotations.csv` with `Image Name`, `Majority Vote Label`, `Partition`).

Images become float32 arrays (N, C, size, size) in [0, 1], C = 1 for grayscale, 3 for RGB; an
optional per-channel mean and std standardise them afterwards. Labels are int64 indices into the
sorted class names.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from distill.data.tensors import regular_file
from distill.errors import DistillError

MAX_PIXELS = 50_000_000  # checked from the header, before decoding; a whole-slide scan is far larger than this tool needs


@dataclass(frozen=True)
class ImageSplits:
    """Train and test images of one dataset; `y_*` index into `classes`."""

    x_train: np.ndarray  # (N_train, C, size, size) float32
    y_train: np.ndarray  # (N_train,) int64
    x_test: np.ndarray  # (N_test, C, size, size) float32
    y_test: np.ndarray  # (N_test,) int64
    classes: tuple[str, ...]


def is_image_file(path: Path) -> bool:
    """A visible file whose extension Pillow knows."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in Image.registered_extensions()


def read_image(path: Path, size: int, grayscale: bool) -> np.ndarray:
    """(C, size, size) float32 in [0, 1]; an undecodable file raises a DistillError naming it."""
    mode = "L" if grayscale else "RGB"
    try:
        with warnings.catch_warnings():  # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                if image.width * image.height > MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{image.width} x {image.height} pixels exceed {MAX_PIXELS:,}")
                image.draft(mode, (size, size))  # lets JPEG decode at reduced scale; a no-op for other formats
                pixels = np.asarray(image.convert(mode).resize((size, size), Image.Resampling.BILINEAR))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DistillError(f"image {path} is refused before decoding: {str(error).split('. ')[0]} (a possible "
                           "decompression bomb)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DistillError(f"cannot decode image {path}: {error}") from error
    pixels = pixels.astype(np.float32) / 255.0  # (size, size) or (size, size, 3)
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)  # (C, size, size)


def read_images(paths: Sequence[Path], size: int, grayscale: bool) -> np.ndarray:
    """(N, C, size, size) float32 in [0, 1]."""
    return np.stack([read_image(path, size, grayscale) for path in paths])


def standardise(x: np.ndarray, mean: Sequence[float] | None, std: Sequence[float] | None) -> np.ndarray:
    """(x - mean) / std per channel; mean and std hold one value or one per channel, or both are None."""
    if mean is None and std is None:
        return x
    channels = x.shape[1]
    if mean is None or std is None or len(mean) not in (1, channels) or len(std) not in (1, channels):
        raise DistillError(f"image mean and std must both be given with 1 or {channels} values, "
                           f"got mean={mean!r}, std={std!r}")
    if min(std) <= 0:
        raise DistillError(f"image std values must be positive, got {list(std)}")
    shape = (1, -1, 1, 1)  # broadcast over (N, C, size, size)
    return ((x - np.reshape(mean, shape)) / np.reshape(std, shape)).astype(np.float32)


def check_size(size: int) -> None:
    """Images are resized to size x size pixels."""
    if not isinstance(size, int) or size < 1:
        raise DistillError(f"image size must be a positive integer, got {size!r}")


def existing_dir(path: Path, what: str) -> Path:
    """The path, if it is a folder; `what` names it in the error."""
    if not path.is_dir():
        raise DistillError(f"{what} {path} not found or not a folder")
    return path


def class_folder_files(part_dir: Path) -> dict[str, list[Path]]:
    """{class name: sorted image files} for each sub-folder of `root/train` or `root/test`."""
    folders = sorted(p for p in part_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DistillError(f"{part_dir} has no class folders; expected {part_dir}/<class>/<images>")
    files = {folder.name: sorted(p for p in folder.iterdir() if is_image_file(p)) for folder in folders}
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        raise DistillError(f"class folder {part_dir / empty[0]} has no images")
    return files


def two_or_more(classes: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The class names, if there are at least two: one class leaves nothing to classify."""
    if len(classes) < 2:
        raise DistillError(f"{where} has one class ({', '.join(classes)}); a classifier needs at least 2")
    return classes


def labelled_paths(files: dict[str, list[Path]], classes: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """Flatten {class: files} into paths and their int64 class indices."""
    paths = [path for name in files for path in files[name]]
    labels = np.array([classes.index(name) for name in files for _ in files[name]], dtype=np.int64)
    return paths, labels


def load_image_folders(root: str | Path, size: int, grayscale: bool = False,
                       mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> ImageSplits:
    """Images under `root/train/<class>/` and `root/test/<class>/`; class names from the train folders."""
    check_size(size)
    root = existing_dir(Path(root), "image root")
    train_files = class_folder_files(existing_dir(root / "train", "train folder"))
    test_files = class_folder_files(existing_dir(root / "test", "test folder"))
    classes = two_or_more(tuple(train_files), f"{root / 'train'}")
    unknown = sorted(set(test_files) - set(classes))
    if unknown:
        raise DistillError(f"test class folder {unknown[0]!r} has no train folder; train classes: {', '.join(classes)}")
    train_paths, y_train = labelled_paths(train_files, classes)
    test_paths, y_test = labelled_paths(test_files, classes)
    return ImageSplits(standardise(read_images(train_paths, size, grayscale), mean, std), y_train,
                       standardise(read_images(test_paths, size, grayscale), mean, std), y_test, classes)


def read_annotations(csv_path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The CSV's named columns as strings; missing file, column or value raises a DistillError."""
    regular_file(csv_path, "annotations file")
    try:
        table = pd.read_csv(csv_path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DistillError(f"cannot parse {csv_path}: {str(error).strip()}") from error
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise DistillError(f"{csv_path} has no column {missing[0]!r}; columns: {', '.join(map(str, table.columns))}")
    table = table[list(columns)]
    blank = table.isna().any(axis=1)
    if blank.any():
        raise DistillError(f"{csv_path} row {blank.to_numpy().argmax() + 2} has an empty value in {', '.join(columns)}")
    return table


def partition_rows(table: pd.DataFrame, column: str, value: str, csv_path: Path) -> pd.DataFrame:
    """The rows of one partition; an empty partition is an error."""
    rows = table[table[column] == value]
    if rows.empty:
        raise DistillError(f"{csv_path} has no rows with {column} = {value!r}")
    return rows


def class_indices(labels: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """(N,) int64 positions of the labels in `classes`."""
    return labels.map(classes.index).to_numpy(np.int64)


def load_image_csv(image_dir: str | Path, csv_path: str | Path, size: int, grayscale: bool = False,
                   mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                   file_column: str = "Image Name", label_column: str = "Majority Vote Label",
                   partition_column: str = "Partition", train_partition: str = "train",
                   test_partition: str = "test") -> ImageSplits:
    """Images in `image_dir` labelled and split by a CSV (MHIST's `annotations.csv` by default)."""
    check_size(size)
    image_dir, csv_path = existing_dir(Path(image_dir), "image folder"), Path(csv_path)
    table = read_annotations(csv_path, [file_column, label_column, partition_column])
    unknown = sorted(set(table[partition_column]) - {train_partition, test_partition})
    if unknown:
        raise DistillError(f"{csv_path} column {partition_column!r} has unknown partition {unknown[0]!r}; "
                           f"allowed: {train_partition}, {test_partition}")
    for row, name in enumerate(table[file_column], start=2):  # row 1 is the header
        if Path(name).is_absolute() or ".." in Path(name).parts or \
                not (image_dir / name).resolve().is_relative_to(image_dir.resolve()):
            raise DistillError(f"{csv_path} row {row} names {name!r}, outside the image folder {image_dir}; "
                               "refused (file names are relative to it and stay inside)")
        if not (image_dir / name).is_file():
            raise DistillError(f"{csv_path} row {row} names {name!r}, which is not in {image_dir}")
    classes = two_or_more(tuple(sorted(set(table[label_column]))), f"{csv_path} column {label_column!r}")
    train = partition_rows(table, partition_column, train_partition, csv_path)
    test = partition_rows(table, partition_column, test_partition, csv_path)
    x_train = read_images([image_dir / name for name in train[file_column]], size, grayscale)
    x_test = read_images([image_dir / name for name in test[file_column]], size, grayscale)
    return ImageSplits(standardise(x_train, mean, std), class_indices(train[label_column], classes),
                       standardise(x_test, mean, std), class_indices(test[label_column], classes), classes)

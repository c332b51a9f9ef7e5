"""Labelled images from any source a config names (bundled digits, MNIST, image folders, a CSV listing),
optionally a stratified subset, optionally with classes merged into groups (the source label stays hidden).

`ClassificationData` is the config section these loaders read; the classification protocol's schema uses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.nn import functional as F

from distill.config import Section
from distill.data.digits import load_digits_images
from distill.data.images import load_image_csv, load_image_folders
from distill.data.mnist import download_mnist, load_mnist
from distill.data.tensors import load_tensors
from distill.errors import DistillError


class ClassificationData(Section):
    """Where the images come from; sources with a fixed test split (mnist, folders, csv) give one fold.

    - digits: scikit-learn's bundled 8x8 digits (embedded, offline), resized to `size` when given.
    - mnist: the four IDX files in `path` (`download: true` fetches them there first), 28x28 or `size`.
    - folders: `path/train/<class>/*` and `path/test/<class>/*`, resized to `size` (default 32).
    - csv: images in `path` listed in the CSV file `csv` (file, label, partition: the MHIST layout).
    - tensors: your own `.pt` / `.npz` file of x, y and optionally privileged (`distill.data.tensors`); x may
      have any shape per example (not only images); the teacher alone sees `privileged` when given.
    `groups` merges the source's classes (class i of the task = the union of groups[i]); the source's own
    label is kept as the hidden subclass identity. `subset` keeps a stratified random sample of that many
    images (a fixed split keeps its train/test proportions): a CPU-sized share of MNIST, or a quick try.
    """

    source: Literal["digits", "mnist", "folders", "csv", "tensors"] = "digits"
    path: str | None = None
    csv: str | None = None
    size: int | None = Field(None, ge=1)
    grayscale: bool = True
    mean: list[float] | None = None
    std: list[float] | None = None
    download: bool = False
    groups: list[list[int]] | None = None
    subset: int | None = Field(None, ge=2)


FOLDER_SIZE = 32  # default pixels for image folders and CSV-listed images


@dataclass
class LabelledImages:
    """All rows of a source; rows from `test_start` on form its fixed test split (None: no fixed split)."""

    x: torch.Tensor  # (N, C, H, W) float32
    y: torch.Tensor  # (N,) int64 task classes
    hidden: np.ndarray  # (N,) the source's own labels (differ from y when classes are grouped)
    classes: tuple[str, ...]
    test_start: int | None
    source: str
    privileged: torch.Tensor | None = None  # (N, ...) inputs only the teacher sees (data.source tensors)


def resize(x: np.ndarray, size: int | None) -> torch.Tensor:
    """(N, C, H, W) tensor, bilinearly resized to size x size when a size is given."""
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if size is None or images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _fixed_split(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                 size: int | None, classes: tuple[str, ...], source: str) -> LabelledImages:
    y = np.concatenate([y_train, y_test])
    return LabelledImages(resize(np.concatenate([x_train, x_test]), size), torch.from_numpy(y), y, classes,
                          len(y_train), source)


def load_source(data: ClassificationData) -> LabelledImages:
    """The images and labels a config names (see `ClassificationData`)."""
    if data.source == "digits":
        x, y = load_digits_images(data.size or 8)
        return LabelledImages(torch.from_numpy(x), torch.from_numpy(y), y, tuple(map(str, range(10))), None,
                              "scikit-learn's bundled digits")
    if data.path is None:
        raise DistillError(f"data.source {data.source!r} needs data.path")
    if data.source == "tensors":
        x, y, privileged = load_tensors(data.path)
        classes = tuple(map(str, range(int(y.max()) + 1))) if len(y) else ()
        return LabelledImages(x, y, y.numpy(), classes, None, f"tensors in {data.path}", privileged)
    if data.source == "mnist":
        folder = download_mnist(data.path) if data.download else data.path
        x_train, y_train, x_test, y_test = load_mnist(folder)
        return _fixed_split(x_train, y_train, x_test, y_test, data.size, tuple(map(str, range(10))),
                            f"MNIST IDX files in {data.path}")
    if data.source == "folders":
        splits = load_image_folders(data.path, data.size or FOLDER_SIZE, data.grayscale, data.mean, data.std)
        where = f"class folders under {data.path}"
    else:
        if data.csv is None:
            raise DistillError("data.source 'csv' needs data.csv, the annotations file")
        splits = load_image_csv(data.path, data.csv, data.size or FOLDER_SIZE, data.grayscale, data.mean, data.std)
        where = f"images in {data.path} listed in {data.csv}"
    return _fixed_split(splits.x_train, splits.y_train, splits.x_test, splits.y_test, None, splits.classes, where)


def group_classes(images: LabelledImages, groups: list[list[int]]) -> LabelledImages:
    """Merge the source's classes: task class i = the union of groups[i]; the source label stays hidden."""
    members = [label for group in groups for label in group]
    source_classes = set(range(len(images.classes)))
    if any(not group for group in groups) or len(members) != len(set(members)) or set(members) != source_classes:
        raise DistillError(f"data.groups must split the source classes 0..{len(images.classes) - 1} into "
                           f"non-empty groups, each class in exactly one; got {groups}")
    lookup = torch.empty(len(images.classes), dtype=torch.int64)
    for index, group in enumerate(groups):
        lookup[group] = index
    names = tuple("+".join(images.classes[label] for label in group) for group in groups)
    return LabelledImages(images.x, lookup[images.y], images.hidden, names, images.test_start, images.source,
                          images.privileged)


def stratified_sample(rows: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """About `size` of `rows`, each class in proportion (at least one row per class), in their order."""
    labels = y[rows]
    picked = [rng.choice(rows[labels == label], size=min(int((labels == label).sum()),
                                                         max(1, round(size * np.mean(labels == label)))),
                         replace=False) for label in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def take_subset(images: LabelledImages, size: int, seed: int) -> LabelledImages:
    """A stratified sample of `size` images; a fixed train/test split keeps its proportions."""
    y = images.y.numpy()
    rng = np.random.default_rng(seed)
    if images.test_start is None:
        rows, test_start = stratified_sample(np.arange(len(y)), y, size, rng), None
    else:
        train_size = round(size * images.test_start / len(y))
        train = stratified_sample(np.arange(images.test_start), y, train_size, rng)
        test = stratified_sample(np.arange(images.test_start, len(y)), y, size - train_size, rng)
        rows, test_start = np.concatenate([train, test]), len(train)
    index = torch.from_numpy(rows)
    return LabelledImages(images.x[index], images.y[index], images.hidden[rows], images.classes, test_start,
                          f"{images.source} (stratified subset of {len(rows)} images)",
                          None if images.privileged is None else images.privileged[index])


def load_images(data: ClassificationData, seed: int) -> LabelledImages:
    images = load_source(data)
    if data.subset is not None and data.subset < len(images.y):
        images = take_subset(images, data.subset, seed)
    return images if data.groups is None else group_classes(images, data.groups)

"""Classification data: bundled digits, MNIST IDX files, image folders, stratified folds."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from distill.data.digits import load_digits_images
from distill.data.images import load_image_csv, load_image_folders
from distill.data.mnist import FILES, download_mnist, load_mnist, read_idx
from distill.data.splits_classification import stratified_folds
from distill.errors import DistillError

# --- digits -----------------------------------------------------------------------------------

def test_digits_native_size():
    x, y = load_digits_images()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64 and set(y) == set(range(10))
    assert x.min() == 0.0 and x.max() == 1.0


@pytest.mark.parametrize("size", [16, 32])
def test_digits_resized(size):
    x, _ = load_digits_images(size)
    native, _ = load_digits_images()
    assert x.shape == (1797, 1, size, size) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert abs(x.mean() - native.mean()) < 0.01  # upsampling keeps the ink


def test_digits_rejects_shrinking():
    with pytest.raises(DistillError, match="integer >= 8"):
        load_digits_images(4)


# --- MNIST IDX --------------------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray) -> None:
    """Unsigned-byte IDX: 0, 0, type 0x08, ndim, big-endian dims, data; gzipped if the name ends in .gz."""
    payload = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def write_mnist(folder: Path, suffix: str = "", train: int = 5, test: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (train, 28, 28)), "train_labels": rng.integers(0, 10, train),
              "test_images": rng.integers(0, 256, (test, 28, 28)), "test_labels": rng.integers(0, 10, test)}
    for key, array in arrays.items():
        write_idx(folder / f"{FILES[key]}{suffix}", array)
    return arrays


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_mnist_round_trip(tmp_path, suffix):
    arrays = write_mnist(tmp_path, suffix)
    x_train, y_train, x_test, y_test = load_mnist(tmp_path)
    assert x_train.shape == (5, 1, 28, 28) and x_test.shape == (3, 1, 28, 28) and x_train.dtype == np.float32
    np.testing.assert_allclose(x_train[:, 0] * 255, arrays["train_images"], atol=1e-4)
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert y_train.dtype == np.int64 and 0.0 <= x_test.min() and x_test.max() <= 1.0


def test_idx_bad_magic_number(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(DistillError, match="bad magic number 12340801"):
        read_idx(path)


def test_idx_truncated(tmp_path):
    path = tmp_path / "short"
    write_idx(path, np.zeros((4, 28, 28)))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DistillError, match=r"corrupt IDX file: header says shape \(4, 28, 28\)"):
        read_idx(path)


def test_idx_broken_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DistillError, match="cannot read IDX file"):
        read_idx(path)


def test_mnist_missing_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / FILES["test_labels"]).unlink()
    with pytest.raises(DistillError, match="t10k-labels-idx1-ubyte .*not found"):
        load_mnist(tmp_path)


def test_mnist_labels_must_match_images(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / FILES["train_labels"], np.zeros(4))
    with pytest.raises(DistillError, match="5 images, .* 4 labels"):
        load_mnist(tmp_path)


def test_mnist_images_must_be_3d(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / FILES["train_images"], np.zeros(5))
    with pytest.raises(DistillError, match="not an MNIST image file"):
        load_mnist(tmp_path)


def test_download_mnist_once(tmp_path):
    source, cache = tmp_path / "mirror", tmp_path / "cache"
    source.mkdir()
    arrays = write_mnist(source, ".gz")
    assert download_mnist(cache, base_url=source.as_uri()) == cache
    for path in source.iterdir():
        path.unlink()
    download_mnist(cache, base_url=source.as_uri())  # already cached: nothing is fetched
    np.testing.assert_array_equal(load_mnist(cache)[1], arrays["train_labels"])
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{name}.gz" for name in FILES.values())


def test_download_mnist_offline(tmp_path):
    with pytest.raises(DistillError, match=r"cannot download .*train-images-idx3-ubyte.gz: .*put the IDX files in"):
        download_mnist(tmp_path / "cache", base_url=(tmp_path / "nowhere").as_uri())
    assert list((tmp_path / "cache").iterdir()) == []  # no half-written file left behind


# --- image folders ----------------------------------------------------------------------------

def write_png(path: Path, value: int, mode: str = "RGB", size: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size + 4), (value,) * len(mode)).save(path)


def write_class_folders(root: Path) -> None:
    for part, count in (("train", 3), ("test", 2)):
        for label, value in (("NORMAL", 50), ("PNEUMONIA", 200)):
            for i in range(count):
                write_png(root / part / label / f"{i}.png", value, mode="L" if i % 2 else "RGB")


@pytest.mark.parametrize("grayscale, channels", [(True, 1), (False, 3)])
def test_image_folders(tmp_path, grayscale, channels):
    write_class_folders(tmp_path)
    data = load_image_folders(tmp_path, size=8, grayscale=grayscale)
    assert data.classes == ("NORMAL", "PNEUMONIA")
    assert data.x_train.shape == (6, channels, 8, 8) and data.x_test.shape == (4, channels, 8, 8)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.y_train, [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(data.x_test[data.y_test == 1], 200 / 255, atol=1e-6)


def test_image_folders_standardised(tmp_path):
    write_class_folders(tmp_path)
    data = load_image_folders(tmp_path, size=4, grayscale=False, mean=[0.5, 0.5, 0.5], std=[0.25])
    np.testing.assert_allclose(data.x_train[0], (50 / 255 - 0.5) / 0.25, atol=1e-5)


def test_image_folders_mean_without_std(tmp_path):
    write_class_folders(tmp_path)
    with pytest.raises(DistillError, match="mean and std must both be given"):
        load_image_folders(tmp_path, size=4, mean=[0.5])


def test_image_folders_missing_root(tmp_path):
    with pytest.raises(DistillError, match="image root .*nowhere not found"):
        load_image_folders(tmp_path / "nowhere", size=8)


def test_image_folders_missing_test_part(tmp_path):
    write_png(tmp_path / "train" / "a" / "0.png", 1)
    with pytest.raises(DistillError, match="test folder .* not found"):
        load_image_folders(tmp_path, size=8)


def test_image_folders_empty_class(tmp_path):
    write_class_folders(tmp_path)
    (tmp_path / "train" / "COVID").mkdir()
    (tmp_path / "train" / "COVID" / "notes.txt").write_text("no images here")
    with pytest.raises(DistillError, match="class folder .*COVID has no images"):
        load_image_folders(tmp_path, size=8)


def test_image_folders_unknown_test_class(tmp_path):
    write_class_folders(tmp_path)
    write_png(tmp_path / "test" / "OTHER" / "0.png", 1)
    with pytest.raises(DistillError, match="test class folder 'OTHER' has no train folder"):
        load_image_folders(tmp_path, size=8)


def test_undecodable_image_is_named(tmp_path):
    write_class_folders(tmp_path)
    (tmp_path / "test" / "NORMAL" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DistillError, match="cannot decode image .*broken.png"):
        load_image_folders(tmp_path, size=8)


def test_bad_size(tmp_path):
    with pytest.raises(DistillError, match="positive integer"):
        load_image_folders(tmp_path, size=0)


# --- CSV-labelled images (MHIST layout) -------------------------------------------------------

def write_mhist(root: Path, rows: list[tuple[str, str, str]]) -> tuple[Path, Path]:
    images = root / "images"
    for name, label, _ in rows:
        write_png(images / name, 30 if label == "HP" else 220)
    csv = root / "annotations.csv"
    pd.DataFrame(rows, columns=["Image Name", "Majority Vote Label", "Partition"]).assign(
        **{"Number of Annotators who Selected SSA (Out of 7)": 3}).to_csv(csv, index=False)
    return images, csv


MHIST_ROWS = [("MHIST_a.png", "SSA", "train"), ("MHIST_b.png", "HP", "train"), ("MHIST_c.png", "HP", "train"),
              ("MHIST_d.png", "SSA", "test"), ("MHIST_e.png", "HP", "test")]


def test_mhist_layout(tmp_path):
    images, csv = write_mhist(tmp_path, MHIST_ROWS)
    data = load_image_csv(images, csv, size=8)
    assert data.classes == ("HP", "SSA")
    assert data.x_train.shape == (3, 3, 8, 8) and data.x_test.shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(data.y_train, [1, 0, 0])
    np.testing.assert_array_equal(data.y_test, [1, 0])
    np.testing.assert_allclose(data.x_test[1], 30 / 255, atol=1e-6)


def test_csv_custom_columns_and_partitions(tmp_path):
    images, csv = write_mhist(tmp_path, [("a.png", "HP", "fit"), ("b.png", "SSA", "holdout")])
    pd.read_csv(csv).rename(columns={"Image Name": "file", "Majority Vote Label": "label", "Partition": "split"}
                            ).to_csv(csv, index=False)
    data = load_image_csv(images, csv, size=4, grayscale=True, file_column="file", label_column="label",
                          partition_column="split", train_partition="fit", test_partition="holdout")
    assert data.x_train.shape == (1, 1, 4, 4) and list(data.y_test) == [1]


def test_csv_unknown_partition(tmp_path):
    images, csv = write_mhist(tmp_path, [*MHIST_ROWS, ("MHIST_f.png", "HP", "val")])
    with pytest.raises(DistillError, match="unknown partition 'val'; allowed: train, test"):
        load_image_csv(images, csv, size=8)


def test_csv_missing_image(tmp_path):
    images, csv = write_mhist(tmp_path, MHIST_ROWS)
    (images / "MHIST_c.png").unlink()
    with pytest.raises(DistillError, match="row 4 names 'MHIST_c.png', which is not in"):
        load_image_csv(images, csv, size=8)


def test_csv_missing_column(tmp_path):
    images, csv = write_mhist(tmp_path, MHIST_ROWS)
    with pytest.raises(DistillError, match="has no column 'Label'"):
        load_image_csv(images, csv, size=8, label_column="Label")


def test_csv_empty_partition(tmp_path):
    images, csv = write_mhist(tmp_path, MHIST_ROWS[:3])
    with pytest.raises(DistillError, match="no rows with Partition = 'test'"):
        load_image_csv(images, csv, size=8)


def test_csv_missing_file(tmp_path):
    images, _ = write_mhist(tmp_path, MHIST_ROWS)
    with pytest.raises(DistillError, match="annotations file .* not found"):
        load_image_csv(images, tmp_path / "nope.csv", size=8)


# --- stratified folds -------------------------------------------------------------------------

def test_stratified_folds_are_disjoint_covering_and_stratified():
    y = np.array([0] * 30 + [1] * 15 + [2] * 5)
    folds = stratified_folds(y, folds=5, seed=0)
    tests = [test for _, test in folds]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(y)))
    for train, test in folds:
        assert not set(train) & set(test) and len(train) + len(test) == len(y)
        np.testing.assert_array_equal(np.bincount(y[test]), [6, 3, 1])


def test_stratified_folds_follow_the_seed():
    y = np.repeat([0, 1], 10)
    same = stratified_folds(y, 4, seed=1), stratified_folds(y, 4, seed=1)
    other = stratified_folds(y, 4, seed=2)
    assert all((a[1] == b[1]).all() for a, b in zip(*same))
    assert any((a[1] != b[1]).any() for a, b in zip(same[0], other))


def test_stratified_folds_need_enough_members_per_class():
    with pytest.raises(DistillError, match="class 'b' has 2 members, fewer than folds=3"):
        stratified_folds(np.array(["a"] * 9 + ["b"] * 2), folds=3, seed=0)


def test_stratified_folds_need_two_folds():
    with pytest.raises(DistillError, match="folds must be an integer >= 2"):
        stratified_folds(np.zeros(10), folds=1, seed=0)

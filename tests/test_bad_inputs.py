"""Bad inputs end in one line, `distill: error: ...`, exit status 2, before any training."""
import numpy as np
import pandas as pd
import pytest

from distill.cli import main
from distill.config import MAX_CONFIG_BYTES
from distill.models import build_model

FAST = ["--set", "train.epochs=1", "--set", "data.subset=60", "--no-progress"]


def one_line_error(capsys, *args) -> str:
    status = main(list(args))
    _, err = capsys.readouterr()
    assert status == 2, err
    assert err.startswith("distill: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("assignment, message", [
    ("teacher.lr=.inf", "bad value for teacher.lr: inf (Input should be a finite number)"),
    ("students.student_kd.temperature=.inf", "bad value for students.student_kd.temperature: inf"),
    ("students.student_kd.alpha=.nan", "bad value for students.student_kd.alpha: nan"),
    ("train.batch_size=99999999999999999999", "bad value for train.batch_size: 99999999999999999999"),
    ("teacher.options.hidden=-5", "model 'cnn' option hidden: -5 is not allowed; sizes are whole numbers >= 1"),
    ("teacher.options.channels=[4, 0]", "model 'cnn' option channels: [4, 0] is not allowed"),
    ("teacher.options.dropout=5", "model 'cnn' option dropout: 5 is not allowed; dropout is a probability in [0, 1)"),
    ("students.student_kd.options.hidden=0", "model 'mlp' option hidden: 0 is not allowed"),
])
def test_bad_config_values_are_refused_when_read(tmp_path, capsys, assignment, message):
    err = one_line_error(capsys, "run", "hinton-digits", "--out", str(tmp_path / "out"), "--set", assignment, *FAST)
    assert message in err
    assert not (tmp_path / "out").exists()


def test_the_registry_checks_option_ranges_too():
    from distill.errors import DistillError
    with pytest.raises(DistillError, match="width is a finite multiplier > 0"):
        build_model("resnet", (1, 8, 8), 3, depth=8, width=float("inf"))


def test_a_batch_larger_than_the_data_trains_full_batch(tmp_path, capsys):
    status = main(["run", "hinton-digits", "--out", str(tmp_path / "out"), "--set", "train.batch_size=2147483647",
                   "--set", "cv.folds=2", *FAST])
    assert status == 0, capsys.readouterr().err


def test_non_utf8_or_oversized_yaml(tmp_path, capsys):
    (tmp_path / "latin.yaml").write_bytes(b"name: x\ndescription: caf\xe9\n")
    assert "is not UTF-8 text (byte 24: b'\\xe9')" in one_line_error(capsys, "run", str(tmp_path / "latin.yaml"))
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    assert "a recipe is at most" in one_line_error(capsys, "run", str(tmp_path / "huge.yaml"))


def test_infinite_values_in_a_csv_series(tmp_path, capsys):
    t = np.arange(300)
    level = np.sin(t / 5.0)
    level[50] = -np.inf
    pd.DataFrame({"t": t, "level": level}).to_csv(tmp_path / "inf.csv", index=False)
    err = one_line_error(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path / "out"), "--set", "data.source=csv",
                         "--set", f"data.path={tmp_path / 'inf.csv'}", "--set", "data.target=level",
                         "--set", "data.time=t", "--no-progress")
    assert "column 'level' holds 1 infinite value(s), the first -inf in row 51" in err


def test_an_oversized_csv_is_refused_by_its_size(tmp_path, capsys, monkeypatch):
    import distill.data.csv_series as csv_series
    monkeypatch.setattr(csv_series, "MAX_CSV_BYTES", 100)
    pd.DataFrame({"t": range(50), "level": range(50)}).to_csv(tmp_path / "big.csv", index=False)
    err = one_line_error(capsys, "run", "mackey-glass-pi", "--out", str(tmp_path / "out"), "--set", "data.source=csv",
                         "--set", f"data.path={tmp_path / 'big.csv'}", "--set", "data.target=level", "--no-progress")
    assert "data files up to" in err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    assert main(["run", "hinton-digits", "--out", str(out), "--set", "cv.folds=2", *FAST]) == 0
    return out


def damaged_copy(run, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    return copy


@pytest.mark.parametrize("damage, args, message", [
    (lambda run: (run / "models" / "teacher-fold2.pt").unlink(), ["teacher", "--fold", "2"], "is missing"),
    (lambda run: (run / "models" / "teacher-fold1.pt").write_bytes((run / "models" / "teacher-fold1.pt").read_bytes()[:300]),
     ["teacher", "--fold", "1"], "cannot be read as saved weights"),
    (lambda run: __import__("pickle").dump({"a": 1}, (run / "models" / "teacher-fold1.pt").open("wb")),
     ["teacher", "--fold", "1"], "cannot be read as saved weights (Weights only load failed)"),
    (lambda run: __import__("torch").save([1, 2], run / "models" / "teacher-fold1.pt"),
     ["teacher", "--fold", "1"], "holds a list, not a state dict of tensors"),
    (lambda run: (run / "results.json").write_text("{bad"), ["teacher"], "is not a distill results.json"),
    (lambda run: (run / "results.json").write_text('{"checkpoints": {"teacher": 5}}'), ["teacher"],
     "its `checkpoints` entries lack model"),
])
def test_export_of_a_damaged_run_is_one_line(finished_run, tmp_path, capsys, damage, args, message):
    run = damaged_copy(finished_run, tmp_path)
    damage(run)
    err = one_line_error(capsys, "export", str(run), *args)
    assert message in err


def test_export_out_must_not_be_a_folder(finished_run, tmp_path, capsys):
    err = one_line_error(capsys, "export", str(finished_run), "teacher", "--out", str(tmp_path))
    assert "is a folder; give the .pt2 file to write" in err


def test_a_decompression_bomb_image_is_refused_from_its_header(tmp_path, monkeypatch):
    from PIL import Image

    import distill.data.images as images
    from distill.errors import DistillError
    Image.new("L", (400, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000)
    with pytest.raises(DistillError, match="400 x 300 pixels exceed 100,000.*decompression bomb"):
        images.read_image(tmp_path / "big.png", 8, grayscale=True)


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("train_images, train_labels, message", [
    (np.zeros((0, 4, 4)), np.zeros(0), "holds 0 images"),
    (np.zeros((3, 4, 4)), np.array([1, 12, 3]), "label 12 at row 2; MNIST labels are 0..9"),
])
def test_mnist_with_no_images_or_a_label_out_of_range(tmp_path, capsys, train_images, train_labels, message):
    from distill.data.mnist import FILES
    write_idx(tmp_path / FILES["train_images"], train_images)
    write_idx(tmp_path / FILES["train_labels"], train_labels)
    write_idx(tmp_path / FILES["test_images"], np.zeros((2, 4, 4)))
    write_idx(tmp_path / FILES["test_labels"], np.array([0, 1]))
    err = one_line_error(capsys, "run", "hinton-digits", "--out", str(tmp_path / "out"), "--set", "data.source=mnist",
                         "--set", f"data.path={tmp_path}", "--set", "train.epochs=1", "--no-progress")
    assert message in err

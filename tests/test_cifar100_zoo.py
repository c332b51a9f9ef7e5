"""cifar100-zoo: the CIFAR-100 binary files read without pickle, the CIFAR ResNets of the KD benchmarks, the
benchmarks' schedule (SGD, step decay, crop and flip), and the recipe end to end at tiny scale on generated
files in the real format, with the published numbers beside ours; bad input is one line, exit 2, nothing
written. The recipe never runs at full scale here."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from cifar_files import TINY, cifar_records, write_cifar100

from distill.cli import main
from distill.core.train import fit
from distill.data.cifar100 import MEAN, STD, load_cifar100
from distill.errors import DistillError
from distill.models import build_model
from distill.protocols import load_config
from distill.protocols.classification.zoo.config import ZooAugment, ZooOptimizer
from distill.protocols.classification.zoo.objectives import augment

PUBLISHED = {"teacher": 79.42, "scratch": 72.50, "kd": 73.33, "crd": 75.51, "dkd": 76.32}


def test_records_are_coarse_fine_then_red_green_blue_planes(tmp_path):
    records = cifar_records(np.array([7, 42, 99]))
    records[1, 2:] = np.concatenate([np.full(1024, 255), np.zeros(1024), np.full(1024, 51)])  # red, none, some blue
    records.tofile(tmp_path / "train.bin")
    records[:2].tofile(tmp_path / "test.bin")
    x_train, y_train, x_test, y_test = load_cifar100(tmp_path)
    assert x_train.shape == (3, 3, 32, 32) and x_test.shape == (2, 3, 32, 32) and x_train.dtype == np.float32
    assert y_train.tolist() == [7, 42, 99] and y_test.tolist() == [7, 42]  # the fine labels, not the coarse
    expected = (np.array([1.0, 0.0, 0.2]) - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(x_train[1].reshape(3, -1), np.repeat(expected[:, None], 1024, axis=1), rtol=1e-5)
    first = records[0, 2:].reshape(3, 32, 32)[0, 0, 1] / 255.0  # red plane, row 0, column 1
    assert x_train[0, 0, 0, 1] == pytest.approx((first - MEAN[0]) / STD[0], abs=1e-6)
    plain, _, _, _ = load_cifar100(tmp_path, mean=[0, 0, 0], std=[1, 1, 1])
    assert plain.min() >= 0 and plain.max() <= 1


def test_the_benchmarks_resnets_have_their_published_sizes():
    """CRD / mdistiller: resnet32x4 7.43 M parameters, resnet8x4 1.23 M (CIFAR-100 heads)."""
    sizes = {depth: sum(p.numel() for p in build_model("resnet_cifar", (3, 32, 32), 100, depth=depth).parameters())
             for depth in (32, 8)}
    assert sizes == {32: 7_433_860, 8: 1_233_540}
    tiny = build_model("resnet_cifar", (3, 32, 32), 100, depth=8, channels=[4, 4, 8, 8])
    assert tiny(torch.zeros(2, 3, 32, 32)).shape == (2, 100) and tiny.pool(torch.zeros(1, 8, 8, 8)).shape[1] == 8
    with pytest.raises(DistillError, match="channels must be 4 numbers"):
        build_model("resnet_cifar", (3, 32, 32), 100, channels=[4, 8])
    with pytest.raises(DistillError, match="unknown resnet_cifar depth 10"):
        build_model("resnet_cifar", (3, 32, 32), 100, depth=10)


def test_the_step_schedule_decays_after_each_milestone_as_mdistiller():
    """lr x 0.1^k in epoch e (from 1) with k the milestones below e: 0.05 to epoch 150, 0.005 from 151..."""
    lr_at = ZooOptimizer(name="sgd", milestones=[150, 180, 210]).lr_at(0.05)
    expected = {0: 0.05, 149: 0.05, 150: 0.005, 179: 0.005, 180: 0.0005, 210: 0.00005, 239: 0.00005}
    assert {index: lr_at(index) for index in expected} == pytest.approx(expected)
    with pytest.raises(DistillError, match="increasing epoch numbers"):
        ZooOptimizer(milestones=[180, 150])


def test_fit_steps_the_given_optimiser_at_each_epochs_learning_rate():
    model, seen = torch.nn.Linear(2, 1), []
    optimisers: list[torch.optim.Optimizer] = []

    def sgd(parameters):
        optimisers.append(torch.optim.SGD(parameters, lr=1.0, momentum=0.9))
        return optimisers[-1]

    x = torch.randn(8, 2)
    fit(model, lambda rows: model(x[rows]).pow(2).mean(), 8, epochs=3, batch_size=4, lr=1.0, seed=0, optimizer=sgd,
        lr_at=lambda epoch: 0.1 ** epoch, on_epoch_start=lambda epoch: seen.append(optimisers[0].param_groups[0]["lr"]))
    assert seen == pytest.approx([1.0, 0.1, 0.01]) and isinstance(optimisers[0], torch.optim.SGD)


def test_crop_and_flip_shift_and_mirror_each_image_on_its_own():
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6) + 1
    flipped = augment(x, ZooAugment(crop_padding=0, flip=True))
    assert all(torch.equal(f, i) or torch.equal(f, i.flip(-1)) for f, i in zip(flipped, x))
    many = augment(x.repeat(32, 1, 1, 1), ZooAugment(crop_padding=0, flip=True))
    assert 0 < sum(not torch.equal(m, i) for m, i in zip(many, x.repeat(32, 1, 1, 1))) < 64  # about half flip
    shifted = augment(x, ZooAugment(crop_padding=2, flip=False))
    assert shifted.shape == x.shape and not torch.equal(shifted, x)
    kept = shifted[shifted != 0]  # a shift keeps a window of the image and fills the rest with 0
    assert set(kept.tolist()) <= set(x.flatten().tolist())
    assert augment(x, None) is x


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """One tiny run through the CLI on generated files: (results.json, report.md, the run folder)."""
    work = tmp_path_factory.mktemp("cifar100-zoo")
    data, out = write_cifar100(work / "cifar-100-binary"), work / "run"
    argv = ["run", "cifar100-zoo", "--out", str(out), "--no-progress",
            *[a for o in [*TINY, f"data.path={data}"] for a in ("--set", o)]]
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text()), (out / "report.md").read_text(), out


def test_the_recipe_trains_every_method_on_the_official_test_set(zoo):
    results, _, out = zoo
    assert list(results["models"]) == ["teacher", "scratch", "kd", "crd", "dkd"]
    assert results["data"]["rows"] == {"train": 480, "validation": 120, "test": 200}  # the test file, every seed
    assert results["data"]["shape"] == [3, 32, 32] and results["data"]["images"] == 800
    for entry in results["models"].values():
        assert len(entry["test_last_epoch"]["accuracy"]["per_fold"]) == 2 and 1 <= entry["best_epoch"]["mean"] <= 2
    assert results["models"]["crd"]["training_only_params"] > 0
    assert results["settings"]["dkd"]["settings"] == {"warmup": 2}
    resolved = load_config(str(out / "config.yaml"))
    assert resolved.optimizer.name == "sgd" and resolved.augment is not None and resolved.augment.flip


def test_the_report_puts_the_published_numbers_beside_ours_labelled(zoo):
    results, report, _ = zoo
    assert results["published"] == PUBLISHED and "mdistiller" in results["published_source"]
    assert "published top-1 % (not ours)" in report and "not measured here" in report
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| ")}
    for name, value in PUBLISHED.items():
        assert f"| {value:.2f} |" in rows[name]


def test_the_default_is_the_benchmarks_schedule():
    config = load_config("cifar100-zoo")
    assert (config.train.epochs, config.train.batch_size, config.teacher.lr, config.teacher.weight_decay) == \
        (240, 64, 0.05, 0.0005)
    assert config.optimizer.model_dump() == {"name": "sgd", "momentum": 0.9, "milestones": [150, 180, 210],
                                             "gamma": 0.1}
    assert config.augment is not None and (config.augment.crop_padding, config.augment.flip) == (4, True)
    assert (config.teacher.options, config.student.options) == ({"depth": 32, "channels": [32, 64, 128, 256]},
                                                                {"depth": 8, "channels": [32, 64, 128, 256]})
    assert config.methods["dkd"].make().warmup == 20 and config.methods["crd"].make().negatives == 16384
    assert config.published == PUBLISHED and config.data.source == "cifar100"


def _truncated(folder):
    write_cifar100(folder)
    with open(folder / "train.bin", "ab") as handle:
        handle.write(b"\0" * 10)


@pytest.mark.parametrize("make, message", [
    (lambda folder: None, "is not a folder"),
    (lambda folder: (folder.mkdir(), cifar_records(np.arange(4)).tofile(folder / "train.bin")),
     "no CIFAR-100 file .*test.bin"),
    (_truncated, "not a whole number of 3074-byte CIFAR-100 records"),
])
def test_bad_files_are_one_line_and_write_nothing(tmp_path, capsys, make, message):
    folder, out = tmp_path / "cifar", tmp_path / "run"
    make(folder)
    assert main(["run", "cifar100-zoo", "--out", str(out), "--no-progress", "--set", f"data.path={folder}",
                 *[a for o in TINY for a in ("--set", o)]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == (["cifar"] if folder.exists() else [])

"""kd-zoo at tiny scale: every method of the catalogue trains beside the student alone and vanilla KD, with
paired Holm verdicts against both at the best and the last epoch; bad inputs fail in one line before training."""
from __future__ import annotations

import json

import pytest

from distill.cli import main
from distill.errors import DistillError
from distill.protocols import load_config
from distill.protocols.classification.zoo import run as zoo_run

RECIPE = "kd-zoo-digits"  # every method, CNN students with maps; kd-zoo (MNIST-1D) below
TINY = ["seeds=2", "train.epochs=3", "train.batch_size=32", "teacher.lr=0.01", "data.subset=300",
        "methods.crd.settings.negatives=32", "teacher.options.channels=[8,16]", "teacher.options.hidden=32"]


def tiny(*overrides: str):
    return load_config(RECIPE, [*TINY, *overrides])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """One tiny run through the CLI: (results.json, report.md, the run folder)."""
    out = tmp_path_factory.mktemp("zoo") / "run"
    assert main(["run", RECIPE, "--out", str(out), "--no-progress", *[a for o in TINY for a in ("--set", o)]]) == 0
    return json.loads((out / "results.json").read_text()), (out / "report.md").read_text(), out


def test_every_method_trains_and_is_compared_with_scratch_and_kd(zoo):
    results, _, _ = zoo
    config = tiny()
    assert list(results["models"]) == ["teacher", *config.methods]
    assert all(len(results["checkpoints"][name]["files"]) == 2 for name in ["teacher", *config.methods])
    for name in config.methods:
        entry = results["models"][name]
        for part in ("test_best_epoch", "test_last_epoch"):
            assert len(entry[part]["accuracy"]["per_fold"]) == 2
        assert 1 <= entry["best_epoch"]["mean"] <= 3
        assert entry["seconds_per_epoch"]["mean"] > 0 and entry["cpu_seconds_per_epoch"]["mean"] > 0
        expected = {f"{name}_vs_{b}{s}" for b in ("scratch", "kd") for s in ("", "_last_epoch")
                    if b != name and not (name == "scratch" and b == "kd")}
        assert expected <= set(results["comparison"])
    verdicts = {entry["verdict"] for entry in results["comparison"].values()}
    assert verdicts <= {"better", "worse", "not distinguishable"}
    assert all("p_adjusted" in entry for entry in results["comparison"].values())


def test_the_teacher_learns_and_the_learnable_methods_carry_their_parameters(zoo):
    results, _, _ = zoo
    assert results["models"]["teacher"]["test_best_epoch"]["accuracy"]["mean"] > 0.5  # chance is 0.1
    assert results["models"]["vid"]["training_only_params"] > 0 and results["models"]["crd"]["training_only_params"] > 0
    assert results["models"]["kd"]["training_only_params"] == 0
    assert results["models"]["vid"]["params"] == results["models"]["scratch"]["params"]


def test_best_epoch_is_chosen_on_validation_and_the_last_epoch_is_reported_apart(zoo):
    results, _, _ = zoo
    for entry in results["models"].values():
        best, last = entry["test_best_epoch"]["accuracy"]["per_fold"], entry["test_last_epoch"]["accuracy"]["per_fold"]
        assert len(best) == len(last) == 2
    assert any(note.startswith("test_best_epoch") for note in results["notes"])


def test_seeds_are_paired_one_split_and_one_student_start_per_seed():
    config = tiny()
    from distill.data.labelled import load_images
    folds = zoo_run.seed_folds(load_images(config.data, config.seed), config)
    assert len(folds) == 2 and not (set(folds[0].test_rows.tolist()) == set(folds[1].test_rows.tolist()))
    assert len(folds[0].x_train) + len(folds[0].x_val) + len(folds[0].x_test) == 300


def test_the_report_labels_best_and_last_epoch_and_cites_the_papers(zoo):
    results, report, out = zoo
    assert "accuracy (best epoch)" in report and "accuracy (last epoch)" in report and "Tian et al. 2020" in report
    assert "Zhao et al. 2022 + Sun et al. 2024" in report
    assert (out / "accuracy.png").exists() and results["protocol"] == "kd-zoo"


BAD = [
    (["methods.at.features.student=features.9"], "names no module"),
    (["methods.at.features={student: body, teacher: body}"], "needs feature maps"),
    (["methods.crd.settings.negatives=100000"], "negatives must be in"),
    (["methods.dkd.settings.temprature=4"], "method 'dkd' has no setting 'temprature'"),
    (["methods.pkt.features.teacher=layer9"], "names no module"),
    (["methods.kd.method=dkd", "methods.kd.settings={}"], "kd: 'kd' must name a method"),
    (["methods.pkt.features=null"], "needs features"),
]


@pytest.mark.parametrize("overrides, message", BAD)
def test_bad_input_is_one_line_before_any_training(overrides, message, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started before the inputs were checked")

    monkeypatch.setattr(zoo_run, "fit", no_training)
    with pytest.raises(DistillError) as error:
        zoo_run.run_zoo(tiny(*overrides), show_progress=False)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_default_task_is_mnist1d_with_headroom_for_the_methods():
    """kd-zoo's default: MNIST-1D generated locally, a ResNet teacher and MLP students (skipped without mnist1d)."""
    pytest.importorskip("mnist1d")
    config = load_config("kd-zoo", ["seeds=2", "train.epochs=2", "teacher.epochs=2", "data.subset=300",
                                    "methods.crd.settings.negatives=32"])
    assert config.data.source == "mnist1d" and config.student.model == "mlp"
    results, models = zoo_run.run_zoo(config, show_progress=False)
    assert results["data"]["shape"] == [1, 1, 40] and "MNIST-1D" in results["data"]["source"]
    assert list(results["models"]) == ["teacher", *config.methods] and len(models) == 2
    assert results["models"]["crd"]["training_only_params"] > 0


def test_mnist1d_without_the_package_is_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mnist1d(name, *args, **kwargs):
        if name.startswith("mnist1d"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mnist1d)
    with pytest.raises(DistillError, match=r"pip install 'distill\[mnist1d\]'"):
        zoo_run.run_zoo(load_config("kd-zoo", ["seeds=2"]), show_progress=False)

"""The classification recipes end to end at tiny scale, the results.json contract, and bad input."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from distill.cli import main
from distill.config import validate_config
from distill.protocols.classification import run as classification
from distill.protocols.classification.config import ClassificationConfig

RECIPES = ["hinton-digits", "hinton-omit", "kd-sweep", "subclass-digits", "nst-ta"]
CONTRACT_KEYS = {"accuracy", "errors", "error_rate", "macro_f1", "roc_auc", "nll"}


def tiny(raw: dict) -> dict:
    """A recipe shrunk to seconds: 120 images, 2 folds, 1 epoch, narrow and shallow ResNets."""
    raw = {**raw, "data": {**raw.get("data", {}), "subset": 120}, "cv": {**raw.get("cv", {}), "folds": 2},
           "train": {**raw.get("train", {}), "epochs": 1}, "report": {**raw.get("report", {}), "latency_repeats": 3}}
    specs = [raw["teacher"], *raw.get("students", {}).values()]
    if "sweep" in raw:
        raw["sweep"] = {**raw["sweep"], "temperatures": raw["sweep"]["temperatures"][:2],
                        "alphas": raw["sweep"]["alphas"][:2]}
        specs.append(raw["sweep"]["student"])
    for spec in specs:
        spec.pop("epochs", None)
        if spec["model"] == "resnet":
            spec["options"] = {**spec["options"], "depth": 18 if spec["options"]["depth"] > 50 else 8,
                               "width": 0.0625}
    return raw


def run_tiny(raw: dict, out_dir: Path) -> dict:
    config = validate_config(tiny(raw), ClassificationConfig)
    classification.execute(config, out_dir, show_progress=False)
    return json.loads((out_dir / "results.json").read_text())


def check_contract(results: dict, folds: int) -> None:
    assert results["task"] == "classification"
    assert results["folds"] == folds
    for name, entry in results["models"].items():
        assert CONTRACT_KEYS <= set(entry["test"]), name
        assert set(entry["test"]["errors"]) == {"mean", "sem", "per_fold"}
        assert len(entry["test"]["errors"]["per_fold"]) == folds
        assert entry["params"] >= 0 and entry["flops"] >= 0 and entry["latency_ms"]["batch1"] > 0
        assert 0.0 <= entry["test"]["accuracy"]["mean"] <= 1.0


@pytest.fixture
def recipe_run(tiny_recipe_run):
    """Each recipe's tiny run (the goldens' scale, which is `tiny` above; run once per session and shared,
    tests/conftest.py): name -> (results, output folder)."""
    def run(name: str) -> tuple[dict, Path]:
        shared = tiny_recipe_run(name)
        return shared.results, shared.work / "out"
    return run


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_runs_at_tiny_scale(recipe, recipe_run):
    results, tmp_path = recipe_run(recipe)
    check_contract(results, folds=2)
    assert "majority" in results["models"]
    assert {"report.md", "config.yaml", "curves.png", "confusion.png", "per_class.png", "cost.png"} <= \
        {p.name for p in tmp_path.iterdir()}
    classes = len(results["classes"])
    matrix = np.array(results["confusion"]["teacher"])
    assert matrix.shape == (classes, classes) and matrix.sum() == results["data"]["images"]


def test_hinton_digits_models_and_gap(recipe_run):
    results, tmp_path = recipe_run("hinton-digits")
    assert list(results["models"]) == ["teacher", "student_kd", "student_scratch", "majority"]
    gap = results["gap_recovered"]["student_kd"]
    teacher, kd, scratch = (results["models"][n]["test"]["accuracy"]["mean"]
                            for n in ("teacher", "student_kd", "student_scratch"))
    assert gap["student_minus_scratch"] == pytest.approx(kd - scratch)
    assert gap["teacher_minus_scratch"] == pytest.approx(teacher - scratch)
    assert {"student_kd_vs_student_scratch", "student_kd_vs_teacher"} <= set(results["comparison"])
    for entry in results["comparison"].values():
        assert {"mean", "sem", "ci95", "p_value", "p_adjusted", "verdict"} <= set(entry)
        assert entry["verdict"] in ("better", "worse", "not distinguishable")
    report = (tmp_path / "report.md").read_text()
    assert "+- is the standard error of the mean (SEM) over 2 folds; accuracy" in report
    assert "Holm p = " in report and "beyond its SEM" not in report
    assert "Holm's correction runs over the 4 comparisons of this report" in report  # why kd-sweep's verdict differs


def test_kd_sweep_has_grid_and_heat_map(recipe_run):
    results, tmp_path = recipe_run("kd-sweep")
    grid = results["sweep"]
    assert np.array(grid["accuracy_mean"]).shape == (2, 2)
    best = grid["best"]
    assert best["chosen_on"] == "validation"  # the transfer set is 20% of the training rows: the rest choose
    assert best["validation_accuracy"] == pytest.approx(np.max(grid["validation_mean"]))
    assert best["accuracy"] == results["models"][best["student"]]["test"]["accuracy"]["mean"]
    assert not any(name.startswith("kd_T") and name.endswith("_vs_teacher") for name in results["comparison"])
    report = (tmp_path / "report.md").read_text()
    assert "highest mean accuracy on each fold's held-out training rows" in report
    assert f"Holm's correction runs over the {len(results['comparison'])} comparisons" in report
    assert (tmp_path / "sweep.png").is_file()


def test_subclass_digits_reports_recovery(recipe_run):
    results, _ = recipe_run("subclass-digits")
    assert results["classes"] == ["0+1+2+3+4", "5+6+7+8+9"]
    assert set(results["subclass_recovery"]) == {"teacher", "student_subclass"}
    assert not np.isnan(results["models"]["teacher"]["test"]["roc_auc"]["mean"])


def test_nst_ta_chain_links(recipe_run):
    results, _ = recipe_run("nst-ta")
    chains = [[link["model"] for link in chain["links"]] for chain in results["chains"]]
    assert ["teacher", "ta101", "ta50", "ta34", "student_nst_poly_ta"] in chains
    assert all(chain[0] == "teacher" for chain in chains)


def test_hinton_omit_bias_correction(recipe_run):
    results, _ = recipe_run("hinton-omit")
    correction = results["bias_correction"]["student_kd_omit"]
    assert correction["omitted"] == [3]
    assert min(correction["classes"]["3"]["shift"]["per_fold"]) >= 0.0
    assert "student_kd" not in results["bias_correction"]


def test_cli_runs_hinton_digits_with_overrides(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["run", "hinton-digits", "--out", str(out), "--no-progress", "--set", "train.epochs=1",
                   "--set", "cv.folds=2", "--set", "data.subset=80", "--set", "students.student_kd.epochs=1",
                   "--set", "students.student_scratch.epochs=1", "--set", "report.latency_repeats=3"])
    assert status == 0
    assert "student_kd" in capsys.readouterr().out
    check_contract(json.loads((out / "results.json").read_text()), folds=2)


# --- fixed splits: MNIST IDX files and image folders -------------------------------------------

def write_png(path: Path, value: int, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)


def write_folders(root: Path, classes: dict[str, int], per_class: int = 4) -> None:
    for part in ("train", "test"):
        for label, value in classes.items():
            for i in range(per_class):
                write_png(root / part / label / f"{i}.png", value + 5 * i)


def folder_config(root: Path) -> dict:
    return {"name": "folders", "data": {"source": "folders", "path": str(root), "size": 8},
            "teacher": {"model": "cnn", "options": {"channels": [4], "hidden": 8}},
            "students": {"student_kd": {"model": "mlp", "options": {"hidden": [4]}, "temperature": 2, "alpha": 0.5},
                         "student_scratch": {"model": "mlp", "options": {"hidden": [4]}, "method": "none"}}}


def test_image_folders_give_one_fold_without_sem(tmp_path):
    write_folders(tmp_path / "xray", {"NORMAL": 40, "PNEUMONIA": 200})
    results = run_tiny(folder_config(tmp_path / "xray"), tmp_path / "out")
    check_contract(results, folds=1)
    assert results["classes"] == ["NORMAL", "PNEUMONIA"]
    assert results["models"]["teacher"]["test"]["accuracy"]["sem"] is None
    assert results["data"]["split"] == "fixed train/test split"


def write_idx(path: Path, array: np.ndarray) -> None:
    """Unsigned-byte IDX file: 0, 0, 0x08, ndim, big-endian dimensions, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_folder_keeps_its_split(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, count in (("train", 40), ("t10k", 20)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)
    raw = {**folder_config(tmp_path), "data": {"source": "mnist", "path": str(folder), "size": 8, "subset": 30}}
    images = classification.load_images(validate_config(raw, ClassificationConfig).data, seed=0)
    assert images.x.shape == (30, 1, 8, 8)
    assert images.test_start == 20 and len(set(images.y[:20].tolist())) == 10


# --- bad input: one line, exit status 2 ---------------------------------------------------------

def run_error(capsys, *args) -> str:
    status = main(["run", *args, "--no-progress", "--set", "data.subset=60", "--set", "train.epochs=1",
                   "--set", "cv.folds=2"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("distill: error: ")
    return err


@pytest.mark.parametrize("assignment, message", [
    ("students.student_kd.temperature=0", "temperature"),
    ("students.student_kd.temperature=-2", "temperature"),
    ("students.student_kd.alpha=1.5", "alpha"),
    ("students.student_kd.alpha=-0.1", "alpha"),
])
def test_bad_temperature_or_alpha(capsys, tmp_path, assignment, message):
    err = run_error(capsys, "hinton-digits", "--out", str(tmp_path), "--set", assignment)
    assert message in err


def test_sweep_temperature_must_be_positive(capsys, tmp_path):
    err = run_error(capsys, "kd-sweep", "--out", str(tmp_path), "--set", "sweep.temperatures=[1, 0]")
    assert "sweep.temperatures" in err


def test_subclass_head_mismatch(capsys, tmp_path):
    err = run_error(capsys, "subclass-digits", "--out", str(tmp_path), "--set",
                    "students.student_subclass.subclasses=3")
    assert "class count mismatch" in err


def test_feature_path_names_no_module(capsys, tmp_path):
    err = run_error(capsys, "nst-ta", "--out", str(tmp_path), "--set",
                    "students.student_nst_poly.features.student=layer9")
    assert "'layer9' names no module" in err


def test_feature_maps_of_incompatible_rank(capsys, tmp_path):
    err = run_error(capsys, "nst-ta", "--out", str(tmp_path), "--set",
                    "students.student_nst_poly.features.teacher=fc")
    assert "incompatible rank" in err


def test_undecodable_image(capsys, tmp_path):
    root = tmp_path / "xray"
    write_folders(root, {"NORMAL": 40, "PNEUMONIA": 200})
    (root / "train" / "NORMAL" / "broken.png").write_bytes(b"not a png")
    err = run_error(capsys, "hinton-digits", "--out", str(tmp_path / "out"), "--set", "data.source=folders",
                    "--set", f"data.path={root}")
    assert "cannot decode image" in err and "broken.png" in err


def test_empty_class_folder(capsys, tmp_path):
    root = tmp_path / "xray"
    write_folders(root, {"NORMAL": 40, "PNEUMONIA": 200})
    (root / "train" / "EMPTY").mkdir()
    err = run_error(capsys, "hinton-digits", "--out", str(tmp_path / "out"), "--set", "data.source=folders",
                    "--set", f"data.path={root}")
    assert "has no images" in err


def test_groups_must_partition_the_classes(capsys, tmp_path):
    err = run_error(capsys, "subclass-digits", "--out", str(tmp_path), "--set", "data.groups=[[0, 1], [1, 2]]")
    assert "data.groups" in err


def test_omitting_an_unknown_class(capsys, tmp_path):
    err = run_error(capsys, "hinton-omit", "--out", str(tmp_path), "--set",
                    "students.student_kd_omit.transfer.omit=[12]")
    assert "transfer.omit" in err


def test_a_failed_run_writes_no_results(capsys, tmp_path):
    run_error(capsys, "hinton-digits", "--out", str(tmp_path), "--set", "students.student_kd.alpha=2")
    assert not (tmp_path / "results.json").exists()


def test_checkpoint_for_another_architecture(capsys, tmp_path):
    checkpoint = tmp_path / "other.pt"
    torch.save({"body.1.weight": torch.zeros(3, 3)}, checkpoint)
    err = run_error(capsys, "hinton-digits", "--out", str(tmp_path / "out"), "--set",
                    f"teacher.pretrained={{checkpoint: {checkpoint}}}")
    assert "checkpoint" in err and "same architecture" in err

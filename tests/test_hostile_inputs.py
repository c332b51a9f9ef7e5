"""The hostile-input list of issue 21: a run folder someone hands you, a third run, a full disk, odd paths and
values. Each test is one item; the security ones plant code that would create a marker file, and the marker
must never appear."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import distill
from distill.cli import main
from distill.core.resume import resume_folder, run_fingerprint
from distill.data.images import load_image_csv
from distill.errors import DistillError
from distill.io.run_writer import write_run
from distill.protocols import load_config
from distill.protocols.forecast.run import forecast_output, run_forecast

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from make_golden import tiny  # noqa: E402

TINY = ["data.sim_days=200", "train.epochs=2", "cv.folds=2", "teacher.options.hidden=4", "report.latency_repeats=3",
        "train.final_fit=false"]


def one_error_line(capsys, code: int) -> str:
    """The command failed with exit 2 and printed exactly one `distill: error:` line; returns it."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("distill: error: ") and err.count("\n") == 1, err
    return err


def tiny_recipe(work: Path, **train) -> Path:
    raw = tiny("covid-lstm", work)
    raw["train"].update(train)
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny finished forecasting run and a table to forecast from."""
    out_dir = tmp_path_factory.mktemp("forecast") / "run"
    config = load_config("covid-lstm", TINY)
    run = run_forecast(config, show_progress=False)
    write_run(forecast_output(run, config), config, out_dir)
    table = out_dir.parent / "new.csv"
    from distill.data.covid_sim import simulate_covid
    simulate_covid(days=240, seed=3).to_csv(table, index=False)
    return out_dir, table


def tampered(finished_run, tmp_path: Path, change) -> Path:
    """A copy of the finished run whose results.json `checkpoints.student_kd` entry `change` edits in place."""
    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run)
    results = json.loads((run / "results.json").read_text())
    change(results["checkpoints"]["student_kd"])
    (run / "results.json").write_text(json.dumps(results))
    return run


class _Planted:
    """Pickles to a call of os.system: what a planted file would run if it were unpickled."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


# 1 ----------------------------------------------------------------------------------------------------------------
def test_01_resume_never_unpickles_a_planted_checkpoint(tmp_path, capsys):
    import torch

    recipe, out, marker = tiny_recipe(tmp_path), tmp_path / "out", tmp_path / "MARKER"
    store = resume_folder(out)
    store.mkdir()
    (store / "config.yaml").write_text(run_fingerprint(load_config(str(recipe))))
    torch.save({"model": _Planted(f"touch {marker}")}, store / "unit-0001.pt")
    code = main(["run", str(recipe), "--out", str(out), "--no-progress", "--resume"])
    err = one_error_line(capsys, code)
    assert "unit-0001.pt is not a checkpoint distill wrote" in err
    assert not marker.exists()


# 2 ----------------------------------------------------------------------------------------------------------------
def test_02_a_run_folder_naming_an_import_path_runs_no_code(finished_run, tmp_path, capsys):
    marker = tmp_path / "MARKER"

    def plant(entry):  # subprocess.run(("touch", marker), 1): what building this "model" would call
        entry.update(model="subprocess:run", options={}, input_shape=["touch", str(marker)], outputs=1)
    run = tampered(finished_run, tmp_path, plant)
    for argv in (["predict", str(run), "--data", str(finished_run[1]), "--fold", "1"],
                 ["export", str(run), "student_kd", "--fold", "1"],
                 ["export", str(run), "student_kd", "--fold", "1", "--quantize", "int8"]):
        err = one_error_line(capsys, main(argv))
        assert "import path 'subprocess:run'" in err and "--trust-imports" in err
    with pytest.raises(DistillError, match="import path"):
        distill.load(run, "student_kd", fold=1)
    with pytest.raises(DistillError, match="import path"):
        distill.checkpoints.load_model(run, "student_kd", 1)
    assert not marker.exists()


# 3 ----------------------------------------------------------------------------------------------------------------
def test_03_checkpoint_paths_and_annotation_rows_stay_inside_their_folder(finished_run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(finished_run[0] / "models" / "student_kd-fold1.pt", outside / "weights.pt")
    for name, path in (("up", "../../outside/weights.pt"), ("absolute", str(outside / "weights.pt"))):
        run = tampered(finished_run, tmp_path / name, lambda entry, p=path: entry["files"].__setitem__(0, p))
        with pytest.raises(DistillError, match="stay inside"):
            distill.checkpoints.load_model(run, "student_kd", 1)
    run = tmp_path / "linked"
    shutil.copytree(finished_run[0], run)
    (run / "models" / "student_kd-fold1.pt").unlink()
    (run / "models" / "student_kd-fold1.pt").symlink_to(outside / "weights.pt")
    with pytest.raises(DistillError, match="links outside the run folder"):
        distill.checkpoints.load_model(run, "student_kd", 1)

    images = tmp_path / "mhist" / "images"
    images.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "x.png")
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(images / name)
    csv = tmp_path / "mhist" / "annotations.csv"
    csv.write_text("Image Name,Majority Vote Label,Partition\na.png,HP,train\n../../x.png,SSA,train\nb.png,HP,test\n")
    with pytest.raises(DistillError, match=r"row 3 names '../../x.png', outside the image folder"):
        load_image_csv(images, csv, size=4)


# 4 ----------------------------------------------------------------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    """An alias bomb as one YAML flow mapping: 9 ** levels strings from about 400 bytes."""
    items = [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    items += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "{" + ", ".join(items) + "}"


def test_04_a_yaml_alias_bomb_is_refused_before_it_is_built(tmp_path, capsys):
    assert len(yaml.safe_load(billion_laughs(3))["a2"]) == 9  # the text is the YAML it claims to be
    raw = tiny("covid-lstm", tmp_path)
    raw["teacher"]["options"]["cell"] = "BOMB"
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False).replace("BOMB", billion_laughs()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "distill.cli", "run", str(path), "--out", str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120)  # expanded, it would run for hours
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "alias bomb" in done.stderr, done.stderr
    assert time.monotonic() - started < 60
    code = main(["run", "covid-lstm", "--out", str(tmp_path / "out"), "--set", f"teacher.options.cell={billion_laughs()}"])
    assert "alias bomb" in one_error_line(capsys, code)
    assert not (tmp_path / "out").exists()

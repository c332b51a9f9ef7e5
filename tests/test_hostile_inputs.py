"""The hostile-input list of issue 21: a run folder someone hands you, a third run, a full disk, odd paths and
values. Each test is one item; the security ones plant code that would create a marker file, and the marker
must never appear."""
import json
import os
import re
import shutil
import signal
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

FIRST_TEACHER_UNIT = "unit-teacher-foldstack-member0.pt"  # the tiny covid-lstm teacher trains its folds at once
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
    torch.save({"model": _Planted(f"touch {marker}")}, store / FIRST_TEACHER_UNIT)
    code = main(["run", str(recipe), "--out", str(out), "--no-progress", "--resume"])
    err = one_error_line(capsys, code)
    assert f"{FIRST_TEACHER_UNIT} is not a checkpoint distill wrote" in err
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


@pytest.mark.parametrize("family, options", [
    ("ensemble", {"member": "planted_model:Factory", "member_options": {}, "size": 2}),
    ("ensemble", {"member": "mlp", "member_options": {}, "size": 1, "blend": [{"model": "planted_model:Factory"}]}),
    ("shrunk", {"base": "planted_model:Factory", "base_options": {}})])
def test_02_an_import_path_nested_in_a_models_options_runs_no_code(finished_run, tmp_path, capsys, monkeypatch,
                                                                    family, options):
    marker = tmp_path / "MARKER"
    (tmp_path / "planted_model.py").write_text(f"open({str(marker)!r}, 'w').close()\nFactory = None\n")
    monkeypatch.chdir(tmp_path)  # models named by path are looked for in the current folder too

    def plant(entry):  # the wrapper family would import its member / base: the planted module's code
        entry.update(model=family, options=options)
    run = tampered(finished_run, tmp_path, plant)
    err = one_error_line(capsys, main(["export", str(run), "student_kd", "--fold", "1"]))
    assert "import path" in err and "'planted_model:Factory'" in err and "--trust-imports" in err
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


# 5 ----------------------------------------------------------------------------------------------------------------
def test_05_a_third_run_into_a_live_folder_is_refused_too(tmp_path):
    recipe, out = tiny_recipe(tmp_path, epochs=100_000), tmp_path / "out"  # trains until killed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "DISTILL_CHECKPOINT_SECONDS": "0"}
    command = [sys.executable, "-m", "distill.cli", "run", str(recipe), "--out", str(out), "--no-progress"]
    live = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (resume_folder(out) / FIRST_TEACHER_UNIT).exists():  # the live run holds the lock and trains
            assert live.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        live.send_signal(signal.SIGSTOP)  # paused, it holds the lock and burns no core while the others start
        for _ in ("second", "third"):  # each accepted one would train 100,000 epochs: the timeout fails it
            refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=200)
            assert refused.returncode == 2 and "is in use by another run" in refused.stderr, refused.stderr
            assert live.poll() is None  # still alive, mid-training
        assert (tmp_path / ".out.lock").exists()  # the live run's lock, not unlinked by the refused ones
        assert (resume_folder(out) / "config.yaml").is_file()
    finally:
        live.kill()
        live.wait()


# 6 ----------------------------------------------------------------------------------------------------------------
def test_06_what_a_killed_run_left_is_cleared_and_reported(tmp_path, capsys):
    from distill.io.run_folder import staging_folder

    recipe, out = tiny_recipe(tmp_path), tmp_path / "out"
    staging = staging_folder(out)  # a final write killed half-way leaves its staging folder
    (staging / "models").mkdir()
    (staging / "models" / "teacher-fold1.pt").write_bytes(b"0" * 100_000)
    (tmp_path / ".out.lock").touch()  # and its lock
    resume_folder(out).mkdir()  # a run killed while training leaves its checkpoints
    (resume_folder(out) / FIRST_TEACHER_UNIT).write_bytes(b"saved")
    other = tmp_path / ".out.b.abcdefgh.tmp"  # the staging folder of another run folder (out.b) is left alone
    other.mkdir()
    assert main(["run", str(recipe), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"removed {staging} (0.1 MB), the unfinished output of an interrupted run" in err
    assert f"discarded {resume_folder(out)}, the checkpoints of an interrupted run (1 training loops)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.b.abcdefgh.tmp", "out", "recipe.yaml"]

    (tmp_path / ".out.lock").touch()  # a lock alone: taken over, and said
    assert main(["run", str(recipe), "--out", str(out), "--no-progress"]) == 0
    assert "took over the lock" in capsys.readouterr().err
    assert not (tmp_path / ".out.lock").exists()


# 7 ----------------------------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (needs root to mount); a tiny run's outputs are several MB."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_07_a_full_disk_is_one_line_and_leaves_nothing_behind(tmp_path, small_disk, capsys):
    recipe, out = tiny_recipe(tmp_path), small_disk / "out"
    out.mkdir()
    (out / "results.json").write_text('{"an": "earlier run"}')
    assert main(["run", str(recipe), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("distill: error: cannot write ") and "no space left" in err, err
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]  # no .out.resume, no staging folder, no lock
    assert [p.name for p in out.iterdir()] == ["results.json"]
    assert json.loads((out / "results.json").read_text()) == {"an": "earlier run"}


def test_07_a_checkpoint_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys):
    import torch

    def full(*args, **kwargs):  # what torch.save raises on a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    monkeypatch.setattr(torch, "save", full)
    recipe, out = tiny_recipe(tmp_path), tmp_path / "out"
    err = one_error_line(capsys, main(["run", str(recipe), "--out", str(out), "--no-progress"]))
    assert "cannot write" in err and FIRST_TEACHER_UNIT in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


# 8 ----------------------------------------------------------------------------------------------------------------
def test_08_resume_after_the_data_or_the_code_changed_is_refused(tmp_path, monkeypatch, capsys):
    from distill.data.covid_sim import simulate_covid

    data = tmp_path / "data.csv"
    simulate_covid(days=200, seed=0).to_csv(data, index=False)
    raw = tiny("covid-lstm", tmp_path)
    raw["data"] = {**raw["data"], "path": str(data)}
    recipe, out = tmp_path / "recipe.yaml", tmp_path / "out"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    resume_folder(out).mkdir()
    (resume_folder(out) / "config.yaml").write_text(run_fingerprint(load_config(str(recipe))))  # what a run saved
    simulate_covid(days=200, seed=1).to_csv(data, index=False)  # the data file replaced, same name and shape
    err = one_error_line(capsys, main(["run", str(recipe), "--out", str(out), "--no-progress", "--resume"]))
    assert "other data (data.path" in err

    simulate_covid(days=200, seed=0).to_csv(data, index=False)  # the same data again, another distill
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.0.1")  # what code_fingerprint reads
    err = one_error_line(capsys, main(["run", str(recipe), "--out", str(out), "--no-progress", "--resume"]))
    assert "another version of distill" in err
    assert (resume_folder(out) / "config.yaml").is_file()  # a refused --resume keeps the checkpoints


# 9 ----------------------------------------------------------------------------------------------------------------
def test_09_int8_export_measures_first_and_never_writes_a_file_without_its_accuracy(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run[0], run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["path"] = str(tmp_path / "moved.csv")  # the run's data is gone: the measurement fails
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    target = tmp_path / "student-int8.pt"
    one_error_line(capsys, main(["export", str(run), "student_kd", "--fold", "1", "--quantize", "int8",
                                 "--out", str(target)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    shutil.copy(finished_run[0] / "config.yaml", run / "config.yaml")
    assert main(["export", str(run), "student_kd", "--fold", "1", "--quantize", "int8", "--out", str(target)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "student-int8.pt", "student-int8.pt.accuracy.json"]


# 10 ---------------------------------------------------------------------------------------------------------------
def test_10_out_a_link_another_users_private_run_or_empty(tmp_path, capsys):
    from test_run_folder import run_lupi

    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    link.symlink_to(real)
    err = one_error_line(capsys, run_lupi(link))
    assert "is a symbolic link" in err and link.is_symlink() and list(real.iterdir()) == []

    private = tmp_path / "private"
    assert run_lupi(private) == 0
    private.chmod(0o700)
    owner = (1234, 1234) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        for path in [private, *private.rglob("*")]:
            os.lchown(path, *owner)
    assert run_lupi(private, "seed=1") == 0
    status = private.stat()
    assert (status.st_mode & 0o777, status.st_uid, status.st_gid) == (0o700, *owner)
    assert {(p.stat().st_uid, p.stat().st_gid) for p in private.rglob("*")} == {owner}

    one_error_line(capsys, main(["run", "lupi-synthetic", "--out", ""]))


# 11 ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only folder: a read-only tmpfs mount as root (root writes anywhere else), mode 0555 otherwise."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs")
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_11_run_inputs_that_raised_tracebacks_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "out")
    listed = tmp_path / "listed.yaml"
    listed.write_text(yaml.safe_dump({**tiny("covid-lstm", tmp_path), "protocol": ["forecast"]}))
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    cache = tmp_path / "cache" / "covid19-open-data"
    cache.mkdir(parents=True)
    (cache / "US_XX.csv").write_text("date,new_hospitalized_patients\n2020-01-01,1\n")
    (cache / "US_XX.csv.json").write_text("[1, 2]")  # a record that is a JSON list
    offline = ["--set", "data.location=US_XX"]
    cases = [(["run", str(listed), "--out", out], "unknown protocol ['forecast']"),
             (["run", "covid-lstm", "--out", out, "--set", "seed=-1"], "bad value for seed"),
             (["run", "covid-lstm", "--out", out, "--set", f"seed={2**64}"], "bad value for seed"),
             (["run", "covid-lstm", "--out", out, *offline, "--set", f"data.cache_dir={a_file}"], "not a writable folder"),
             (["run", "covid-lstm", "--out", out, *offline, "--set", f"data.cache_dir={tmp_path / 'cache'}"],
              "not a size/hash mapping"),
             (["run", "covid-lstm", "--out", f"{tmp_path}/x/.."], "does not name a folder"),
             (["run", "covid-lstm", "--out", str(tmp_path / ("n" * 256))], "is 256 bytes"),
             (["run", "covid-lstm", "--out", str(tmp_path / ("n" * 250))], "is 250 bytes")]
    for argv, message in cases:
        assert message in one_error_line(capsys, main(argv)), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "cache", "listed.yaml"]


def test_11_a_read_only_cache_is_one_line(read_only_dir, capsys):
    code = main(["run", "covid-lstm", "--out", str(read_only_dir.parent / "out"), "--set", "data.location=US_XX",
                 "--set", f"data.cache_dir={read_only_dir}"])
    assert "not a writable folder" in one_error_line(capsys, code)


def test_11_serving_a_damaged_run_or_to_a_bad_out_is_one_line(finished_run, tmp_path, read_only_dir, capsys):
    run, table = finished_run
    predict = ["predict", str(run), "--data", str(table), "--fold", "1"]
    assert "is a folder" in one_error_line(capsys, main([*predict, "--out", str(tmp_path)]))
    assert "cannot write" in one_error_line(capsys, main([*predict, "--out", str(read_only_dir / "f.csv")]))
    assert "cannot write" in one_error_line(capsys, main(["export", str(run), "student_kd", "--fold", "1",
                                                          "--out", str(read_only_dir / "m.pt2")]))
    damaged = tmp_path / "damaged"
    for name, text, message in (("config.yaml", "[1, 2]", "must hold a YAML mapping"),
                                ("config.yaml", "a: [unclosed", "is not valid YAML"),
                                ("models/scaling-fold1.json", "{not json", "is not JSON"),
                                ("models/scaling-fold1.json", '{"min": [0]}', "has no `columns` list"),
                                ("models/scaling-fold1.json", '{"columns": ["new_hospitalized_patients"]}',
                                 "names 1 columns")):
        shutil.rmtree(damaged, ignore_errors=True)
        shutil.copytree(run, damaged)
        (damaged / name).write_text(text)
        code = main(["predict", str(damaged), "--data", str(table), "--fold", "1"])
        assert message in one_error_line(capsys, code), (name, text)
    listed = tampered(finished_run, tmp_path / "listed", lambda entry: entry.update(options=[1, 2]))
    code = main(["export", str(listed), "student_kd", "--fold", "1"])
    assert "expected a model name and a mapping of options" in one_error_line(capsys, code)


def test_11_distiller_labels_out_of_range_are_one_line():
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    y[7] = 5
    with pytest.raises(DistillError, match="a label is not a class index 0..C-1 of the outputs: Target 5"):
        distill.Distiller(nn.Linear(4, 3), nn.Linear(4, 3)).fit(DataLoader(TensorDataset(x, y), batch_size=8), 1)


# 12 ---------------------------------------------------------------------------------------------------------------
def test_12_configs_that_ran_silently_wrong_are_refused(tmp_path, capsys):
    out = str(tmp_path / "out")
    for sets, message in ((["students={}"], "students is empty"),
                          (["train.epochs=true"], "a number is expected, not true/false"),
                          ([f"train.epochs={10**23}"], "less than or equal to 1000000"),
                          (["teacher.epochs=2000000"], "less than or equal to 1000000"),
                          (["train.device=cuda:9"], "'cuda:9' asked for")):
        argv = ["run", "covid-lstm", "--out", out, *[part for item in sets for part in ("--set", item)]]
        assert message in one_error_line(capsys, main(argv)), sets
    assert not (tmp_path / "out").exists()


def test_12_one_class_images_and_odd_data_files_are_refused(tmp_path):
    import torch

    from distill.data.images import load_image_folders
    from distill.data.tensors import load_tensors

    for part in ("train", "test"):
        (tmp_path / "xray" / part / "normal").mkdir(parents=True)
        for index in range(2):
            Image.fromarray(np.full((4, 4), index * 90, np.uint8)).save(tmp_path / "xray" / part / "normal" / f"{index}.png")
    with pytest.raises(DistillError, match="has one class \\(normal\\); a classifier needs at least 2"):
        load_image_folders(tmp_path / "xray", size=4)
    torch.save({"x": torch.zeros(4, 2), "y": torch.zeros(4)}, tmp_path / "one.pt")
    with pytest.raises(DistillError, match="1 class; a classifier needs at least 2"):
        load_tensors(tmp_path / "one.pt")

    (tmp_path / "folder.pt").mkdir()
    os.mkfifo(tmp_path / "fifo.pt")
    (tmp_path / "zero.pt").symlink_to("/dev/zero")
    for name, kind in (("folder.pt", "is a folder"), ("fifo.pt", "is a FIFO"),
                       ("zero.pt", "(a link to /dev/zero) is a device")):
        with pytest.raises(DistillError, match=re.escape(kind)):
            load_tensors(tmp_path / name)


def test_12_distiller_refuses_an_empty_loader_and_stops_on_a_non_finite_loss():
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    distiller = distill.Distiller(nn.Linear(4, 3), nn.Linear(4, 3))
    with pytest.raises(DistillError, match="train_loader yields no batches"):
        distiller.fit(DataLoader(TensorDataset(x[:0], y[:0]), batch_size=8), 2)
    x[10, 1] = float("nan")  # one cell, in the second batch of 8
    with pytest.raises(DistillError, match="loss is not finite in epoch 1, batch 2"):
        distiller.fit(DataLoader(TensorDataset(x, y), batch_size=8), 2)


def test_12_an_mnist_gzip_bomb_is_refused_while_streaming(tmp_path):
    import gzip
    import tracemalloc

    from distill.data.mnist import read_idx

    header = bytes([0, 0, 8, 3]) + np.array([10, 28, 28], ">u4").tobytes()  # says 7,840 bytes follow
    with gzip.open(tmp_path / "bomb.gz", "wb", compresslevel=1) as out:
        out.write(header)
        block = bytes(1 << 20)
        for _ in range(200):  # 200 MB of zeros in about 200 kB
            out.write(block)
    tracemalloc.start()
    with pytest.raises(DistillError, match="corrupt IDX file: header says shape \\(10, 28, 28\\)"):
        read_idx(tmp_path / "bomb.gz")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20, f"{peak:,} bytes held while refusing the bomb"


def test_12_a_forecasting_table_that_is_a_folder_or_fifo_is_named_as_such(tmp_path, capsys):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    for path, kind in ((tmp_path, "is a folder"), (fifo, "is a FIFO")):
        err = one_error_line(capsys, main(["run", "covid-lstm", "--set", f"data.path={path}", "--out",
                                           str(tmp_path / "out"), "--no-progress"]))
        assert kind in err and "not found" not in err

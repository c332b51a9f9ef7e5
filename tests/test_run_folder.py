"""A run folder never mixes two runs: built beside it and moved into place, locked while a run uses it,
no temporary files left, files readable by others, and the default folder kept inside runs/."""
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from distill.cli import main
from distill.errors import DistillError
from distill.io.run_folder import check_out_dir, claim_run_folder, default_out_dir

TINY = ["synthetic.repetitions=2", "synthetic.epochs=3", "synthetic.dim=5", "synthetic.train_size=20",
        "synthetic.test_size=10", "synthetic.experiments=[clean_labels]"]


def run_lupi(out: Path, *sets: str) -> int:
    args = [part for item in (*TINY, *sets) for part in ("--set", item)]
    return main(["run", "lupi-synthetic", "--out", str(out), *args, "--no-progress"])


def all_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_a_run_replaces_an_earlier_run_whole_and_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "run"
    assert run_lupi(out, "seed=0") == 0
    (out / "models" / "clean_labels" / "distilled-fold9.pt").write_bytes(b"an old fold")  # from a longer run
    assert run_lupi(out, "seed=1") == 0
    assert not (out / "models" / "clean_labels" / "distilled-fold9.pt").exists()
    assert json.loads((out / "results.json").read_text())["settings"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no .tmp folder, no lock left
    assert not [p for p in all_files(out) if p.name.endswith(".tmp")]


def test_files_are_readable_by_others_under_the_usual_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert run_lupi(tmp_path / "run") == 0
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(path.stat().st_mode) for path in all_files(tmp_path / "run")}
    assert modes == {0o644}
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755


def test_a_failed_run_keeps_the_earlier_run_whole(tmp_path):
    out = tmp_path / "run"
    assert run_lupi(out, "seed=0") == 0
    before = {path: path.read_bytes() for path in all_files(out)}
    assert run_lupi(out, "synthetic.dim=1") == 2  # a bad input, after the folder was claimed
    assert {path: path.read_bytes() for path in all_files(out)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_second_run_into_a_folder_in_use_is_refused_with_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from distill.io.run_folder import claim_run_folder
        with claim_run_folder(Path({str(out)!r})):
            print("claimed", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "claimed"
        assert run_lupi(out) == 2
        err = capsys.readouterr().err
        assert err.startswith("distill: error: --out ") and "in use by another run" in err and err.count("\n") == 1
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_lupi(out) == 0  # the kernel released the killed holder's lock


@pytest.mark.parametrize("make, message", [
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "is an existing file"),
    (lambda tmp: Path("/proc/self/distill-out"), "inside /proc, a system folder"),
    (lambda tmp: (tmp / "notes.txt").write_text("mine") and tmp, "holds files that are not a distill run's (notes.txt)"),
])
def test_unusable_out_folders_are_refused_before_training(tmp_path, make, message):
    with pytest.raises(DistillError, match=re.escape(message)):
        check_out_dir(make(tmp_path))


def test_the_command_checks_out_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert run_lupi(tmp_path / "file", "synthetic.epochs=100000") == 2  # refused at once, not after training
    err = capsys.readouterr().err
    assert err == (f"distill: error: --out {tmp_path / 'file'} is an existing file; give a folder (new, empty or "
                   "an earlier run's)\n")


def test_an_unwritable_parent_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(DistillError, match="is not a writable folder"):
        check_out_dir(locked / "run")


def test_a_recipe_name_cannot_steer_the_default_folder_outside_runs():
    for name in ("../../etc/x", "/abs/path", "..", "a/../../b", ".hidden"):
        folder = default_out_dir(name)
        assert folder.parent == Path("runs") and "/" not in folder.name and not folder.name.startswith(".")


def test_claim_releases_its_lock_file(tmp_path):
    with claim_run_folder(tmp_path / "run"):
        assert (tmp_path / ".run.lock").exists()
    assert not (tmp_path / ".run.lock").exists()

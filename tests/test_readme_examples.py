"""The examples in the README and docs/*.md (each ```python block starting `# file: NAME`) run as written;
the DDP example gives the same student on 2 CPU processes as on 1.

The DDP runs must hold on a machine busy with other test runs: torchrun --standalone rendezvouses on a port the
system picks for each run (localhost:0, so two runs never share one), every rank leaves the process group
together at exit (`distill.core.distributed.leave_group`), and a run that overstays its timeout is killed with
all its worker processes (its own session), so no orphaned rank keeps a port or a core.
"""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    blocks = [block for document in DOCUMENTS for block in BLOCK.findall(document.read_text())]
    names = [name for name, _ in blocks]
    assert len(names) == len(set(names)), f"two examples share a file name: {names}"
    return dict(blocks)


TIMEOUT = 600  # seconds; a healthy run takes 5-30 s


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # torchrun and every rank it started
            stdout, stderr = process.communicate()
            pytest.fail(f"{' '.join(args)} ran over {TIMEOUT} s:\n{stderr[-3000:]}")
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    assert result.returncode == 0, stdout[-1000:] + stderr[-3000:]
    return result


def test_the_docs_have_the_three_examples():
    assert set(examples()) == {"distiller_digits.py", "own_model_and_data.py", "distiller_ddp.py"}


@pytest.mark.parametrize("name", ["distiller_digits.py", "own_model_and_data.py"])
def test_example_runs(name, tmp_path):
    (tmp_path / name).write_text(examples()[name])
    result = run([sys.executable, name], tmp_path)
    assert "accuracy" in result.stdout


def test_ddp_example_matches_one_process(tmp_path):
    students = []
    for nproc in (1, 2):
        folder = tmp_path / f"nproc{nproc}"
        folder.mkdir()
        (folder / "distiller_ddp.py").write_text(examples()["distiller_ddp.py"])
        result = run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                      "distiller_ddp.py"], folder)
        assert f"{nproc} process(es): accuracy" in result.stdout
        students.append(torch.load(folder / "ddp-student.pt", weights_only=True))
    for key in students[0]:
        torch.testing.assert_close(students[0][key], students[1][key], atol=1e-5, rtol=1e-4)

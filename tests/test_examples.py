"""The scripts in examples/ run as a user runs them (a fresh process, from the repository root), at tiny scale."""
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-1000:] + result.stderr[-3000:]
    return result.stdout


def test_every_example_is_tested():
    assert {path.name for path in EXAMPLES.glob("*.py")} == {"distiller_digits.py", "forecast_from_python.py",
                                                             "predict_from_run.py"}


def test_distiller_digits(tmp_path):
    out = run_example("distiller_digits.py", "--epochs", "2", cwd=tmp_path)
    accuracy = float(out.split("student accuracy ")[1].split()[0])
    assert accuracy > 0.5  # ten classes: chance is 0.1; two epochs already reach about 0.8


def test_forecast_then_predict_from_the_run(tmp_path, tiny_forecast):
    sets = [arg for override in tiny_forecast for arg in ("--set", override)]
    out = run_example("forecast_from_python.py", "--out", "run", "--epochs", "2", "--folds", "2", *sets, cwd=tmp_path)
    assert {"persistence", "teacher", "student_kd", "student_scratch"} <= {line.split()[0] for line in
                                                                          out.splitlines()[1:]}
    assert (tmp_path / "run" / "results.json").is_file()
    forecast = run_example("predict_from_run.py", "run", cwd=tmp_path).splitlines()
    assert forecast[0].split() == ["date", "new_hospitalized_patients"]
    assert len(forecast) == 1 + 14  # the header and the recipe's 14-day horizon
    assert all(float(line.split()[1]) >= 0 for line in forecast[1:])  # counts, clipped at 0

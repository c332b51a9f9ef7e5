"""Serving figures of a covid-lstm run: latency of teacher and student_kd in every format, `distill predict` end to
end, and what int8 costs in accuracy beside what it saves in time.

Latency: torch.utils.benchmark `blocked_autorange`, one thread (torch and onnxruntime), batch 1 and 256, median
and interquartile range per call, for eager PyTorch, the torch.export program, onnxruntime (float), onnxruntime
int8 (onnxruntime's dynamic quantiser) and torch int8 (`quantize_dynamic` of Linear and LSTM, eager). Targets: the
student on onnxruntime at batch 1 <= 0.2 x the teacher's eager latency; `distill predict` (a fresh process,
start-up included) < 3 s. A ratio is given with the range the two IQRs allow, not as one number.

    python benchmarks/bench_serve.py [--run RUN_DIR]     # without --run: trains `distill run covid-lstm` (~40 s)

Needs the serve extra (`pip install -e '.[serve]'`).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils import benchmark

import distill
from distill.data.covid_sim import write_covid_sim
from distill.io.checkpoints import load_model, model_input_shape
from distill.io.export_formats import onnx_program, onnx_session, quantize_onnx, quantize_torch, run_onnx
from distill.protocols.serve import int8_accuracy

MODELS = ("teacher", "student_kd")
BATCHES = (1, 256)


def variants(run_dir: Path, name: str) -> dict:
    """Callables x -> outputs for every serving format of the run's final `name`."""
    model = load_model(run_dir, name)
    shape = model_input_shape(run_dir, name)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (torch.zeros(2, *shape),), dynamic_shapes=({0: batch},)).module()
    float_onnx = onnx_program(model, shape)[0]
    session, int8_session = onnx_session(float_onnx, threads=1), onnx_session(quantize_onnx(float_onnx), threads=1)
    quantized = quantize_torch(load_model(run_dir, name))
    return {"eager": model, "torch.export": program, "onnxruntime": lambda x: run_onnx(session, x),
            "onnxruntime int8": lambda x: run_onnx(int8_session, x), "torch int8": quantized}, shape


def latency(call, x: torch.Tensor) -> tuple[float, float, float]:
    """(median, 25th, 75th percentile) milliseconds per call, one thread."""
    timer = benchmark.Timer(stmt="with torch.no_grad(): call(x)", globals={"call": call, "x": x, "torch": torch},
                            num_threads=1)
    measurement = timer.blocked_autorange(min_run_time=1.0)
    times = sorted(measurement.times)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return measurement.median * 1e3, quartiles[0] * 1e3, quartiles[2] * 1e3


def predict_wall(run_dir: Path, repeats: int = 5) -> list[float]:
    """Seconds of `distill predict` in a fresh process (Python, imports, cleaning, scaling, model, CSV)."""
    with tempfile.TemporaryDirectory() as folder:
        data = write_covid_sim(Path(folder) / "new.csv", days=400, seed=7)
        command = [sys.executable, "-m", "distill.cli", "predict", str(run_dir), "--data", str(data),
                   "--out", str(Path(folder) / "forecast.csv")]
        walls = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a finished covid-lstm run folder (with train.final_fit)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.run:
        run_dir = Path(args.run)
    else:
        run_dir = Path(tempfile.mkdtemp()) / "covid-lstm"
        distill.run("covid-lstm", out=run_dir, show_progress=False)
    table = {}
    for name in MODELS:
        calls, shape = variants(run_dir, name)
        for batch in BATCHES:
            x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
            for variant, call in calls.items():
                table[name, variant, batch] = latency(call, x)
    print(f"latency per call, ms, one thread: median (IQR), run {run_dir}")
    print(f"{'model':<11} {'format':<17}" + "".join(f"{f'batch {b}':>24}" for b in BATCHES))
    for name, variant, _ in [key for key in table if key[2] == BATCHES[0]]:
        cells = "".join(f"{table[name, variant, b][0]:>10.3f} ({table[name, variant, b][1]:.3f}-"
                        f"{table[name, variant, b][2]:.3f})" for b in BATCHES)
        print(f"{name:<11} {variant:<17}{cells}")
    student, teacher = table["student_kd", "onnxruntime", 1], table["teacher", "eager", 1]
    print(f"\nstudent_kd on onnxruntime / teacher eager, batch 1: {student[0] / teacher[0]:.3f} of the median "
          f"({student[1] / teacher[2]:.3f}..{student[2] / teacher[1]:.3f} across the IQRs; target <= 0.2)")
    walls = predict_wall(run_dir)
    print(f"distill predict end to end (fresh process): median {statistics.median(walls):.2f} s, "
          f"min {min(walls):.2f}, max {max(walls):.2f} over {len(walls)} runs (target < 3 s)")
    print("\nint8: accuracy change on the CV test folds beside the latency gain (batch 256 / batch 1 medians)")
    for name in MODELS:
        for fmt, float_variant, int8_variant in (("onnx", "onnxruntime", "onnxruntime int8"),
                                                 ("torch", "eager", "torch int8")):
            accuracy = int8_accuracy(run_dir, name, fmt)
            change = accuracy["change"]
            speed = "; ".join(f"batch {b}: {table[name, float_variant, b][0] / table[name, int8_variant, b][0]:.2f}x"
                              for b in BATCHES)
            print(f"{name:<11} {int8_variant:<17} MAE {accuracy['float']['mean']:.2f} -> {accuracy['int8']['mean']:.2f} "
                  f"patients/day (change {change['mean']:+.3f} +- {change['sem']:.3f} SEM, {accuracy['folds']} folds); "
                  f"speed-up over {float_variant}: {speed}")


if __name__ == "__main__":
    main()

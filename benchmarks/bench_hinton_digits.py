"""Run the hinton-digits recipe (5 folds) as `distill run` does and print its wall time and figures.

Targets (issue 3): at most 60 s on a 2-core CPU; the distilled student, at least 10x smaller than the
teacher, beats the student alone by more than the SEM of the paired difference.
Usage: python benchmarks/bench_hinton_digits.py [--out DIR] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from distill import protocols
from distill.io.run_writer import write_run
from distill.io.tables import format_mean_sem
from distill.protocols.classification.run import classification_output, run_classification


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: a temporary folder)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="bench-hinton-digits-"))
    start, cpu_start = time.perf_counter(), time.process_time()
    config = protocols.load_config("hinton-digits", args.set)
    run = run_classification(config, show_progress=False)
    trained = time.perf_counter() - start
    write_run(classification_output(run, config), config, out_dir)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    results = run.results
    models = results["models"]
    print(f"hinton-digits, {results['folds']} folds: wall {wall:.1f} s (protocol {trained:.1f} s, "
          f"report {wall - trained:.1f} s), CPU {cpu:.1f} s; target <= 60 s")
    for name, entry in models.items():
        print(f"  {name:16s} params {entry['params']:>8,}  accuracy {format_mean_sem(entry['test']['accuracy'])}  "
              f"errors {format_mean_sem(entry['test']['errors'], 1)}")
    ratio = models["teacher"]["params"] / models["student_kd"]["params"]
    diff = results["comparison"]["student_kd_vs_student_scratch"]
    gain, sem = -diff["mean"], diff["sem"]
    gap = results["gap_recovered"]["student_kd"]["share"]
    print(f"teacher / student parameters: {ratio:.1f}x (target >= 10x)")
    print(f"student_kd - student_scratch accuracy: {gain:+.4f} +- {sem:.4f} (SEM of the paired difference); "
          f"{'beats' if gain > sem else 'does NOT beat'} the SEM; fewer errors in {diff['wins']} of "
          f"{diff['folds']} folds")
    print(f"share of the teacher - student gap recovered: {'n/a' if gap is None else f'{gap:.0%}'}")
    print(f"report: {out_dir / 'report.md'}")


if __name__ == "__main__":
    main()

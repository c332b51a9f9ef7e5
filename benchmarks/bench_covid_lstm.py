"""Wall time and peak memory of the default `distill run covid-lstm` (targets: <= 45 s, <= 600 MB).

Runs the real command in a child process (so the figure includes Python, torch and the report) and
reads the child's peak resident set size from the OS.

    python benchmarks/bench_covid_lstm.py [--recipe covid-lstm] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="covid-lstm")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "distill.cli", "run", args.recipe, "--out", out, "--no-progress"]
        command += [item for pair in args.set for item in ("--set", pair)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"run failed: {done.stderr.strip()}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(done.stdout)
    print(f"recipe {args.recipe}: wall {wall:.1f} s (target <= 45 s), peak RSS {peak_mb:.0f} MB (target <= 600 MB)")


if __name__ == "__main__":
    main()

"""Does the default `train.threads` hold up when another process is busy on the machine?

Runs one recipe (covid-lstm by default) in a child process, each time beside one CPU-burning competitor
process (a Python busy loop: one core's worth of other work), with:
- the default threads (no `train.threads` set: 1 since issue 12),
- `train.threads=1` set explicitly,
- `train.threads=null`: torch's own default, one thread per core (the default before issue 12),
and prints each wall time and the largest difference in any model's mean test metric from the first run.
With torch's default, the intra-op threads wait for one another while the competitor holds a core; one thread
does not (the models are small, a step is well under a millisecond of work).

    python benchmarks/bench_threads.py [--recipe covid-lstm] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {"default": [], "threads=1": ["train.threads=1"], "threads=null (torch: one per core)":
            ["train.threads=null"]}


def run(recipe: str, overrides: list[str]) -> tuple[dict, float]:
    """results.json and wall seconds of one `distill run` in a child process."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "distill.cli", "run", recipe, "--out", out, "--no-progress"]
        command += [item for pair in overrides for item in ("--set", pair)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"run failed: {done.stderr.strip()}")
        return json.loads((Path(out) / "results.json").read_text()), wall


def test_means(results: dict) -> dict[tuple[str, str], float]:
    """(model, metric) -> mean test score of every model, for the metrics summarised as one number."""
    return {(name, metric): score["mean"] for name, entry in results["models"].items()
            for metric, score in entry.get("test", {}).items()
            if isinstance(score, dict) and isinstance(score.get("mean"), float)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="covid-lstm")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        reference = None
        for label, threads in SETTINGS.items():
            results, wall = run(args.recipe, args.overrides + threads)
            means = test_means(results)
            reference = reference or means
            moved = max(abs(means[key] - reference[key]) for key in reference)
            print(f"{args.recipe} {label:<36} beside one busy process: {wall:7.1f} s wall "
                  f"(largest change in a mean test metric: {moved:.3g})", flush=True)
    finally:
        competitor.kill()
        competitor.wait()


if __name__ == "__main__":
    main()

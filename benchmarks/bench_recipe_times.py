"""Measure how long each built-in recipe takes at its full settings and record it for `distill recipes`.

    python benchmarks/bench_recipe_times.py [NAME ...]      # default: every built-in recipe, one after another

Each recipe runs as the user would run it (`python -m distill.cli run NAME --out TMP --no-progress`, in a fresh
process; pm25-pi on a file from `distill data pm25-like`). Its wall time, the CPU time of the process, the cores
the machine has and the 1-minute load average when it started (other work sharing the cores makes a run slower)
are merged into src/distill/recipes/times.json, which `distill recipes` reads. Nothing there is typed by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import distill
from distill.config import RECIPE_TIMES, recipe_names

TIMES = Path(distill.__file__).parent / "recipes" / RECIPE_TIMES
NEEDS_DATA = {"pm25-pi": ("pm25-like", "data.path")}  # recipe -> (generator of `distill data`, the key it sets)


def command(name: str, work: Path) -> list[str]:
    """The command that runs the recipe, writing any data it needs first."""
    run = [sys.executable, "-m", "distill.cli", "run", name, "--out", str(work / "out"), "--no-progress"]
    if name in NEEDS_DATA:
        generator, key = NEEDS_DATA[name]
        data = work / f"{generator}.csv"
        subprocess.run([sys.executable, "-m", "distill.cli", "data", generator, "--out", str(data)], check=True,
                       stdout=subprocess.DEVNULL)
        run += ["--set", f"{key}={data}"]
    return run


def measure(name: str) -> dict:
    """Run the recipe once; its wall and CPU seconds and the conditions it ran in."""
    with tempfile.TemporaryDirectory() as work:
        run = command(name, Path(work))
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(run, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "cores": os.cpu_count(),
            "load_average": round(load, 2), "measured": date.today().isoformat(), "torch": _torch_version()}


def _torch_version() -> str:
    import torch

    return torch.__version__


def record(name: str, entry: dict) -> None:
    """Merge one measurement into times.json (written whole, then renamed: never half-written)."""
    times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    times[name] = entry
    temporary = TIMES.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
    temporary.replace(TIMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="recipes to measure (default: all)")
    names = parser.parse_args().names or recipe_names()
    unknown = sorted(set(names) - set(recipe_names()))
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; built-in: {', '.join(recipe_names())}")
    for name in names:
        entry = measure(name)
        record(name, entry)
        print(f"{name}: {entry['seconds']:.1f} s wall, {entry['cpu_seconds']:.1f} s CPU on {entry['cores']} cores "
              f"(load average {entry['load_average']:.2f} at the start)", flush=True)


if __name__ == "__main__":
    main()

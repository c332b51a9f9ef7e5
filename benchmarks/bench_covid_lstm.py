"""The covid-lstm targets: forecast skill, what the student keeps, wall time and peak memory.

Runs the real command in a child process (so time and memory include Python, torch and the report) once per
data set - the simulated default for each `--sim-seeds` seed, and each `--file` (a COVID-19 Open Data v3
location CSV) - and prints from its results.json:
- teacher skill over persistence (mean +- SEM over folds) with the paired p-value and the Holm-adjusted one;
  the oracle's skill and the teacher's share of the achievable skill (simulated data);
- student_kd's share of the teacher's skill, and student_kd vs student_scratch in patients/day with its p-value;
- teacher vs persistence on horizon days 1-7 (skill, p-values);
- skill over persistence for every horizon day (1 - mean MAE / persistence's mean MAE on that day, over folds)
  of the teacher, student_kd and ridge;
- models flagged as collapsed (output spread < 0.05);
- wall time (target <= 45 s for the default) and the child's peak RSS (target <= 600 MB).

    python benchmarks/bench_covid_lstm.py [--sim-seeds 0 1 2] [--file US_FL.csv ...] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(recipe: str, overrides: list[str]) -> tuple[dict, float, float]:
    """results.json, wall seconds and peak RSS (MB) of one `distill run` in a child process."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "distill.cli", "run", recipe, "--out", out, "--no-progress"]
        command += [item for pair in overrides for item in ("--set", pair)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"run failed: {done.stderr.strip()}")
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
        return json.loads((Path(out) / "results.json").read_text()), wall, peak


def describe(label: str, results: dict, wall: float, peak: float) -> list[str]:
    models, comparison = results["models"], results["comparison"]
    skill = lambda name: models[name]["test"]["skill"]
    teacher, kd = skill("teacher"), skill("student_kd")
    vs_persistence = comparison["teacher_vs_persistence"]
    first_week = comparison["teacher_vs_persistence_first_week"]
    kd_scratch = comparison["student_kd_vs_student_scratch"]
    lines = [f"== {label}: {results['data']['windows']} windows, {results['folds']} folds; wall {wall:.1f} s, "
             f"peak RSS {peak:.0f} MB",
             f"teacher skill {teacher['mean']:.3f} +- {teacher['sem']:.3f} (per fold "
             f"{', '.join(f'{v:.2f}' for v in teacher['per_fold'])}); paired p = {vs_persistence['p_value']:.4f}, "
             f"Holm p = {vs_persistence['p_adjusted']:.4f} -> {vs_persistence['verdict']}"]
    if "oracle" in models:
        oracle = skill("oracle")["mean"]
        lines.append(f"oracle skill {oracle:.3f}; teacher's share of the achievable skill "
                     f"{models['teacher']['test']['share_of_achievable']['mean']:.2f}")
    lines += [f"student_kd skill {kd['mean']:.3f} +- {kd['sem']:.3f}: keeps {kd['mean'] / teacher['mean']:.0%} of the "
              f"teacher's skill" if teacher["mean"] > 0 else f"student_kd skill {kd['mean']:.3f} +- {kd['sem']:.3f}",
              f"student_kd - student_scratch MAE {kd_scratch['mean']:+.1f} +- {kd_scratch['sem']:.1f} per day, "
              f"p = {kd_scratch['p_value']:.4f}, Holm p = {kd_scratch['p_adjusted']:.4f} -> {kd_scratch['verdict']}",
              f"teacher vs persistence on days 1-7: skill {first_week['mean']:+.3f} +- {first_week['sem']:.3f}, "
              f"p = {first_week['p_value']:.4f}, Holm p = {first_week['p_adjusted']:.4f} -> {first_week['verdict']}",
              *horizon_skill(models),
              "collapsed: " + ("; ".join(results["warnings"]) or "none")]
    return lines


def horizon_skill(models: dict) -> list[str]:
    """One line per model: skill over persistence on each horizon day."""
    by_day = lambda name: models[name]["test"]["mae_by_horizon"]["mean"]
    persistence = by_day("persistence")
    lines = ["skill by horizon day " + " ".join(f"{f'd{day}':>6}" for day in range(1, len(persistence) + 1))]
    for name in ("teacher", "student_kd", "ridge"):
        skills = [1 - error / base for error, base in zip(by_day(name), persistence)]
        lines.append(f"  {name:18s} " + " ".join(f"{value:+6.2f}" for value in skills))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="covid-lstm")
    parser.add_argument("--sim-seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--file", action="append", default=[], help="a v3 location CSV (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    datasets = [(f"simulated, sim_seed={seed}", [f"data.sim_seed={seed}"]) for seed in args.sim_seeds]
    datasets += [(path, [f"data.path={path}"]) for path in args.file]
    for label, overrides in datasets:
        print("\n".join(describe(label, *run(args.recipe, overrides + args.set))), flush=True)


if __name__ == "__main__":
    main()

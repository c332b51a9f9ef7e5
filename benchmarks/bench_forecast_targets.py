"""Issue 19's targets, measured: the default covid-lstm on 3 simulator seeds and on each real file, rolling origin.

    python benchmarks/bench_forecast_targets.py                  # sim seeds 0 1 2, US_FL, US_NY_36061
    python benchmarks/bench_forecast_targets.py --seeds 0 --skip-real
    python benchmarks/bench_forecast_targets.py --set teacher.shrink=ridge   # any config override, every run

Per run it prints the skill over persistence (mean +- SEM over the refit blocks) of the teacher, both students,
ridge, AutoETS and the best baseline (chosen on inner validation, never on test), then each target with its Holm
verdict: teacher >= 0.45 and better than ridge and the best baseline (simulator); student_kd keeps >= 90% of the
teacher's skill with <= 1/4 of its parameters, and beats student_scratch; on the real files the teacher beats
persistence and the best baseline, or is within one SEM of AutoETS. Nothing here is tuned; it reads results.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from distill.protocols import load_config
from distill.protocols.forecast.run import run_forecast

ROOT = Path(__file__).resolve().parents[1]
DATA = next((up / "shared" / "data" / "covid-19-open-data" for up in ROOT.parents
             if (up / "shared" / "data" / "covid-19-open-data").is_dir()), ROOT.parent / "shared")
REAL = {"US_FL": DATA / "US_FL.csv", "US_NY_36061": DATA / "US_NY_36061.csv"}
MODELS = ("teacher", "student_kd", "student_scratch", "ridge", "auto_ets")


def _skill(models: dict, name: str) -> dict | None:
    return models.get(name, {}).get("test", {}).get("skill")


def _cell(summary: dict | None) -> str:
    return "-" if summary is None else f"{summary['mean']:+.3f} +- {summary['sem']:.3f}"


def _verdict(comparison: dict, key: str) -> str:
    entry = comparison.get(key)
    return "-" if entry is None else f"{entry['verdict']} (Holm p = {entry['p_adjusted']:.3g})"


def _params(models: dict, name: str) -> int:
    return int(models[name]["params"])


def report(label: str, results: dict, simulated: bool, seconds: float) -> None:
    models, comparison = results["models"], results["comparison"]
    best = results["best_baseline"]["name"]
    print(f"\n## {label} ({seconds:.0f} s; best baseline on inner validation: {best})")
    for name in (*MODELS, best):
        print(f"  {name:16s} skill {_cell(_skill(models, name))}")
    if "data_choice" in results:
        choice = results["data_choice"]
        print(f"  chosen on the first fit's inner validation: input_days {choice['input_days']}, the target + "
              f"{choice['features']} features")
    teacher, kd = _skill(models, "teacher"), _skill(models, "student_kd")
    ratio = _params(models, "student_kd") / _params(models, "teacher")
    kept = kd["mean"] / teacher["mean"] if teacher["mean"] > 0 else float("nan")
    if simulated:
        print(f"  target teacher skill >= 0.45: {'met' if teacher['mean'] >= 0.45 else 'NOT met'} "
              f"({teacher['mean']:.3f})")
        ridge = _skill(models, "ridge")
        print(f"  target teacher better than ridge: skill {teacher['mean'] - ridge['mean']:+.3f} against it "
              "(paired verdict: the best-baseline line below, when ridge is the best baseline)")
    else:
        ets = _skill(models, "auto_ets")
        within = ets is not None and abs(teacher["mean"] - ets["mean"]) <= ets["sem"]
        print(f"  target teacher within one SEM of AutoETS: {'met' if within else 'NOT met'}")
        print(f"  teacher vs persistence: {_verdict(comparison, 'teacher_vs_persistence')}")
    print(f"  teacher vs best baseline: {_verdict(comparison, 'teacher_vs_best_baseline')}")
    print(f"  target student_kd keeps >= 90% of the teacher's skill: {kept:.2f} of it "
          f"({'met' if kept >= 0.9 else 'NOT met'}); params {ratio:.3f}x the teacher's "
          f"({'met' if ratio <= 0.25 else 'NOT met'})")
    print(f"  target student_kd beats student_scratch: {_verdict(comparison, 'student_kd_vs_student_scratch')}")


def run(label: str, overrides: list[str], simulated: bool) -> None:
    start = time.perf_counter()
    results = run_forecast(load_config("covid-lstm", overrides + ["train.final_fit=false"]),
                           show_progress=False).results
    report(label, results, simulated, time.perf_counter() - start)


def data_sets(description: str) -> list[tuple[str, list[str], bool]]:
    """The command line's data sets (`--seeds`, `--skip-real`, `--set`): (label, overrides, simulated) each, the
    simulator seeds first, then the real files; torch set to one thread, as the recipes train."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = [(f"simulator seed {seed}", [f"data.sim_seed={seed}", *args.set], True) for seed in args.seeds]
    return sets + ([] if args.skip_real else [(name, [f"data.path={path}", *args.set], False)
                                             for name, path in REAL.items()])


def main() -> None:
    for label, overrides, simulated in data_sets(__doc__.splitlines()[0]):
        run(label, overrides, simulated=simulated)


if __name__ == "__main__":
    main()

"""Generalized distillation measured (issue 19): covid-lstm-privileged beside the same run without privilege.

    python benchmarks/bench_privileged.py                    # sim seeds 0 1 2, US_FL, US_NY_36061
    python benchmarks/bench_privileged.py --seeds 0 --skip-real
    python benchmarks/bench_privileged.py --set students.student_kd.alpha=0.5   # any override, every run

Per data set, two runs with the same data, folds, teacher and students (teacher-labelled windows off in both):
`privileged`, whose teacher also reads `new_confirmed` on the 14 horizon days (Lopez-Paz et al. 2016), and `plain`,
the same config with `data.privileged=[]`. Each prints the teacher's, student_kd's and student_scratch's skill over
persistence (mean +- SEM over the refit blocks) and the Holm verdict and p of student_kd vs student_scratch (paired
over refit blocks, test MAE). Simulator seeds as benchmarks/bench_forecast_targets.py chooses them
(`data.sim_seed`); the real files from shared/data. Nothing here is tuned; it reads the results.
"""
from __future__ import annotations

import time

from bench_forecast_targets import data_sets  # benchmarks/ is on the path when run as a script

from distill.protocols import load_config
from distill.protocols.forecast.run import run_forecast

MODELS = ("teacher", "student_kd", "student_scratch")
VARIANTS = {"privileged": [], "plain": ["data.privileged=[]"]}


def _cell(summary: dict) -> str:
    return f"{summary['mean']:+.3f} +- {summary['sem']:.3f}"


def _verdict(comparison: dict, key: str) -> str:
    entry = comparison.get(key)
    return "-" if entry is None else f"{entry['verdict']} (Holm p = {entry['p_adjusted']:.3g})"


def run(label: str, overrides: list[str]) -> None:
    print(f"\n## {label}")
    for variant, extra in VARIANTS.items():
        start = time.perf_counter()
        config = load_config("covid-lstm-privileged", [*overrides, *extra, "train.final_fit=false"])
        results = run_forecast(config, show_progress=False).results
        models = results["models"]
        skills = ", ".join(f"{name} {_cell(models[name]['test']['skill'])}" for name in MODELS)
        print(f"  {variant:10s} ({time.perf_counter() - start:.0f} s) skill: {skills}; student_kd vs "
              f"student_scratch: {_verdict(results['comparison'], 'student_kd_vs_student_scratch')}", flush=True)


def main() -> None:
    for label, overrides, _ in data_sets(__doc__.splitlines()[0]):
        run(label, overrides)


if __name__ == "__main__":
    main()

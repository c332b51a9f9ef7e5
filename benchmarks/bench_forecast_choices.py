"""Choose covid-lstm's defaults on INNER validation only: each variant's teacher error on the inner validation
windows (the latest share of every fold's training part), never on a test fold.

Prints, per variant, the teacher's inner-validation MAE in patients/day (comparable across scalings and feature
sets) as mean +- SEM over folds and seeds, and the wall time of one run.

    python benchmarks/bench_forecast_choices.py [--seeds 0 1] [--variant NAME ...]
    python benchmarks/bench_forecast_choices.py --students [--seeds 0 1 2]   # the students' variants instead: each
        # student's inner-validation MAE, learning from the default teacher
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from distill.protocols import load_config
from distill.protocols.forecast.run import run_forecast

CANDIDATES = ("teacher.candidates=[{model: rnn, options: {cell: lstm, hidden: 64, dropout: 0.2}}, "
              "{model: rnn, options: {cell: gru, hidden: 64, dropout: 0.2}}, "
              "{model: tcn, options: {channels: 64, dropout: 0.2}}]")
# a run needs a student; this one trains in ~2 s and does not touch the teacher's inner-validation error
ONE_CHEAP_STUDENT = "students={scratch: {model: compact_mlp, options: {hidden: [14]}, alpha: 0.0}}"
NO_BLEND = "teacher.blend=[]"  # the LSTMs alone (the variants before the blend was the default)
VARIANTS = {
    "default (3 rnn lstm 64 + 3 compact_mlp [128])": [],
    "2 rnn lstm 64 + 3 compact_mlp [128]": ["teacher.ensemble=2"],
    "1 rnn lstm 64 + 3 compact_mlp [128]": ["teacher.ensemble=1"],
    "3 compact_mlp [128] alone": ["teacher.model=compact_mlp", "teacher.options={hidden: [128], dropout: 0.2}",
                                  NO_BLEND],
    "3 compact_mlp [64, 64] alone": ["teacher.model=compact_mlp", "teacher.options={hidden: [64, 64], dropout: 0.2}",
                                     NO_BLEND],
    "ensemble of 3 rnn lstm 64 alone": [NO_BLEND],
    "one rnn lstm 64": ["teacher.ensemble=1", NO_BLEND],
    "ensemble of 2": ["teacher.ensemble=2", NO_BLEND],
    "ensemble of 3 rnn lstm 32": ["teacher.options.hidden=32", NO_BLEND],
    "ensemble of 3 rnn lstm 16": ["teacher.options.hidden=16", NO_BLEND],
    "candidates lstm/gru/tcn": [CANDIDATES, NO_BLEND],
    "seed lstm (15 x 3 layers)": ["teacher.model=lstm", "teacher.options={hidden: 15, layers: 3, head: [25, 25]}",
                                  NO_BLEND],
    "leading features": ["data.features=leading", NO_BLEND],
    "minmax scaling, change targets (first release)": ["data.scaling=minmax", "data.target_mode=change", NO_BLEND],
    "rnn + linear highway (3 days)": ["teacher.options.highway=3", NO_BLEND],
    "rnn + linear highway (10 days)": ["teacher.options.highway=10", NO_BLEND],
}

STUDENT_VARIANTS = {  # both students alike, so that kd against scratch stays one architecture
    "default (compact_mlp [64], alpha 1)": [],
    "compact_mlp [14]": ["students.student_kd.options.hidden=[14]", "students.student_scratch.options.hidden=[14]"],
    "student_kd alpha 0.5": ["students.student_kd.alpha=0.5"],
}


def inner_validation_errors(overrides: list[str], roles: list[str]) -> tuple[dict[str, list[float]], float]:
    """Per role, the inner-validation MAE of every fold (patients/day), and the run's wall time."""
    start = time.perf_counter()
    run = run_forecast(load_config("covid-lstm", overrides + ["train.final_fit=false"]), show_progress=False)
    models = run.results["models"]
    return ({role: models[role]["validation"]["mae_original"]["per_fold"] for role in roles},
            time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--students", action="store_true", help="score the students' variants, not the teacher's")
    parser.add_argument("--variant", nargs="*", default=None)
    args = parser.parse_args()
    variants, roles, extra = ((STUDENT_VARIANTS, ["student_kd", "student_scratch"], []) if args.students else
                              (VARIANTS, ["teacher"], [ONE_CHEAP_STUDENT]))
    for name in args.variant or list(variants):
        errors: dict[str, list[float]] = {role: [] for role in roles}
        seconds = 0.0
        for seed in args.seeds:
            fold_errors, wall = inner_validation_errors(variants[name] + extra + [f"data.sim_seed={seed}"], roles)
            for role in roles:
                errors[role] += fold_errors[role]
            seconds += wall
        scores = "; ".join(f"{role} {np.mean(e):.1f} +- {np.std(e, ddof=1) / np.sqrt(len(e)):.1f}"
                           for role, e in errors.items())
        print(f"{name:46s} inner-validation MAE per day over {len(errors[roles[0]])} folds: {scores}; "
              f"{seconds / len(args.seeds):.1f} s per run", flush=True)


if __name__ == "__main__":
    main()

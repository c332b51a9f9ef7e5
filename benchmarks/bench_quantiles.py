"""Issue 22's targets, measured by the forecasting protocol itself: covid-lstm with `data.quantiles: hub`.

For each data set (simulator seeds with the recipe's 5 locations, then each real v3 location file), one run of
the covid-lstm recipe at its defaults (rolling origin: an origin every 7 days over the last 30% of the dates,
5 refit blocks, inner validation for the best epoch) with every trained model forecasting the Forecast Hub's 23
quantiles: teacher (pinball loss), student_kd (the teacher's quantiles, lambda = 1), student_scratch (the
truth, lambda = 0), beside the Hub's baseline. Printed per data set: WIS (mean +- SEM over forecast origins)
and its parts, relative WIS (overall and on days 1 / 7 / 14), coverage of the 50 / 80 / 95% intervals, the
share of the teacher's WIS improvement over the baseline that student_kd keeps, the paired verdicts over
origins (Holm-corrected), and the run's wall time; with `data.calibration: cqr` (the default) each trained
model's relative WIS and coverage before and after its intervals are calibrated on inner validation; then the
targets' pass / miss lines.

    PYTHONPATH=src python benchmarks/bench_quantiles.py [--data sim0 sim1 sim2 US_FL US_NY_36061] [--figures DIR]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from distill.losses.pinball import HUB_LEVELS
from distill.protocols import load_config
from distill.protocols.forecast.run import run_forecast

REAL = next((folder for folder in (Path(__file__).resolve().parents[k] / "shared" / "data" / "covid-19-open-data"
                                   for k in (2, 3)) if folder.is_dir()), Path("shared/data/covid-19-open-data"))


def run_scores(name: str, real_dir: Path, extra: list[str]) -> tuple[dict, float]:
    source = [f"data.sim_seed={name[3:]}"] if name.startswith("sim") else \
        [f"data.path={real_dir / (name + '.csv')}", "data.sim_locations=1"]
    config = load_config("covid-lstm", [*source, "data.quantiles=hub", "teacher.ensemble=1", "teacher.blend=[]",
                                        "train.final_fit=false", *extra])
    start = time.perf_counter()
    run = run_forecast(config, show_progress=False)
    return run.results["quantiles"], time.perf_counter() - start


def print_scores(name: str, scores: dict, seconds: float) -> None:
    print(f"\n== {name}: {scores['groups']} origins, {scores['targets']} targets, run {seconds:.0f} s ==")
    print(f"{'model':16s} {'WIS':>17s} {'disp':>7s} {'over':>7s} {'under':>7s} {'relWIS':>6s} {'d1':>5s} {'d7':>5s} "
          f"{'d14':>5s} {'cov50':>5s} {'cov80':>5s} {'cov95':>5s}")
    for model, entry in scores["models"].items():
        wis, parts, rel, cov = (entry[key] for key in ("wis", "parts", "relative_wis", "coverage"))
        days = rel["per_horizon"]
        print(f"{model:16s} {wis['mean']:8.2f} +- {wis['sem']:6.2f} {parts['dispersion']:7.2f} "
              f"{parts['overprediction']:7.2f} {parts['underprediction']:7.2f} {rel['overall']:6.3f} {days[0]:5.2f} "
              f"{days[6]:5.2f} {days[-1]:5.2f} {cov['50%']:5.2f} {cov['80%']:5.2f} {cov['95%']:5.2f}")
    before = scores["calibration"].get("uncalibrated")
    if before:
        print("calibrated on inner validation: CQR; before -> after calibration:")
        for model, entry in before.items():
            after = scores["models"][model]
            print(f"  {model:16s} relWIS {entry['relative_wis']:.3f} -> {after['relative_wis']['overall']:.3f}   "
                  + "   ".join(f"cov{c[:-1]} {entry['coverage'][c]:.2f} -> {after['coverage'][c]:.2f}"
                               for c in ("50%", "80%", "95%")))
    if "student_kd_keeps" in scores:
        print(f"student_kd keeps {scores['student_kd_keeps']:.0%} of the teacher's WIS improvement over the baseline")
    for key, entry in scores["comparisons"].items():
        print(f"  {key}: {entry['mean']:+.2f} +- {entry['sem']:.2f} WIS, p_holm = {entry['p_adjusted']:.3g} "
              f"-> {entry['verdict']}")


def print_targets(name: str, scores: dict) -> None:
    """Issue 22's simulated targets, pass or miss, as measured."""
    teacher = scores["models"]["teacher"]
    relative, coverage = teacher["relative_wis"]["overall"], teacher["coverage"]
    kept = scores.get("student_kd_keeps", float("nan"))
    checks = [(f"teacher relative WIS {relative:.3f} <= 0.75", relative <= 0.75),
              (f"teacher 95% coverage {coverage['95%']:.2f} in 0.90-0.98", 0.90 <= coverage["95%"] <= 0.98),
              (f"teacher 50% coverage {coverage['50%']:.2f} in 0.40-0.60", 0.40 <= coverage["50%"] <= 0.60),
              (f"student_kd keeps {kept:.0%} >= 90% of the teacher's improvement", kept >= 0.9)]
    print(f"targets ({name}): " + "; ".join(f"{text}: {'met' if ok else 'MISSED'}" for text, ok in checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["sim0", "sim1", "sim2", "US_FL", "US_NY_36061"])
    parser.add_argument("--real-dir", type=Path, default=REAL)
    parser.add_argument("--set", nargs="*", default=[], help="further config overrides, e.g. train.epochs=20")
    parser.add_argument("--figures", type=Path, help="folder for each data set's calibration and WIS-parts figures")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.data:
        scores, seconds = run_scores(name, args.real_dir, args.set)
        print_scores(name, scores, seconds)
        if name.startswith("sim"):
            print_targets(name, scores)
        if args.figures:
            from distill.protocols.forecast.quantile_figures import plot_calibration, plot_wis_parts

            args.figures.mkdir(parents=True, exist_ok=True)
            models = scores["models"]
            plot_calibration({model: entry["level_coverage"] for model, entry in models.items()}, HUB_LEVELS,
                             args.figures / f"{name}-calibration.png", name)
            plot_wis_parts({model: entry["parts"] for model, entry in models.items()},
                           args.figures / f"{name}-wis-parts.png", "patients/day", name)


if __name__ == "__main__":
    main()

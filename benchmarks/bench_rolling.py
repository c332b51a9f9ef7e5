"""The global rolling-origin protocol (issue 18) on many series: per-series and pooled skill, AutoETS's cost, the
default run's wall time and peak memory.

    python benchmarks/bench_rolling.py                 # simulator (5 locations) + US_FL & US_NY_36061, default run
    python benchmarks/bench_rolling.py --skip default  # without timing the default run

Runs (each one global model over its series, rolling origin, the recipe's other settings):
- sim: `covid-lstm` with data.sim_locations=5, data.sim_days=860;
- real: `covid-lstm` with data.paths = ../shared/data/covid-19-open-data/US_FL.csv, US_NY_36061.csv;
- default: `distill run covid-lstm` as a user runs it, in a child process: wall time, CPU time, peak RSS, and
  the machine's load average before and after (the machine may be shared: CPU time is the steadier figure).
Every number is measured here; nothing is chosen on test windows.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from tree_memory import measured_run  # beside this script

ROOT = Path(__file__).resolve().parents[1]
DATA = next((up / "shared" / "data" / "covid-19-open-data" for up in ROOT.parents
             if (up / "shared" / "data" / "covid-19-open-data").is_dir()), ROOT.parent / "shared")  # ../shared
REAL = [DATA / "US_FL.csv", DATA / "US_NY_36061.csv"]


def _cell(summary: dict | None, digits: int = 3) -> str:
    if not summary or summary.get("mean") is None:
        return "-"
    return f"{summary['mean']:.{digits}f} +- {summary['sem']:.{digits}f}" if summary.get("sem") is not None \
        else f"{summary['mean']:.{digits}f}"


def skill_tables(results: dict) -> str:
    """Pooled skill and MAE per model, then skill per series; the best baseline and the verdicts against it."""
    models = results["models"]
    series = results["data"]["series"]
    lines = [f"{'model':<16} {'pooled skill':>18} {'pooled MAE':>20} " + " ".join(f"{s:>18}" for s in series)]
    for name, entry in models.items():
        per = entry["test"].get("per_series", {})
        lines.append(f"{name:<16} {_cell(entry['test']['skill']):>18} {_cell(entry['test']['mae_original'], 1):>20} "
                     + " ".join(f"{_cell(per.get(s, {}).get('skill')):>18}" for s in series))
    best = results["best_baseline"]["name"]
    lines.append(f"best baseline (inner validation MAE): {best}")
    for key, entry in results["comparison"].items():
        lines.append(f"  {key}: diff {entry['mean']:+.3f}, Holm p {entry['p_adjusted']:.3g}, {entry['verdict']}")
    ets = results["auto_ets"]
    if ets.get("ran"):
        lines.append(f"AutoETS: {ets['time']['seconds_per_series_fit']:.2f} CPU s per series fit, "
                     f"{ets['time']['seconds_per_refit']:.2f} CPU s per refit ({len(series)} series); forms "
                     f"{ets['forms_chosen']}")
    else:
        lines.append(ets["note"])
    origins = results.get("origins", [])
    lines.append(f"{sum(len(b['origins']) for b in origins)} origins in {len(origins)} refit blocks; test windows per "
                 f"block {[f['test'] for f in results['data']['fold_windows']]}")
    return "\n".join(lines)


def run_recipe(overrides: list[str]) -> tuple[dict, float]:
    sys.path.insert(0, str(ROOT / "src"))
    from distill.protocols import load_config
    from distill.protocols.forecast.run import run_forecast
    start = time.perf_counter()
    run = run_forecast(load_config("covid-lstm", overrides), show_progress=False)
    return run.results, time.perf_counter() - start


def time_default() -> str:
    """`distill run covid-lstm` in a child process: wall, CPU, peak memory (the largest process's RSS and the
    process tree's PSS, its worker processes included), load average."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        run = measured_run([sys.executable, "-m", "distill.cli", "run", "covid-lstm", "--out", f"{out}/run",
                            "--no-progress"], env)
    usage = run.usage
    return (f"default `distill run covid-lstm`: wall {run.wall:.1f} s, CPU {usage.ru_utime + usage.ru_stime:.1f} s, "
            f"peak RSS {usage.ru_maxrss / 1024:.0f} MB (largest process), process tree peak PSS "
            f"{run.sampler.peak_pss / 1024:.0f} MB ({run.sampler.most_processes} processes); load average before "
            f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=["sim", "real", "default"])
    args = parser.parse_args()
    if "default" not in args.skip:
        print(time_default(), flush=True)
    if "sim" not in args.skip:
        results, seconds = run_recipe(["data.sim_locations=5", "data.sim_days=860"])
        print(f"\n## simulator, 5 locations x 860 days ({seconds:.0f} s wall)\n{skill_tables(results)}", flush=True)
    if "real" not in args.skip:
        if not all(path.is_file() for path in REAL):
            print(f"\n## real files: skipped, {REAL[0].parent} not found")
        else:
            results, seconds = run_recipe([f"data.paths=[{REAL[0]}, {REAL[1]}]"])
            print(f"\n## US_FL + US_NY_36061 ({seconds:.0f} s wall)\n{skill_tables(results)}", flush=True)


if __name__ == "__main__":
    main()

"""Run the covid-lstm forecasting recipe from Python and read its results: what `distill run covid-lstm` does.

    python examples/forecast_from_python.py --out runs/demo                 # the full recipe (minutes on 2 cores)
    python examples/forecast_from_python.py --out runs/demo --epochs 4 --folds 3
    python examples/forecast_from_python.py --out runs/demo --set data.sim_days=200 --set teacher.ensemble=1

`distill.run` validates the recipe with the `--set`-style overrides, trains the teacher and the students on every
fold, writes the run folder (docs/outputs.md) and returns results.json as a dict. Errors are in patients per day.
"""
from __future__ import annotations

import argparse

import distill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the run folder to write (new, empty or an earlier run's)")
    parser.add_argument("--epochs", type=int, help="train.epochs (default: the recipe's)")
    parser.add_argument("--folds", type=int, help="cv.folds (default: the recipe's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other override, as `distill run --set` takes it (repeatable)")
    args = parser.parse_args()
    overrides = [f"train.epochs={args.epochs}"] * (args.epochs is not None) + \
        [f"cv.folds={args.folds}"] * (args.folds is not None) + args.set
    results = distill.run("covid-lstm", out=args.out, overrides=overrides, show_progress=False)
    print(f"{'model':<16} {'MAE':>8} {'+- SEM':>8} {'skill':>7}  (test folds, {results['data']['target']} per day)")
    for name, model in results["models"].items():
        test = model["test"]
        print(f"{name:<16} {test['mae_original']['mean']:8.1f} {test['mae_original']['sem']:8.1f} "
              f"{test['skill']['mean']:7.3f}")


if __name__ == "__main__":
    main()

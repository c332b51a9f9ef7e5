"""Run the full synthetic protocol of Lopez-Paz et al. 2016 (4 experiments x 100 repetitions) and print the
wall time and test accuracies beside the published numbers.

    python benchmarks/bench_lupi.py [--repetitions 100] [--epochs 1000] [--lr 0.001] [--batch-size 128] [--seed 0]
        [--workers N]  (threads running experiments in parallel; default one per core)
"""
from __future__ import annotations

import argparse
import os
import time

from distill.protocols.lupi.experiments import MODELS, run_lupi_synthetic
from distill.protocols.lupi.trainer import DEFAULT_BATCH_SIZE, DEFAULT_LR


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    return parser.parse_args()


def format_table(result: dict) -> str:
    """One row per experiment and model: ours (mean +- SEM, std) beside the published mean +- std."""
    lines = [f"{'experiment':<18} {'model':<11} {'mean +- SEM':>14} {'std':>6}   {'published':>10}  {'diff':>5}"]
    for name, models in result["experiments"].items():
        for model in MODELS:
            ours, published = models[model]["accuracy"], result["published"][name][model]
            difference = ours["mean"] - published["mean"]
            lines.append(f"{name:<18} {model:<11} {ours['mean']:7.2f} +- {ours['sem']:4.2f} {ours['std']:6.2f}   "
                         f"{published['mean']:5.0f} +- {published['std']:.0f}  {difference:+5.1f}")
    return "\n".join(lines)


def main() -> None:
    arguments = parse_arguments()
    start = time.perf_counter()
    result = run_lupi_synthetic(repetitions=arguments.repetitions, epochs=arguments.epochs, lr=arguments.lr,
                                batch_size=arguments.batch_size, seed=arguments.seed,
                                workers=arguments.workers)
    wall = time.perf_counter() - start
    settings = result["settings"]
    print(f"generalized distillation, synthetic (Lopez-Paz et al. 2016): {settings['repetitions']} repetitions, "
          f"d = {settings['dim']}, n = {settings['train_size']} train / {settings['test_size']} test, "
          f"{settings['epochs']} epochs Keras RMSprop lr {settings['lr']} batch {settings['batch_size']}, "
          f"lambda = {settings['lam']}, T = {settings['temperature']}")
    workers = arguments.workers or min(len(result["experiments"]), os.cpu_count() or 1)
    print(f"wall time: {wall:.1f} s ({workers} worker threads, {os.cpu_count()} CPU cores)")
    print("test accuracy (%); ours: mean +- SEM and std over repetitions; published: mean +- std")
    print(format_table(result))


if __name__ == "__main__":
    main()

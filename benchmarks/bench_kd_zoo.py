"""What each kd-zoo method costs per training step, side by side in one process.

Builds kd-zoo's teacher and one student per method on the first seed's training rows (the recipe's
architectures, settings and feature taps) and times optimiser steps of each method's objective in
interleaved rounds (every round times every method once, so a busy machine slows them all alike); prints
the median milliseconds per step of CPU time and of wall time, and each method's CPU ratio to the student
alone. The teacher is untrained: the cost of a step does not depend on what it has learnt.

    PYTHONPATH=src python benchmarks/bench_kd_zoo.py [--recipe kd-zoo] [--rounds 15] [--steps 10] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from distill.core.train import make_adam, train_step
from distill.data.labelled import load_images
from distill.protocols import load_config
from distill.protocols.classification.zoo.objectives import attach_part, objective
from distill.protocols.classification.zoo.run import _build, _teacher_guide, _tensor, seed_folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="kd-zoo", help="kd-zoo (MNIST-1D) or kd-zoo-digits")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps per method per round")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(args.recipe, args.set)
    torch.set_num_threads(config.train.threads or torch.get_num_threads())
    images = load_images(config.data, config.seed)
    fold = seed_folds(images, config)[0]
    x, y = _tensor(fold.x_train), fold.y_train
    classes, shape, device = len(images.classes), tuple(x.shape[1:]), torch.device("cpu")
    teacher = _build(config.teacher, shape, classes, 0, device)
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randperm(len(x), generator=generator)[:config.train.batch_size] for _ in range(args.steps)]
    runs = {}
    for name, spec in config.methods.items():
        method = spec.make()
        guide = _teacher_guide(teacher, x, spec, method)
        student = _build(config.student, shape, classes, 1, device)
        attach_part(student, spec, method, x, guide, len(x))
        student.train()
        runs[name] = (student, spec, method, guide, make_adam(student.parameters(), config.student.lr))
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (student, spec, method, guide, optimiser) in runs.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            for rows in batches:
                train_step(optimiser, lambda rows=rows, g=guide, m=student, s=spec, k=method:
                           objective(m, x[rows], y[rows], g.rows(rows), s, k))
            wall[name].append((time.perf_counter() - start) / len(batches) * 1e3)
            cpu[name].append((time.process_time() - cpu_start) / len(batches) * 1e3)
    base = statistics.median(cpu[config.scratch])
    print(f"{args.recipe}, batch {config.train.batch_size}, {args.rounds} rounds x {args.steps} steps, "
          f"{torch.get_num_threads()} thread(s); median per step")
    print(f"{'method':<10} {'CPU ms':>8} {'wall ms':>8} {'CPU / ' + config.scratch:>16}")
    for name in runs:
        median = statistics.median(cpu[name])
        print(f"{name:<10} {median:8.2f} {statistics.median(wall[name]):8.2f} {median / base:16.2f}")


if __name__ == "__main__":
    main()

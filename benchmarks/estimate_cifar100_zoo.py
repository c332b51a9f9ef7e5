"""What `distill run cifar100-zoo` costs at full scale, estimated from FLOPs counted by torch (not measured on
a GPU: no GPU here). Per seed: the teacher trains (forward + backward ~ 3 forwards per image), every student
trains and every distilled student also runs the teacher forward on each augmented batch; each model scores
its inner-validation images every epoch. The FLOP rate a GPU sustains on these small convolutions at batch 64
is an assumption, printed for a few values.

    PYTHONPATH=src python benchmarks/estimate_cifar100_zoo.py [--set key=value ...]
"""
from __future__ import annotations

import argparse

import torch

from distill.core.profiling import count_flops
from distill.models import build_model
from distill.protocols import load_config

TRAIN_IMAGES = 50_000  # CIFAR-100's training set; `split.validation` of it is held out per seed
RATES = (5e12, 10e12, 20e12)  # sustained FLOP/s assumed: a mid-range GPU, a good one, an A100-class one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    config = load_config("cifar100-zoo", parser.parse_args().overrides)
    example = torch.zeros(1, 3, 32, 32)
    flops = {role: count_flops(build_model(spec.model, (3, 32, 32), 100, **spec.options), example)
             for role, spec in (("teacher", config.teacher), ("student", config.student))}
    validation = round(TRAIN_IMAGES * config.split.validation)
    train, epochs = TRAIN_IMAGES - validation, config.train.epochs
    teacher = epochs * (train * 3 * flops["teacher"] + validation * flops["teacher"])
    students = 0
    for spec in config.methods.values():
        per_image = 3 * flops["student"] + (flops["teacher"] if spec.make().uses_teacher else 0)
        students += epochs * (train * per_image + validation * flops["student"])
    per_seed = teacher + students
    print(f"forward FLOPs per image: teacher {flops['teacher'] / 1e9:.3f} G, student {flops['student'] / 1e9:.3f} G")
    print(f"per seed ({train} training, {validation} validation images, {epochs} epochs, "
          f"{len(config.methods)} students): teacher {teacher:.3g}, students {students:.3g}, total {per_seed:.3g} FLOPs")
    for rate in RATES:
        hours = per_seed / rate / 3600
        print(f"at {rate / 1e12:.0f} TFLOP/s sustained: {hours:.1f} h per seed, {hours * config.seeds:.1f} h for "
              f"{config.seeds} seeds (an estimate)")


if __name__ == "__main__":
    main()

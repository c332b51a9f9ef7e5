"""Distiller.fit vs the hinton-digits recipe's own student training, and 2-process gloo vs 1 process.

    python benchmarks/bench_distiller.py [--epochs N] [--folds K] [--rounds R] [--set key=value ...] [--skip-distiller]

Part 1: per fold of the recipe's stratified split, one CNN teacher (the recipe's machinery); then the same MLP
student (soft targets, T = 8, alpha = 0.5, lr 0.01, batch 64, all training rows) trained once by the recipe's fit
loop (`core.train.fit` + `ClassificationTask.student_loss`) and once by `Distiller.fit`; wall time and test
accuracy (mean +- SEM over folds). Part 2: the README's DDP example under torchrun with 1 and 2 processes.
Part 3: `distill run hinton-digits` (the whole recipe, `--set` overrides passed on) on 1 process and with
`--nproc 2` (gloo, DistributedDataParallel, the same global batch): wall time and every model's test accuracy.
The recipe's teacher trains with dropout and jitter, which draw per process, so the two runs agree in
distribution (within the SEMs), not number for number.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_readme_examples import examples  # noqa: E402

from distill import Distiller  # noqa: E402
from distill.config import read_recipe, validate_config  # noqa: E402
from distill.core.train import fit, predict  # noqa: E402
from distill.data.labelled import load_images  # noqa: E402
from distill.models import build_model  # noqa: E402
from distill.protocols.classification.config import ClassificationConfig  # noqa: E402
from distill.protocols.classification.run import make_image_folds  # noqa: E402
from distill.tasks.classification import ClassificationTask  # noqa: E402


def sem(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")


def train_student(way: str, teacher, fold, task, spec, epochs: int) -> tuple[float, float]:
    """One student of the fold trained by `way`: (seconds, test accuracy)."""
    torch.manual_seed(100 + fold.index)
    student = build_model("mlp", (1, 8, 8), 10, **spec.options)
    start = time.perf_counter()
    if way == "recipe":
        guide = task.guide(teacher, fold.x_train, spec)
        fit(student, lambda r: task.student_loss(student, fold.x_train[r], fold.y_train[r],
                                                 {k: v[r] for k, v in guide.items()}, spec),
            len(fold.x_train), epochs=epochs, batch_size=64, lr=spec.lr, seed=fold.index)
    else:
        Distiller(teacher, student, temperature=spec.temperature, alpha=spec.alpha, lr=spec.lr, device="cpu",
                  seed=fold.index).fit(DataLoader(TensorDataset(fold.x_train, fold.y_train), batch_size=64,
                                                  shuffle=True), epochs)
    seconds = time.perf_counter() - start
    return seconds, float((predict(student, fold.x_test).argmax(1) == fold.y_test).float().mean())


def part1(epochs: int, folds: int, rounds: int) -> None:
    """Per fold, `rounds` timings of each way in alternating order; the median per fold is summed over folds."""
    torch.set_num_threads(1)
    config = validate_config({**read_recipe("hinton-digits"), "cv": {"folds": folds}}, ClassificationConfig)
    images = load_images(config.data, 0)
    task = ClassificationTask(10, 0)
    spec = config.students["student_kd"].model_copy(update={"transfer": {"fraction": 1.0}, "epochs": epochs})
    times, accuracy = {"recipe": [], "Distiller": []}, {"recipe": [], "Distiller": []}
    for fold in make_image_folds(config, images):
        torch.manual_seed(fold.index)
        teacher = build_model("cnn", (1, 8, 8), 10, **config.teacher.options)
        fit(teacher, lambda r, m=teacher, f=fold: task.teacher_loss(m, f.x_train[r], f.y_train[r], config.teacher),
            len(fold.x_train), epochs=10, batch_size=64, lr=1e-3, seed=fold.index)
        seconds = {"recipe": [], "Distiller": []}
        for round_ in range(rounds):
            for way in ("recipe", "Distiller") if round_ % 2 == 0 else ("Distiller", "recipe"):
                took, score = train_student(way, teacher, fold, task, spec, epochs)
                seconds[way].append(took)
                if round_ == 0:
                    accuracy[way].append(score)  # every round trains the same student
        for way in times:
            times[way].append(statistics.median(seconds[way]))
    print(f"digits CNN -> MLP, soft targets, {epochs} epochs, {folds} folds (1 thread, median of {rounds} per fold)")
    for way in times:
        print(f"  {way:9s}  {sum(times[way]):6.2f} s   accuracy {statistics.mean(accuracy[way]):.4f} "
              f"+- {sem(accuracy[way]):.4f} (SEM)")
    print(f"  time ratio Distiller / recipe: {sum(times['Distiller']) / sum(times['recipe']):.3f}")


def part2() -> None:
    for nproc in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "ddp.py").write_text(examples()["distiller_ddp.py"])
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  f"--nproc-per-node={nproc}", "ddp.py"], cwd=folder, capture_output=True,
                                 text=True, check=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                             "PYTHONPATH": ":".join(sys.path)}).stdout
            print(f"  DDP example, {nproc} process(es) (gloo): {time.perf_counter() - start:6.2f} s wall, "
                  f"{out.strip().splitlines()[-1]}")


def part3(overrides: list[str]) -> None:
    sets = [arg for item in overrides for arg in ("--set", item)]
    print(f"hinton-digits recipe{' with ' + ' '.join(overrides) if overrides else ''}: 1 process vs 2 (gloo)")
    for nproc in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "distill.cli", "run", "hinton-digits", "--out", f"{folder}/run",
                            "--no-progress", "--nproc", str(nproc), *sets], capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - start
            results = json.loads(Path(folder, "run", "results.json").read_text())
        scores = ", ".join(f"{name} {entry['test']['accuracy']['mean']:.4f} +- {entry['test']['accuracy']['sem']:.4f}"
                           for name, entry in results["models"].items() if name != "majority")
        world = results.get("distributed", {}).get("world_size", 1)
        print(f"  {nproc} process(es) (world size {world}): {seconds:6.1f} s wall; test accuracy (SEM) {scores}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="timings per fold and way (part 1), median kept")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the hinton-digits recipe in part 3 (repeatable)")
    parser.add_argument("--skip-distiller", action="store_true", help="run part 3 only")
    args = parser.parse_args()
    if not args.skip_distiller:
        part1(args.epochs, args.folds, args.rounds)
        part2()
    part3(args.set)

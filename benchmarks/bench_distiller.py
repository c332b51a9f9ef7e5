"""Distiller.fit vs the hinton-digits recipe's own student training, bf16 vs fp32, the first fit in a process,
and 2-process gloo vs 1 process.

    python benchmarks/bench_distiller.py [--epochs N] [--folds K] [--rounds R] [--set key=value ...]
                                         [--parts 1,2,3,4,5]

Part 1: per fold of the recipe's stratified split, one CNN teacher (the recipe's machinery); then the same MLP
student (soft targets, T = 8, alpha = 0.5, lr 0.01, batch 64, all training rows) trained once by the recipe's fit
loop (`core.train.fit` + `ClassificationTask.student_loss`) and once by `Distiller.fit`; wall time and test
accuracy (mean +- SEM over folds). Part 2: the README's DDP example under torchrun with 1 and 2 processes.
Part 3: `distill run hinton-digits` (the whole recipe, `--set` overrides passed on) on 1 process and with
`--nproc 2` (gloo, DistributedDataParallel, the same global batch): wall time and every model's test accuracy.
The recipe's teacher trains with dropout and jitter, which draw per process, so the two runs agree in
distribution (within the SEMs), not number for number. Part 4: in fresh processes, the first and second
`Distiller.fit` (and a hand-written Adam loop's first and second epoch), cold and with `torch._dynamo` imported
first: torch's optimiser imports it at its first use (`Optimizer.step`'s `_use_grad_for_differentiable`, and
`add_param_group` / `zero_grad` behind `torch._disable_dynamo`), whatever loop runs it. Part 5: part 1's
Distiller at precision fp32 and bf16 (CPU autocast): time and test accuracy.
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
from distill.losses import total  # noqa: E402
from distill.models import build_model  # noqa: E402
from distill.protocols.classification.config import ClassificationConfig  # noqa: E402
from distill.protocols.classification.run import make_image_folds  # noqa: E402
from distill.tasks.classification import ClassificationTask  # noqa: E402


def sem(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")


def train_student(way: str, teacher, fold, task, spec, epochs: int) -> tuple[float, float]:
    """One student of the fold trained by `way` (recipe, Distiller, Distiller-bf16): (seconds, test accuracy)."""
    torch.manual_seed(100 + fold.index)
    student = build_model("mlp", (1, 8, 8), 10, **spec.options)
    start = time.perf_counter()
    if way == "recipe":
        guide = task.guide(teacher, fold.x_train, spec)
        fit(student, lambda r: total(task.student_loss(student, fold.x_train[r], fold.y_train[r], guide.rows(r), spec)),
            len(fold.x_train), epochs=epochs, batch_size=64, lr=spec.lr, seed=fold.index)
    else:
        precision = "bf16" if way == "Distiller-bf16" else "fp32"
        Distiller(teacher, student, temperature=spec.temperature, alpha=spec.alpha, lr=spec.lr, device="cpu",
                  seed=fold.index, precision=precision).fit(
            DataLoader(TensorDataset(fold.x_train, fold.y_train), batch_size=64, shuffle=True), epochs, progress=False)
    seconds = time.perf_counter() - start
    return seconds, float((predict(student, fold.x_test).argmax(1) == fold.y_test).float().mean())


def part1(epochs: int, folds: int, rounds: int, ways: tuple[str, str] = ("recipe", "Distiller")) -> None:
    """Per fold, `rounds` timings of each way in alternating order; the median per fold is summed over folds."""
    torch.set_num_threads(1)
    config = validate_config({**read_recipe("hinton-digits"), "cv": {"folds": folds}}, ClassificationConfig)
    images = load_images(config.data, 0)
    task = ClassificationTask(10, 0)
    spec = config.students["student_kd"].model_copy(update={"transfer": {"fraction": 1.0}, "epochs": epochs})
    times: dict[str, list[float]] = {way: [] for way in ways}
    accuracy: dict[str, list[float]] = {way: [] for way in ways}
    for fold in make_image_folds(config, images):
        torch.manual_seed(fold.index)
        teacher = build_model("cnn", (1, 8, 8), 10, **config.teacher.options)
        fit(teacher, lambda r, m=teacher, f=fold: task.teacher_loss(m, f.x_train[r], f.y_train[r], config.teacher),
            len(fold.x_train), epochs=10, batch_size=64, lr=1e-3, seed=fold.index)
        seconds: dict[str, list[float]] = {way: [] for way in ways}
        for round_ in range(rounds):
            for way in ways if round_ % 2 == 0 else ways[::-1]:
                took, score = train_student(way, teacher, fold, task, spec, epochs)
                seconds[way].append(took)
                if round_ == 0:
                    accuracy[way].append(score)  # every round trains the same student
        for way in times:
            times[way].append(statistics.median(seconds[way]))
    print(f"digits CNN -> MLP, soft targets, {epochs} epochs, {folds} folds (1 thread, median of {rounds} per fold)")
    for way in times:
        print(f"  {way:14s}  {sum(times[way]):6.2f} s   accuracy {statistics.mean(accuracy[way]):.4f} "
              f"+- {sem(accuracy[way]):.4f} (SEM)")
    print(f"  time ratio {ways[1]} / {ways[0]}: {sum(times[ways[1]]) / sum(times[ways[0]]):.3f}")


FIRST_FIT = """
import sys, time
t = time.perf_counter()
import torch
torch.set_num_threads(1)
if sys.argv[1] == "warm":
    import torch._dynamo
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from distill import Distiller
ready = time.perf_counter() - t
generator = torch.Generator().manual_seed(0)
x, y = torch.randn(1024, 64, generator=generator), torch.randint(0, 10, (1024,), generator=generator)
loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
def mlp():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
seconds = []
if sys.argv[2] == "distiller":
    teacher = mlp()
    for _ in range(2):
        start = time.perf_counter()
        Distiller(teacher, mlp(), device="cpu").fit(loader, 3, progress=False)
        seconds.append(time.perf_counter() - start)
else:
    model = mlp()
    for _ in range(2):
        start = time.perf_counter()
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        for _ in range(3):
            for xb, yb in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(xb), yb).backward()
                optimizer.step()
        seconds.append(time.perf_counter() - start)
print(ready, *seconds)
"""


def part4(repeats: int = 3) -> None:
    """The first fit in a fresh process vs the second (medians over `repeats` processes)."""
    print("first vs second fit in a fresh process (3 epochs of 1024 rows; median of "
          f"{repeats} processes; s):")
    for loop in ("distiller", "hand loop"):
        for start in ("cold", "warm"):
            runs = [[float(v) for v in subprocess.run([sys.executable, "-c", FIRST_FIT, start, loop.split()[0]],
                                                      capture_output=True, text=True, check=True).stdout.split()]
                    for _ in range(repeats)]
            ready, first, second = (statistics.median(run[i] for run in runs) for i in range(3))
            what = "torch._dynamo imported first" if start == "warm" else "cold"
            print(f"  {loop:9s} {what:28s}: imports {ready:5.2f}  first {first:5.2f}  second {second:5.2f}  "
                  f"first - second {first - second:5.2f}")


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
    parser.add_argument("--rounds", type=int, default=5, help="timings per fold and way (parts 1, 5), median kept")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the hinton-digits recipe in part 3 (repeatable)")
    parser.add_argument("--parts", default="1,2,3,4,5", help="which parts to run, e.g. 1,4,5")
    args = parser.parse_args()
    parts = {int(part) for part in args.parts.split(",")}
    if 1 in parts:
        part1(args.epochs, args.folds, args.rounds)
    if 5 in parts:
        part1(args.epochs, args.folds, args.rounds, ("Distiller", "Distiller-bf16"))
    if 4 in parts:
        part4()
    if 2 in parts:
        part2()
    if 3 in parts:
        part3(args.set)

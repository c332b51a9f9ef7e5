"""The seed protocol (batch size 1) in distill vs a per-sample loop written as the seed notebook wrote it.

Both train the same models (LSTM teacher, two MLP students) on the same simulated data, the same
shuffled folds and the same number of epochs, at batch size 1; the reference converts each sample
from numpy, calls `.item()` every step and scores the test set sample by sample every epoch, with
torch's default threads and Adam. Prints both wall times and the ratio (target: >= 3x).

    python benchmarks/bench_covid_seed.py [--epochs 101] [--folds 5] [--rounds 1]

At the seed's 101 epochs (about 1.0M steps each way) the reference loop runs 25-45 minutes here, ours 6-11; fewer
epochs give the ratio in minutes. This machine's speed drifts by up to 1.5x over minutes, so a single pair of runs
can catch the two sides in different conditions: `--rounds 3` alternates them and reports the median ratio.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

from distill.models import build_model
from distill.protocols import load_config
from distill.protocols.forecast.run import load_frame, run_forecast, select_features
from distill.protocols.forecast.windows import make_window_table, minmax_folds, split_windows


def reference_fit(model: nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray, lr: float, epochs: int) -> None:
    """The notebook's loop: one sample at a time, numpy -> tensor each step, per-sample test scoring."""
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        train_loss = 0.0
        for i in np.random.permutation(len(x_train)):
            x = torch.tensor(x_train[i]).float().unsqueeze(0)
            y = torch.tensor(y_train[i]).float().unsqueeze(0)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for i in range(len(x_test)):
                x = torch.tensor(x_test[i]).float().unsqueeze(0)
                y = torch.tensor(y_test[i]).float().unsqueeze(0)
                test_loss += criterion(model(x), y).item()


def run_reference(config, folds) -> None:
    for fold in folds:
        x_train, y_train = fold.x_train[:].numpy(), fold.y_train.numpy()
        x_test, y_test = fold.x_test[:].numpy(), fold.y_test.numpy()
        shape = tuple(x_train.shape[1:])
        teacher = build_model(config.teacher.model, shape, y_train.shape[1], **config.teacher.options)
        reference_fit(teacher, x_train, y_train, x_test, y_test, config.teacher.lr, config.train.epochs)
        with torch.no_grad():
            y_teacher = teacher(fold.x_train[:]).numpy()
        for spec in config.students.values():
            student = build_model(spec.model, shape, y_train.shape[1], **spec.options)
            targets = y_teacher if spec.alpha == 1.0 else y_train
            reference_fit(student, x_train, targets, x_test, y_test, spec.lr, config.train.epochs)


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=101)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate ours and the reference this many times; the median ratio is the figure")
    args = parser.parse_args()
    config = load_config("covid-seed", [f"train.epochs={args.epochs}", f"cv.folds={args.folds}"])
    clean, _, oracle = load_frame(config)
    frame = select_features(clean.frame, config.data.features, config.data.target)
    values = frame.to_numpy(dtype=np.float64)
    table = make_window_table(values, clean.target, config.data.input_days, config.data.horizon, oracle)
    folds, _ = minmax_folds(config, values, table, frame.columns.get_loc(config.data.target),
                            split_windows(config, table))

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch's lazy optimizer imports (~2 s): paid by neither
    default_threads = torch.get_num_threads()
    steps = sum(len(f.x_train) for f in folds) * 3 * args.epochs
    print(f"covid-seed protocol, {args.folds} folds x 3 models x {args.epochs} epochs, batch size 1 "
          f"({steps} optimizer steps each way), {args.rounds} round(s) alternating the two")
    ratios = []
    for round_number in range(1, args.rounds + 1):
        ours = timed(lambda: run_forecast(config, show_progress=False))
        torch.set_num_threads(default_threads)  # the notebook ran with torch's defaults
        reference = timed(lambda: run_reference(config, folds))
        ratios.append(reference / ours)
        print(f"round {round_number}: distill (full protocol incl. curves, profile) {ours:7.1f} s "
              f"({ours / steps * 1e3:.3f} ms/step); reference per-sample loop {reference:7.1f} s "
              f"({reference / steps * 1e3:.3f} ms/step); ratio {ratios[-1]:.2f}x", flush=True)
    print(f"speed-up: {statistics.median(ratios):.2f}x, median of {len(ratios)} (target >= 3x)")


if __name__ == "__main__":
    main()

"""MNIST-1D (Greydanus 2020, "Scaling down deep learning", github.com/greydanus/mnist1d): ten 1-D templates of
the digits, each padded, dilated, scaled, translated, noised and sheared into a 40-sample signal. A CPU-sized
task with headroom: a small CNN reaches ~0.95 and an MLP ~0.6, so distillation methods have room to differ.

Generated here by the `mnist1d` package (the authors' generator and default arguments: 5000 signals, seed 42,
the published dataset's recipe); nothing is downloaded. The extra `distill[mnist1d]` installs it.
"""
from __future__ import annotations

import random

import numpy as np

from distill.errors import DistillError

SAMPLES = 5000  # the authors' default
GENERATOR_SEED = 42  # the authors' default


def load_mnist1d(samples: int = SAMPLES, seed: int = GENERATOR_SEED) -> tuple[np.ndarray, np.ndarray]:
    """x: float32 (N, 1, 1, 40), each signal a one-row image so image models read it; y: int64 (N,) 0..9.

    The package seeds Python's and NumPy's global generators; their states are restored afterwards.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DistillError("data.source 'mnist1d' needs the mnist1d package: pip install 'distill[mnist1d]'") from None
    args = get_dataset_args()
    args.num_samples, args.seed = samples, seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)[:, None, None, :]  # (N, 1, 1, 40)
    return x, np.concatenate([data["y"], data["y_test"]]).astype(np.int64)

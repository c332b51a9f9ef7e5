"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes; real data, offline).

Pixels are 0..16 ink counts; they are scaled to [0, 1] and can be upsampled (bilinear) to 16x16 or
32x32 for ResNets, whose stride-2 stages would shrink an 8x8 image to 1x1 too early.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.nn import functional as F

from distill.errors import DistillError

NATIVE_SIZE = 8
MAX_INK = 16.0


def load_digits_images(size: int = NATIVE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """x: float32 (N, 1, size, size) in [0, 1]; y: int64 (N,) digit labels 0..9."""
    if not isinstance(size, int) or size < NATIVE_SIZE:
        raise DistillError(f"digits image size must be an integer >= {NATIVE_SIZE}, got {size!r}")
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / MAX_INK).unsqueeze(1)  # (N, 1, 8, 8)
    if size != NATIVE_SIZE:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 1, size, size)
        x = x.clamp_(0.0, 1.0)  # bilinear weights sum to 1; clamp only float rounding
    return x.numpy(), digits.target.astype(np.int64)

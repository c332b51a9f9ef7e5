"""Neuron Selectivity Transfer: match the distribution of the teacher's channel activation maps.

Each channel's spatial map, flattened and L2-normalised, is one sample; the teacher's channels form one
distribution, the student's another, and the loss is the squared maximum mean discrepancy between them.
Channel counts may differ, so no adapter is needed.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError

KERNELS = ("linear", "poly", "gaussian")


def _check_kernel(kernel: str, degree: int, sigma: float | None) -> None:
    if kernel not in KERNELS:
        raise DistillError(f"unknown NST kernel {kernel!r}; allowed: {', '.join(KERNELS)}")
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise DistillError(f"NST poly degree must be an integer >= 1, got {degree!r}")
    if sigma is not None and not sigma > 0.0:
        raise DistillError(f"NST gaussian sigma must be > 0 or None (median heuristic), got {sigma}")


def _check_features(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.dim() != teacher.dim():
        raise DistillError(f"feature maps differ in rank: student {tuple(student.shape)}, "
                           f"teacher {tuple(teacher.shape)}; both must be (batch, channels, length) "
                           "or (batch, channels, H, W)")
    if student.dim() not in (3, 4):
        raise DistillError(f"feature maps must be (batch, channels, length) or (batch, channels, H, W), "
                           f"got {tuple(student.shape)}")
    if student.shape[0] != teacher.shape[0]:
        raise DistillError(f"batch size mismatch: student features have {student.shape[0]} examples, "
                           f"teacher {teacher.shape[0]}")


def _pool_to(features: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Adaptive-average-pool (batch, channels, *spatial) down to `size`; a no-op when already that size."""
    if tuple(features.shape[2:]) == size:
        return features
    if len(size) == 1:
        return F.adaptive_avg_pool1d(features, size[0])
    return F.adaptive_avg_pool2d(features, (size[0], size[1]))


def _normalised_maps(features: torch.Tensor) -> torch.Tensor:
    """(batch, channels, *spatial) -> (batch, channels, positions), each channel's map of unit L2 norm."""
    return F.normalize(features.flatten(2), dim=2)


def median_distance(student_maps: torch.Tensor, teacher_maps: torch.Tensor) -> torch.Tensor:
    """Median heuristic bandwidth: the median pairwise distance among all maps of each example.

    Maps are (batch, channels, positions); returns (batch, 1, 1). Computed without gradient, so the
    bandwidth is a constant of each step rather than something the student can game; floored at the
    dtype's eps so identical maps do not divide by zero.
    """
    with torch.no_grad():
        points = torch.cat([teacher_maps, student_maps], dim=1)  # (batch, Ct + Cs, positions)
        rows, cols = torch.triu_indices(points.shape[1], points.shape[1], offset=1)
        distances = torch.cdist(points, points)[:, rows, cols]  # (batch, pairs)
        median = distances.median(dim=1).values.clamp_min(torch.finfo(points.dtype).eps)
    return median.view(-1, 1, 1)


def _kernel(x: torch.Tensor, y: torch.Tensor, kernel: str, degree: int, c: float,
            sigma: float | torch.Tensor) -> torch.Tensor:
    """k(x_i, y_j) for maps x (batch, n, positions) and y (batch, m, positions) -> (batch, n, m)."""
    dot = x @ y.transpose(1, 2)  # (batch, n, m)
    if kernel == "linear":
        return dot
    if kernel == "poly":
        return (dot + c) ** degree
    squared = (x.pow(2).sum(2).unsqueeze(2) + y.pow(2).sum(2).unsqueeze(1) - 2.0 * dot).clamp_min(0.0)
    return torch.exp(-squared / (2.0 * sigma ** 2))


def nst_loss(student_feature: torch.Tensor, teacher_feature: torch.Tensor, *, kernel: str = "poly",
             degree: int = 2, c: float = 0.0, sigma: float | None = None) -> torch.Tensor:
    """MMD^2 = mean_{i,i'} k(t_i, t_i') + mean_{j,j'} k(s_j, s_j') - 2 mean_{i,j} k(t_i, s_j), batch mean.

    Huang & Wang 2017, "Like what you like: knowledge distill via neuron selectivity transfer". t_i and s_j
    are the L2-normalised flattened maps of teacher channel i and student channel j. Kernels: `linear`
    x.y (the squared distance of the mean maps), `poly` (x.y + c)^degree (d = 2, c = 0 is the squared
    Frobenius distance of the channel-averaged spatial Gram matrices), `gaussian`
    exp(-||x - y||^2 / (2 sigma^2)) with sigma=None taking `median_distance` per example. Features are
    (batch, channels, H, W) or (batch, channels, length); the larger spatial size is adaptive-average-
    pooled to the smaller, per dimension. The paper's total loss is CE + (lambda / 2) * this.
    """
    _check_kernel(kernel, degree, sigma)
    _check_features(student_feature, teacher_feature)
    size = tuple(min(s, t) for s, t in zip(student_feature.shape[2:], teacher_feature.shape[2:]))
    student_maps = _normalised_maps(_pool_to(student_feature, size))  # (batch, Cs, positions)
    teacher_maps = _normalised_maps(_pool_to(teacher_feature, size))  # (batch, Ct, positions)
    bandwidth = median_distance(student_maps, teacher_maps) if sigma is None else sigma
    params = (kernel, degree, c, bandwidth)
    mmd = (_kernel(teacher_maps, teacher_maps, *params).mean((1, 2))
           + _kernel(student_maps, student_maps, *params).mean((1, 2))
           - 2.0 * _kernel(teacher_maps, student_maps, *params).mean((1, 2)))  # (batch,)
    return mmd.mean()


class NSTLoss(nn.Module):
    """Module form of `nst_loss` with a fixed kernel and kernel parameters."""

    def __init__(self, *, kernel: str = "poly", degree: int = 2, c: float = 0.0,
                 sigma: float | None = None) -> None:
        super().__init__()
        _check_kernel(kernel, degree, sigma)
        self.kernel, self.degree, self.c, self.sigma = kernel, degree, c, sigma

    def forward(self, student_feature: torch.Tensor, teacher_feature: torch.Tensor) -> torch.Tensor:
        return nst_loss(student_feature, teacher_feature, kernel=self.kernel, degree=self.degree, c=self.c,
                        sigma=self.sigma)

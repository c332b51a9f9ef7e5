"""TimeDistill's prediction-level terms: the teacher's forecast matched at several temporal resolutions and in
its spectrum (Ni, Liu, Wang, Jin & Jin 2025, "TimeDistill: Efficient Long-Term Time Series Forecasting with MLP
via Cross-Architecture Distillation", arXiv:2502.15016, Sec. 4: multi-scale and multi-period distillation).

For a student forecast s and a teacher forecast t over the H horizon days of a window:

multi-scale:   L_ms = 1/|S| sum_{m in S} MSE(pool_m(s), pool_m(t)),
               pool_m the mean over consecutive blocks of m days (m = 1: the forecasts themselves).
               The authors' code pools with 2-day windows three times (S = 1, 2, 4, 8) and drops the days that
               do not fill a last block; here a last, shorter block is the mean of the days it holds, so the far
               horizon (the hardest days to forecast) is never left out when m does not divide H.
multi-period:  A(x)_k = |rFFT(x)_k| for the frequencies k = 1 .. floor(H / 2) (the level, k = 0, left out as in
               the authors' code: the MSE terms match it already, and it would swamp the softmax),
               p(x) = softmax(A(x) / tau) over k, and
               L_mp = KL(p(t) || p(s)) = sum_k p(t)_k (log p(t)_k - log p(s)_k).
               The authors take the elementwise mean of the KL's summands (torch's kl_div "mean"); here it is the
               KL itself, summed over the frequencies, at their tau = 0.5 by default.

Every term is a mean over all leading dimensions (rows, or folds x rows in fold-parallel training), so on K
stacked folds with batches of one size it is the mean of the folds' means, and K times it is the sum of each
fold's own term (`distill.core.fold_parallel`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses.checks import check_temperature
from distill.losses.terms import LossTerms, total

TEMPERATURE = 0.5  # the authors' softmax temperature of the amplitude spectra


def _check_forecasts(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.shape != teacher.shape or student.dim() < 2:
        raise DistillError(f"TimeDistill terms need student and teacher forecasts of one shape (..., horizon); "
                           f"got student {tuple(student.shape)} and teacher {tuple(teacher.shape)}")


def pool_horizon(forecasts: torch.Tensor, scale: int) -> torch.Tensor:
    """(..., H) -> (..., ceil(H / scale)): the mean of each block of `scale` consecutive days; the last block
    holds the days that remain."""
    if scale < 1:
        raise DistillError(f"a TimeDistill scale must be a whole number of days >= 1, got {scale}")
    if scale == 1:
        return forecasts
    rows = forecasts.reshape(-1, 1, forecasts.shape[-1])  # (rows, 1, H): avg_pool1d's channels layout
    pooled = F.avg_pool1d(rows, scale, scale, ceil_mode=True)  # a partial last block: the mean of its days
    return pooled.reshape(*forecasts.shape[:-1], pooled.shape[-1])


def multiscale_mse(student: torch.Tensor, teacher: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
    """L_ms = 1/|S| sum_{m in S} MSE(pool_m(student), pool_m(teacher)) over the horizon (the last dimension)."""
    _check_forecasts(student, teacher)
    if not scales:
        raise DistillError("TimeDistill's multi-scale term needs at least one scale")
    if max(scales) > student.shape[-1]:
        raise DistillError(f"a TimeDistill scale of {max(scales)} days is longer than the {student.shape[-1]}-day "
                           f"horizon")
    errors = [F.mse_loss(pool_horizon(student, m), pool_horizon(teacher, m)) for m in scales]
    return torch.stack(errors).mean()


def amplitude_log_spectrum(forecasts: torch.Tensor, temperature: float) -> torch.Tensor:
    """(..., H) -> (..., floor(H / 2)): log softmax(|rFFT(x)_k| / tau) over the frequencies k >= 1."""
    amplitudes = torch.fft.rfft(forecasts, dim=-1).abs()[..., 1:]  # (..., H // 2): the level left out
    if amplitudes.shape[-1] < 2:
        raise DistillError(f"TimeDistill's spectral term needs a horizon of at least 4 days (2 frequencies "
                           f"besides the level); this one has {forecasts.shape[-1]}")
    return F.log_softmax(amplitudes / check_temperature(temperature), dim=-1)


def spectral_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """L_mp = KL(p(teacher) || p(student)), p = softmax(|rFFT| / tau) over the horizon's frequencies k >= 1;
    summed over k, averaged over every leading dimension."""
    _check_forecasts(student, teacher)
    log_p_student = amplitude_log_spectrum(student, temperature)
    log_p_teacher = amplitude_log_spectrum(teacher, temperature)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1).mean()


def timedistill_terms(student: torch.Tensor, teacher: torch.Tensor, *, scales: Sequence[int],
                      multiscale_weight: float, spectral_weight: float,
                      temperature: float = TEMPERATURE) -> LossTerms:
    """The named terms `loss_multiscale` = multiscale_weight L_ms and `loss_spectral` = spectral_weight L_mp on
    (..., horizon) forecasts; a term of weight 0 is left out. The teacher's forecast is a target: no gradient
    reaches it."""
    teacher = teacher.detach()
    terms = {}
    if multiscale_weight > 0:
        terms["loss_multiscale"] = multiscale_weight * multiscale_mse(student, teacher, scales)
    if spectral_weight > 0:
        terms["loss_spectral"] = spectral_weight * spectral_kl(student, teacher, temperature)
    return terms


class TimeDistillLoss(nn.Module):
    """Module form of `timedistill_terms` (their sum) with fixed scales, weights and temperature."""

    def __init__(self, scales: Sequence[int] = (1, 2, 4, 8), multiscale_weight: float = 1.0,
                 spectral_weight: float = 1.0, temperature: float = TEMPERATURE) -> None:
        super().__init__()
        if multiscale_weight <= 0 and spectral_weight <= 0:
            raise DistillError("TimeDistillLoss needs a multi-scale or a spectral weight > 0")
        self.scales, self.temperature = tuple(scales), check_temperature(temperature)
        self.multiscale_weight, self.spectral_weight = multiscale_weight, spectral_weight

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return total(timedistill_terms(student, teacher, scales=self.scales, multiscale_weight=self.multiscale_weight,
                                       spectral_weight=self.spectral_weight, temperature=self.temperature))

"""Logit methods beyond Hinton's: `dkd` (Zhao et al. 2022) splits the KD term at the true class; `dist`
(Huang et al. 2022) matches Pearson correlations instead of probabilities, and on raw outputs (`values`) it
teaches a regression student. Both, like `soft_target`, take logit standardisation (Sun et al. 2024) as
`standardise`."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import LossTerms, check_temperature, dist_loss, dkd_loss
from distill.methods.base import Guide, Method, class_log_probs, teacher_outputs


def _non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise DistillError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class DKD(Method):
    """loss_hard = ce_weight CE(y, p_s), loss_dkd = T^2 (tckd_weight KL(b_t || b_s) + nckd_weight KL(q_t || q_s)),
    b the binary [p_y, 1 - p_y] split and q the distribution over the non-target classes of softmax(z / T)
    (`distill.losses.dkd`; Zhao, Cui, Song, Qiu, Liang 2022, "Decoupled knowledge distillation"). Defaults:
    the paper's CIFAR-100 alpha 1, beta 8, T 4 and its linear warm-up: in training epoch e (from 1) loss_dkd is
    scaled by min(e / warmup, 1), warmup 20 epochs (mdistiller's `DKD.forward_train`, `min(epoch / warmup, 1.0)`,
    and its CIFAR-100 config `DKD.WARMUP: 20`); `warmup` 0 turns it off. `losses` is the unwarmed term; the
    training loops use `at_epoch(e)`. `standardise`: Sun et al. 2024 (they use T 2, weights x 9).
    Classification only: the split needs the true class."""

    name = "dkd"
    temperature: float = 4.0
    tckd_weight: float = 1.0
    nckd_weight: float = 8.0
    ce_weight: float = 1.0
    standardise: bool = False
    classes: int | None = None
    warmup: int = 20

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        for name in ("tckd_weight", "nckd_weight", "ce_weight"):
            _non_negative(name, getattr(self, name))
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise DistillError(f"warmup must be a whole number of epochs >= 0 (0 = off), got {self.warmup!r}")

    def at_epoch(self, epoch: int) -> DKD:
        """The DKD term's weights scaled by min(epoch / warmup, 1) (Zhao et al. 2022's warm-up, as mdistiller)."""
        if not self.warmup or epoch >= self.warmup:
            return self
        scale = epoch / self.warmup
        return replace(self, tckd_weight=scale * self.tckd_weight, nckd_weight=scale * self.nckd_weight, warmup=0)

    def guide(self, outputs: torch.Tensor, features: torch.Tensor | None = None) -> Guide:
        return Guide(class_log_probs(outputs, self.classes), features)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        log_p = class_log_probs(outputs, self.classes)  # the logits up to a shift per row, which DKD never sees
        terms = {"loss_hard": self.ce_weight * F.nll_loss(log_p, targets)} if self.ce_weight else {}
        terms["loss_dkd"] = dkd_loss(log_p, teacher_outputs(guide, self.name), targets, tckd_weight=self.tckd_weight,
                                     nckd_weight=self.nckd_weight, temperature=self.temperature,
                                     standardise=self.standardise)
        return terms


@dataclass(frozen=True)
class DIST(Method):
    """loss_hard = CE(y, p_s) (MSE(student, truth) with `values`), loss_dist = kd_weight T^2 (inter_weight
    (1 - mean_i rho(Y_s[i], Y_t[i])) + intra_weight (1 - mean_c rho(Y_s[:, c], Y_t[:, c]))), rho the Pearson
    correlation, Y = softmax(z / T), or the raw outputs / T with `values` (`distill.losses.dist`; Huang, You,
    Wang, Qian, Xu 2022, "Knowledge distillation from a stronger teacher"). With `values` the inter term
    correlates each example's outputs (a forecast's shape over the horizon) and the intra term each output
    across the batch, so it teaches a regression student. Defaults: the authors' CIFAR config (T 4, beta =
    gamma = 1, weight 2). `standardise`: Sun et al. 2024."""

    name = "dist"
    temperature: float = 4.0
    inter_weight: float = 1.0
    intra_weight: float = 1.0
    kd_weight: float = 2.0
    standardise: bool = False
    classes: int | None = None
    values: bool = False

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        for name in ("inter_weight", "intra_weight", "kd_weight"):
            _non_negative(name, getattr(self, name))

    def guide(self, outputs: torch.Tensor, features: torch.Tensor | None = None) -> Guide:
        return Guide(outputs if self.values else class_log_probs(outputs, self.classes), features)

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        if self.values:
            student, hard = outputs, F.mse_loss(outputs, targets)
        else:
            student = class_log_probs(outputs, self.classes)
            hard = F.nll_loss(student, targets)
        teacher = teacher_outputs(guide, self.name)
        if self.values:  # (batch, horizon, ...) forecasts compared as (batch, outputs)
            student, teacher = student.flatten(1), teacher.flatten(1)
        relation = dist_loss(student, teacher, inter_weight=self.inter_weight, intra_weight=self.intra_weight,
                             temperature=self.temperature, probabilities=not self.values, standardise=self.standardise)
        return {"loss_hard": hard, "loss_dist": self.kd_weight * relation}

"""Feature methods: the output terms of soft targets (or, with `values`, of the regression mix) plus a term on
feature maps hooked at module paths: `nst` (Huang & Wang 2017), `hint` (Romero et al. 2015, FitNets) and
`at` (Zagoruyko & Komodakis 2017) compare maps; `pkt`, `rkd` and `sp` compare how the examples of a batch
relate to each other, so they take any (batch, ...) representation of any width - a classifier's hidden
layer or a forecaster's hidden state or forecasts; `vid` and `crd` (in `distill.methods.learned`) learn a
part of their own."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from distill.errors import DistillError
from distill.losses import (
    LossTerms,
    attention_transfer_loss,
    check_temperature,
    check_weight,
    hint_loss,
    nst_loss,
    pkt_loss,
    rkd_loss,
    similarity_preserving_loss,
)
from distill.methods.base import Guide, Method, teacher_features
from distill.methods.regression import Regression
from distill.methods.soft_target import SoftTarget


@dataclass(frozen=True)
class _FeatureMethod(Method):
    """The output terms (`loss_hard`, `loss_kd`) of `SoftTarget` at (temperature, alpha), or of `Regression`
    at alpha with `values`, plus the method's feature term `loss_<name>`, weighted by `feature_weight`.
    alpha 0 leaves the truth's term alone (CE, or MSE with `values`): the papers' "CE + weight x term"."""

    uses_features = True
    temperature: float = 4.0
    alpha: float = 0.9
    feature_weight: float = 1.0
    classes: int | None = None
    values: bool = False

    def __post_init__(self) -> None:
        check_temperature(self.temperature)
        check_weight("alpha", self.alpha)
        if not self.feature_weight >= 0:
            raise DistillError(f"feature_weight must be >= 0, got {self.feature_weight}")

    def _outputs_method(self) -> Method:
        if self.values:
            return Regression(self.alpha)
        return SoftTarget(self.temperature, self.alpha, self.classes)

    def guide(self, outputs: torch.Tensor, features: torch.Tensor | None = None) -> Guide:
        return self._outputs_method().guide(outputs, features)

    @abstractmethod
    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        """The weighted feature term of the adapted student maps and the teacher's (`guide` and the method's
        learned `part` for the methods that read them)."""

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        terms = self._outputs_method().losses(outputs, targets, guide)
        student, teacher = teacher_features(guide, features, self.name)
        terms[f"loss_{self.name}"] = self.feature_term(student, teacher, guide, part)
        return terms


@dataclass(frozen=True)
class NST(_FeatureMethod):
    """loss_nst = (feature_weight / 2) MMD^2(teacher maps, student maps) with the `kernel` of
    `distill.losses.nst` (Huang & Wang 2017, "Like what you like"). Defaults: the paper's CE + NST (alpha = 0)
    with the nst-ta recipe's weight 50 and the polynomial kernel (d = 2, c = 0)."""

    name = "nst"
    alpha: float = 0.0
    feature_weight: float = 50.0
    kernel: str = "poly"
    degree: int = 2
    c: float = 0.0
    sigma: float | None = None

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight / 2.0 * nst_loss(student, teacher, kernel=self.kernel, degree=self.degree,
                                                    c=self.c, sigma=self.sigma)


@dataclass(frozen=True)
class Hint(_FeatureMethod):
    """loss_hint = feature_weight x MSE(r(f_s), f_t), r a learned adapter when channel counts differ
    (`distill.losses.hint`; Romero et al. 2015, "FitNets"), beside the soft-target terms."""

    name = "hint"
    channels_must_match = True

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight * hint_loss(student, teacher)


@dataclass(frozen=True)
class AT(_FeatureMethod):
    """loss_at = feature_weight x mean (Q_s - Q_t)^2, Q = vec(mean_c A_c^p) / ||.||_2 the attention map of a
    (batch, channels, H, W) or (batch, channels, length) feature map (`distill.losses.attention`; Zagoruyko &
    Komodakis 2017, "Paying more attention to attention"). Defaults: CE + 1000 x AT at p = 2 (mdistiller)."""

    name = "at"
    alpha: float = 0.0
    feature_weight: float = 1000.0
    p: float = 2.0

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight * attention_transfer_loss(student, teacher, p=self.p)


@dataclass(frozen=True)
class PKT(_FeatureMethod):
    """loss_pkt = feature_weight x mean_ij p^t_j|i log(p^t_j|i / p^s_j|i), p_j|i the cosine-kernel neighbour
    probabilities within the batch (`distill.losses.pkt`; Passalis & Tefas 2018, "Learning deep representations
    with probabilistic knowledge transfer"). Any widths, classes or values. Defaults: CE + 30000 x PKT
    (mdistiller)."""

    name = "pkt"
    alpha: float = 0.0
    feature_weight: float = 30000.0

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight * pkt_loss(student, teacher)


@dataclass(frozen=True)
class RKD(_FeatureMethod):
    """loss_rkd = feature_weight x (distance_weight L_D + angle_weight L_A): Huber losses between the
    student's and the teacher's mean-normalised pairwise distances and triplet angles within the batch
    (`distill.losses.rkd`; Park, Kim, Lu, Cho 2019, "Relational knowledge distillation"). Any widths,
    classes or values. Defaults: CE + 25 L_D + 50 L_A (the paper's and mdistiller's)."""

    name = "rkd"
    alpha: float = 0.0
    distance_weight: float = 25.0
    angle_weight: float = 50.0

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight * rkd_loss(student, teacher, distance_weight=self.distance_weight,
                                              angle_weight=self.angle_weight)


@dataclass(frozen=True)
class SP(_FeatureMethod):
    """loss_sp = feature_weight x ||G_t - G_s||_F^2 / b^2, G the row-normalised batch Gram matrix of the
    flattened representations (`distill.losses.sp`; Tung & Mori 2019, "Similarity-preserving knowledge
    distillation"). Any widths, classes or values. Defaults: CE + 3000 x SP (mdistiller)."""

    name = "sp"
    alpha: float = 0.0
    feature_weight: float = 3000.0

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight * similarity_preserving_loss(student, teacher)

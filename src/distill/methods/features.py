"""Feature methods: the output terms of soft targets (or, with `values`, of the regression mix) plus a term on
feature maps hooked at module paths: `nst` (Huang & Wang 2017) and `hint` (Romero et al. 2015, FitNets)."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import torch

from distill.errors import DistillError
from distill.losses import LossTerms, check_temperature, check_weight, hint_loss, nst_loss
from distill.methods.base import Guide, Method, teacher_features
from distill.methods.regression import Regression
from distill.methods.soft_target import SoftTarget


@dataclass(frozen=True)
class _FeatureMethod(Method):
    """The output terms (`loss_hard`, `loss_kd`) of `SoftTarget` at (temperature, alpha), or of `Regression`
    at alpha with `values`, plus `feature_weight` x the method's feature term."""

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
    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """The weighted feature term of the adapted student maps and the teacher's."""

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None) -> LossTerms:
        terms = self._outputs_method().losses(outputs, targets, guide)
        student, teacher = teacher_features(guide, features, self.name)
        terms[f"loss_{self.name}"] = self.feature_term(student, teacher)
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

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return self.feature_weight / 2.0 * nst_loss(student, teacher, kernel=self.kernel, degree=self.degree,
                                                    c=self.c, sigma=self.sigma)


@dataclass(frozen=True)
class Hint(_FeatureMethod):
    """loss_hint = feature_weight x MSE(r(f_s), f_t), r a learned adapter when channel counts differ
    (`distill.losses.hint`; Romero et al. 2015, "FitNets"), beside the soft-target terms."""

    name = "hint"
    channels_must_match = True

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return self.feature_weight * hint_loss(student, teacher)

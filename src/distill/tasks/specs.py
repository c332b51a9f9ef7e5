"""How the teacher and the students of each task are configured: the config entries the tasks read.

They sit with the tasks (not with a protocol's config) because `distill.tasks` reads them and the protocols'
schemas compose them; data flows down, so a task never imports a protocol.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from distill.config import Alpha, DistilledSpec, ModelSpec, Section, TeacherSpec, Temperature
from distill.methods import NST, Generalized, Hint, Method, Scratch, SoftTarget, Subclass, settings


class Pretrained(Section):
    """Transfer learning (seed 003): start a teacher from a saved state dict, then train its head alone.

    `checkpoint` is a file written by `torch.save(model.state_dict(), path)` for the same architecture; it
    is read with `torch.load(..., weights_only=True)`. Every weight but the head's is loaded; the head
    (module path `head`; default `fc` for ResNets, `head` for MLPs and CNNs) starts fresh, as the task's
    classes are new. For `frozen_epochs` epochs only the head trains (at `frozen_lr`, default the
    teacher's `lr`) with the backbone frozen and in eval mode; then all layers are fine-tuned for the
    protocol's epochs at the teacher's `lr` (the seed used 1e-3 then 1e-4).
    """

    checkpoint: str
    head: str | None = None
    frozen_epochs: int = Field(0, ge=0)
    frozen_lr: float | None = Field(None, gt=0)


class ClassTeacherSpec(TeacherSpec):
    """The teacher: a model plus input jitter and, for subclass distillation, a classes x subclasses head.

    With `subclasses` > 1 the loss is CE on the summed class probabilities + `beta` * the auxiliary
    loss at `aux_temperature` (Mueller et al. 2020).
    """

    jitter: int = Field(0, ge=0, description="random shift of up to this many pixels per training image")
    subclasses: int = Field(1, ge=1)
    beta: float = Field(0.0, ge=0)
    aux_temperature: float = Field(1.0, gt=0)
    pretrained: Pretrained | None = None


class FeaturePair(Section):
    """Module paths of the hooked feature maps; `adapter` learns a 1x1 map to the teacher's channels."""

    student: str
    teacher: str
    adapter: bool = False


class NSTSection(Section):
    """Neuron Selectivity Transfer's kernel: loss_nst = (feature_weight / 2) * MMD^2 (Huang & Wang 2017)."""

    kernel: Literal["linear", "poly", "gaussian"] = NST.kernel  # type: ignore[assignment]
    degree: int = Field(NST.degree, ge=1)
    c: float = NST.c
    sigma: float | None = Field(NST.sigma, gt=0)


class TransferSet(Section):
    """Which training rows of a fold a student learns from: a stratified `fraction`, minus `omit` classes."""

    fraction: float = Field(1.0, gt=0, le=1)
    omit: list[int] = Field(default_factory=list)


class ClassStudentSpec(DistilledSpec):
    """A student and how it learns from its teacher (the teacher, or an earlier student: an assistant).

    methods (`distill.methods`): `none` (labels only), `soft_target` ((1 - alpha) CE + alpha T^2 KL, Hinton et
    al. 2015), `subclass` (match the teacher's classes x subclasses distribution, Mueller et al. 2020), `nst`
    ((1 - alpha) CE + alpha T^2 KL + (feature_weight / 2) MMD^2 on the hooked `features`; alpha 0 is CE + NST
    as in the paper), `hint` (the soft-target terms + feature_weight x FitNets' MSE through an adapter).
    `temperature`, `alpha` and `feature_weight` default to the method's own defaults.
    """

    method: Literal["none", "soft_target", "subclass", "nst", "hint"] = "soft_target"
    temperature: float | None = Field(None, gt=0)
    alpha: Alpha | None = None
    feature_weight: float | None = Field(None, ge=0)
    jitter: int = Field(0, ge=0)
    subclasses: int = Field(1, ge=1)
    features: FeaturePair | None = None
    nst: NSTSection = Field(default_factory=lambda: NSTSection.model_validate({}))
    transfer: TransferSet = Field(default_factory=lambda: TransferSet.model_validate({}))

    @model_validator(mode="after")
    def _method_defaults(self) -> ClassStudentSpec:
        """Unset weights take the method's defaults (one set of defaults, `distill.methods`)."""
        defaults = settings(self.method)
        for setting in ("temperature", "alpha", "feature_weight"):
            if getattr(self, setting) is None:
                object.__setattr__(self, setting, defaults.get(setting))
        return self

    def make_method(self, classes: int) -> Method:
        """This student's method object, for `classes` classes."""
        if self.method == "none":
            return Scratch(classes)
        assert self.temperature is not None and self.alpha is not None
        if self.method == "soft_target":
            return SoftTarget(self.temperature, self.alpha, classes)
        if self.method == "subclass":
            return Subclass(self.temperature, self.alpha, classes, self.subclasses)
        assert self.feature_weight is not None
        if self.method == "hint":
            return Hint(self.temperature, self.alpha, self.feature_weight, classes)
        return NST(self.temperature, self.alpha, self.feature_weight, classes, kernel=self.nst.kernel,
                   degree=self.nst.degree, c=self.nst.c, sigma=self.nst.sigma)



class GeneralizedDistillation(Section):
    """The student's objective (`distill.methods.Generalized`): (1 - alpha) * CE(y) + alpha * T^2 *
    CE(softmax(teacher / T), softmax(student)). For value (regression) targets: (1 - alpha) * MSE(truth) +
    alpha * MSE(teacher); T is not used. alpha is Lopez-Paz et al.'s imitation weight lambda."""

    alpha: Alpha = Generalized.alpha
    temperature: Temperature = Generalized.temperature


class DistilledStudentSpec(ModelSpec):
    """A student of the privileged protocol: a model plus its generalized-distillation weights."""

    teacher: str = "teacher"
    alpha: Alpha = Generalized.alpha
    temperature: Temperature = Generalized.temperature

"""How the teacher and the students of each task are configured: the config entries the tasks read.

They sit with the tasks (not with a protocol's config) because `distill.tasks` reads them and the protocols'
schemas compose them; data flows down, so a task never imports a protocol.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from distill.config import DistilledSpec, Lambda, ModelSpec, Section, TeacherSpec, Temperature


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
    """Neuron Selectivity Transfer: loss += (weight / 2) * MMD^2 with this kernel (Huang & Wang 2017)."""

    kernel: Literal["linear", "poly", "gaussian"] = "poly"
    degree: int = Field(2, ge=1)
    c: float = 0.0
    sigma: float | None = Field(None, gt=0)
    weight: float = Field(50.0, ge=0)


class TransferSet(Section):
    """Which training rows of a fold a student learns from: a stratified `fraction`, minus `omit` classes."""

    fraction: float = Field(1.0, gt=0, le=1)
    omit: list[int] = Field(default_factory=list)


class ClassStudentSpec(DistilledSpec):
    """A student and how it learns from its teacher (the teacher, or an earlier student: an assistant).

    methods: `none` (labels only), `soft_target` ((1 - alpha) CE + alpha T^2 KL, Hinton et al. 2015),
    `subclass` (match the teacher's classes x subclasses distribution, Mueller et al. 2020), `nst`
    ((1 - alpha) CE + alpha T^2 KL + NST on the hooked `features`; alpha 0 is CE + NST as in the paper).
    """

    method: Literal["none", "soft_target", "subclass", "nst"] = "soft_target"
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.5, ge=0, le=1)
    jitter: int = Field(0, ge=0)
    subclasses: int = Field(1, ge=1)
    features: FeaturePair | None = None
    nst: NSTSection = Field(default_factory=NSTSection)
    transfer: TransferSet = Field(default_factory=TransferSet)


class GeneralizedDistillation(Section):
    """The student's objective: (1 - lam) * CE(y) + lam * T^2 * CE(softmax(teacher / T), softmax(student / T)).

    For value (regression) targets: (1 - lam) * MSE(truth) + lam * MSE(teacher); T is not used.
    """

    lam: Lambda = 1.0
    temperature: Temperature = 1.0


class DistilledStudentSpec(ModelSpec):
    """A student of the privileged protocol: a model plus its generalized-distillation weights."""

    teacher: str = "teacher"
    lam: Lambda = 1.0
    temperature: Temperature = 1.0

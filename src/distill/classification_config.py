"""Config schema of the classification recipes (hinton-digits, hinton-omit, kd-sweep, subclass-digits, nst-ta).

One schema serves them all: a data source, the teacher, a list of students (each with its distillation
`method` and the model it learns from), optionally a temperature x alpha grid of soft-target students.
Field limits (temperature > 0, alpha in [0, 1], ...) are checked by pydantic when the YAML is read;
`check_config` adds the checks that need several fields at once.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from distill.config import DistilledSpec, Section, TeacherSpec, TrainSection
from distill.errors import DistillError

Temperature = Annotated[float, Field(gt=0)]
Weight = Annotated[float, Field(ge=0, le=1)]


class ClassificationData(Section):
    """Where the images come from; sources with a fixed test split (mnist, folders, csv) give one fold.

    - digits: scikit-learn's bundled 8x8 digits (embedded, offline), resized to `size` when given.
    - mnist: the four IDX files in `path` (`download: true` fetches them there first), 28x28 or `size`.
    - folders: `path/train/<class>/*` and `path/test/<class>/*`, resized to `size` (default 32).
    - csv: images in `path` listed in the CSV file `csv` (file, label, partition: the MHIST layout).
    `groups` merges the source's classes (class i of the task = the union of groups[i]); the source's own
    label is kept as the hidden subclass identity. `subset` keeps a stratified random sample of that many
    images (a fixed split keeps its train/test proportions): a CPU-sized share of MNIST, or a quick try.
    """

    source: Literal["digits", "mnist", "folders", "csv"] = "digits"
    path: str | None = None
    csv: str | None = None
    size: int | None = Field(None, ge=1)
    grayscale: bool = True
    mean: list[float] | None = None
    std: list[float] | None = None
    download: bool = False
    groups: list[list[int]] | None = None
    subset: int | None = Field(None, ge=2)


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


class SweepSection(Section):
    """A temperature x alpha grid of soft-target students, each a copy of `student` (kd-sweep)."""

    temperatures: list[Temperature] = Field(min_length=1)
    alphas: list[Weight] = Field(min_length=1)
    student: ClassStudentSpec


class ClassificationCV(Section):
    """Stratified K-fold (sources without a fixed test split); `random_state` seeds the shuffle."""

    folds: int = Field(5, ge=2)
    random_state: int = 0


class ClassificationReport(Section):
    latency_repeats: int = Field(30, ge=3)
    scratch: str = Field("student_scratch", description="the student alone, for gaps and comparisons")


class ClassificationConfig(Section):
    """The cross-validated teacher -> students protocol on labelled images (issue: classification)."""

    protocol: Literal["classification"] = "classification"
    name: str
    description: str = ""
    seed: int = 0
    data: ClassificationData = Field(default_factory=ClassificationData)
    cv: ClassificationCV = Field(default_factory=ClassificationCV)
    train: TrainSection = Field(default_factory=TrainSection)
    teacher: ClassTeacherSpec
    students: dict[str, ClassStudentSpec] = Field(default_factory=dict)
    sweep: SweepSection | None = None
    report: ClassificationReport = Field(default_factory=ClassificationReport)


def sweep_name(temperature: float, alpha: float) -> str:
    """Student name of one grid cell, e.g. `kd_T4_a0.5`."""
    return f"kd_T{temperature:g}_a{alpha:g}"


def all_students(config: ClassificationConfig) -> dict[str, ClassStudentSpec]:
    """The listed students, then one per sweep cell (temperature-major), in training order."""
    students = dict(config.students)
    if config.sweep is not None:
        for temperature in config.sweep.temperatures:
            for alpha in config.sweep.alphas:
                name = sweep_name(temperature, alpha)
                if name in students:
                    raise DistillError(f"sweep cell {name!r} repeats a student name; list each temperature "
                                       "and alpha once and do not name students like sweep cells")
                students[name] = config.sweep.student.model_copy(
                    update={"method": "soft_target", "temperature": temperature, "alpha": alpha})
    return students


def check_students(config: ClassificationConfig, students: dict[str, ClassStudentSpec], classes: int) -> None:
    """Checks across fields: subclass heads that match their teacher's, features for NST, omitted classes."""
    subclasses = {"teacher": config.teacher.subclasses, **{name: spec.subclasses for name, spec in students.items()}}
    for name, spec in students.items():
        if spec.method == "subclass" and spec.teacher in subclasses:
            theirs = subclasses[spec.teacher]
            if spec.subclasses < 2 or spec.subclasses != theirs:
                raise DistillError(f"class count mismatch: student {name!r} (method subclass) has a {classes} x "
                                   f"{spec.subclasses} head, its teacher {spec.teacher!r} a {classes} x {theirs} "
                                   "head; both need the same subclasses per class, at least 2")
        if spec.method == "nst" and spec.features is None:
            raise DistillError(f"student {name!r} uses method nst but names no features; "
                               "set features: {student: <module path>, teacher: <module path>}")
        outside = [c for c in spec.transfer.omit if not 0 <= c < classes]
        if outside:
            raise DistillError(f"student {name!r}: transfer.omit names class {outside[0]}; "
                               f"the data has classes 0..{classes - 1}")

"""Config schema of the classification recipes (hinton-digits, hinton-omit, kd-sweep, subclass-digits, nst-ta).

One schema serves them all: a data source, the teacher, a list of students (each with its distillation
`method` and the model it learns from), optionally a temperature x alpha grid of soft-target students.
Field limits (temperature > 0, alpha in [0, 1], ...) are checked by pydantic when the YAML is read;
`check_config` adds the checks that need several fields at once.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from distill.config import RecipeConfig, Section, TrainSection
from distill.data.labelled import ClassificationData
from distill.errors import DistillError
from distill.tasks.specs import ClassStudentSpec, ClassTeacherSpec

Temperature = Annotated[float, Field(gt=0)]
Weight = Annotated[float, Field(ge=0, le=1)]


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


class ClassificationConfig(RecipeConfig):
    """The cross-validated teacher -> students protocol on labelled images (hinton-digits and the other image recipes)."""

    protocol: Literal["classification"] = "classification"
    data: ClassificationData = Field(default_factory=ClassificationData)
    cv: ClassificationCV = Field(default_factory=ClassificationCV)
    train: TrainSection = Field(default_factory=TrainSection)
    teacher: ClassTeacherSpec
    students: dict[str, ClassStudentSpec] = Field(default_factory=dict)
    sweep: SweepSection | None = None
    report: ClassificationReport = Field(default_factory=ClassificationReport)


def soft_target_cell_name(temperature: float, alpha: float) -> str:
    """Student name of one grid cell, e.g. `kd_T4_a0.5`."""
    return f"kd_T{temperature:g}_a{alpha:g}"


def all_students(config: ClassificationConfig) -> dict[str, ClassStudentSpec]:
    """The listed students, then one per sweep cell (temperature-major), in training order."""
    students = dict(config.students)
    if config.sweep is not None:
        for temperature in config.sweep.temperatures:
            for alpha in config.sweep.alphas:
                name = soft_target_cell_name(temperature, alpha)
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
        if spec.method in ("nst", "hint") and spec.features is None:
            raise DistillError(f"student {name!r} uses method {spec.method} but names no features; "
                               "set features: {student: <module path>, teacher: <module path>}")
        outside = [c for c in spec.transfer.omit if not 0 <= c < classes]
        if outside:
            raise DistillError(f"student {name!r}: transfer.omit names class {outside[0]}; "
                               f"the data has classes 0..{classes - 1}")

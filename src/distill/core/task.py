"""What the shared protocol asks of a task: `FoldData` (one fold after preprocessing) and the `Task` base class.

The protocol (`distill.core.protocol`) calls a task for losses, for what a teacher hands a student, and for
scores; the tasks themselves live in `distill.tasks`. A task declares what it can do with class flags
(`stacks_folds`, `prepares_models`, `picks_transfer_rows`) instead of being probed for methods; the defaults
below are what a task that declares nothing gets.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar, Generic, TypeVar

import torch
from torch import nn

from distill.config import ModelSpec, TrainSection
from distill.data.windows import WindowSet
from distill.errors import DistillError
from distill.losses import LossTerms
from distill.methods import Guide

Inputs = torch.Tensor | WindowSet  # a model's inputs: a tensor, or windows read from a series without copies
TeacherT = TypeVar("TeacherT", bound=ModelSpec)  # a task's config entry of the teacher...
StudentT = TypeVar("StudentT", bound=ModelSpec)  # ... and of a student


@dataclass
class FoldData:
    """One fold after fold-local preprocessing.

    Regression targets in original units are `y * units + offset` (the fold's scaler, inverted).
    `teacher_x_train` / `teacher_x_test` / `teacher_x_val`, when given, are what the teacher sees instead of x:
    privileged information (Lopez-Paz et al. 2016) that students never see, on the same rows as x_train / x_test
    / x_val. `x_val` / `y_val`, when given, are inner validation windows carved from the fold's training part
    (never its test part): every model keeps the weights of its best epoch on them, and a teacher's candidates
    are compared on them (a privileged teacher on `teacher_x_val`).
    """

    index: int
    x_train: torch.Tensor | WindowSet
    y_train: torch.Tensor
    x_test: torch.Tensor | WindowSet
    y_test: torch.Tensor
    test_rows: torch.Tensor
    units: float = 1.0
    offset: float = 0.0
    teacher_x_train: torch.Tensor | WindowSet | None = None
    teacher_x_test: torch.Tensor | WindowSet | None = None
    x_val: torch.Tensor | WindowSet | None = None
    y_val: torch.Tensor | None = None
    teacher_x_val: torch.Tensor | WindowSet | None = None  # a privileged teacher's inputs of the x_val rows
    x_transfer: torch.Tensor | WindowSet | None = None  # inputs without (all of) their truth, from before the test
    # part: a student can learn them only through its teacher (`distill.core.teacher_labels`)

    def to(self, device: torch.device) -> FoldData:
        """This fold with every tensor (and window set) on `device`; the same object's data on the CPU."""
        moved = {item.name: getattr(self, item.name) for item in fields(self)}
        for name, value in moved.items():
            if isinstance(value, (torch.Tensor, WindowSet)):
                moved[name] = value.to(device)
        return FoldData(**moved)

    def inputs(self, role: str) -> tuple[Inputs, Inputs]:
        """(train, test) inputs of the teacher (privileged, if any) or of a student."""
        if role == "teacher" and self.teacher_x_train is not None and self.teacher_x_test is not None:
            return self.teacher_x_train, self.teacher_x_test
        return self.x_train, self.x_test

    def val_inputs(self, role: str) -> Inputs | None:
        """The inner-validation inputs of the teacher (privileged, if any) or of a student; None without
        inner validation."""
        if role != "teacher" or self.teacher_x_train is None or self.x_val is None:
            return self.x_val
        if self.teacher_x_val is None:
            raise DistillError("this fold has inner validation windows but no privileged teacher inputs for them "
                               "(teacher_x_val): the teacher could not be scored on them")
        return self.teacher_x_val


class Task(ABC, Generic[TeacherT, StudentT]):
    """What differs between tasks: losses (a student's by its method object, `distill.methods`), what the teacher
    hands over (a `Guide`), metrics.

    `spec` is the model's config entry: `TeacherT` for the teacher, `StudentT` for a student (the task's own
    config types, so a subclass narrows nothing); a task reads the fields it knows (alpha, temperature,
    features...). Capabilities, declared by the subclass:
    - `stacks_folds`: `stacked_teacher_loss` and `stacked_student_loss` are implemented, so K fold models of one
      architecture can train at once as one stacked model (`distill.core.fold_parallel`);
    - `prepares_models`: `prepare` changes a model after it is built and before it is fit;
    - `picks_transfer_rows`: `transfer_rows` gives a student a subset of the training rows.
    A task that prepares models or picks rows is trained fold by fold.
    """

    name: ClassVar[str]
    curve_metric: ClassVar[str]
    stacks_folds: ClassVar[bool] = False
    prepares_models: ClassVar[bool] = False
    picks_transfer_rows: ClassVar[bool] = False

    @abstractmethod
    def output_dim(self, spec: ModelSpec, fold: FoldData | None) -> int: ...

    @abstractmethod
    def teacher_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                     spec: TeacherT) -> torch.Tensor: ...

    @abstractmethod
    def guide(self, teacher: nn.Module, x: torch.Tensor, spec: StudentT) -> Guide:
        """What a teacher hands a student, computed once per fold (outputs, features...)."""

    @abstractmethod
    def student_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide,
                     spec: StudentT) -> LossTerms:
        """The named loss terms of the student's method (`distill.methods`) on a batch; the loop sums them."""

    @abstractmethod
    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]: ...

    @abstractmethod
    def fidelity(self, outputs: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]: ...

    def curve_scores(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        """Per-epoch scores; curves keep `curve_metric` as "train"/"test" and every other score as
        "train_<name>"/"test_<name>". Default: the curve metric from `metrics`."""
        return {self.curve_metric: self.metrics(outputs, targets, fold)[self.curve_metric]}

    def stacked_teacher_loss(self, outputs: torch.Tensor, targets: torch.Tensor, spec: TeacherT) -> torch.Tensor:
        """The summed per-fold losses of K stacked teachers (outputs (K, batch, ...)); with `stacks_folds`."""
        raise NotImplementedError(f"{type(self).__name__} does not stack folds")

    def stacked_student_loss(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
                             spec: StudentT) -> torch.Tensor:
        """The summed per-fold losses of K stacked students, `guide` stacked likewise; with `stacks_folds`."""
        raise NotImplementedError(f"{type(self).__name__} does not stack folds")

    def stacked_student_terms(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
                              spec: StudentT) -> list[LossTerms]:
        """Each of K stacked students' named loss terms on its own rows (for its curves); with `stacks_folds`."""
        raise NotImplementedError(f"{type(self).__name__} does not stack folds")

    def prepare(self, model: nn.Module, spec: TeacherT | StudentT, fold: FoldData, train: TrainSection, seed: int,
                guide: Guide | None) -> None:
        """After a model is built and before it is fit; `guide` is None for the teacher. With `prepares_models`."""
        return None

    def student_fold(self, fold: FoldData, spec: StudentT, teacher: nn.Module, seed: int) -> FoldData:
        """The fold a student trains on: `fold`, unless the task extends its rows (teacher-labelled windows)."""
        return fold

    def transfer_rows(self, fold: FoldData, spec: StudentT) -> torch.Tensor:
        """The training rows a student learns from; all unless `picks_transfer_rows`."""
        return torch.arange(len(fold.x_train))

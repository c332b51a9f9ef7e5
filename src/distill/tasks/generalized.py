"""The classification task of generalized distillation (Lopez-Paz et al. 2016) for the shared protocol.

The teacher learns from its own (privileged) inputs with cross-entropy; a student learns from its regular
inputs with `generalized_distillation_loss` on the teacher's logits for the same rows. Scores and fidelity
are those of `ClassificationTask` (accuracy, errors, macro-F1, ROC AUC, NLL; agreement and KL).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.config import ModelSpec
from distill.core.task import FoldData, Task
from distill.core.train import predict
from distill.losses import LossTerms
from distill.methods import Generalized, Guide
from distill.tasks.classification import ClassificationTask
from distill.tasks.specs import DistilledStudentSpec


class GeneralizedDistillationTask(Task[ModelSpec, DistilledStudentSpec]):
    """`classes`-way classification; students read `alpha` and `temperature` from their spec."""

    name = "generalized"
    curve_metric = "nll"

    def __init__(self, classes: int) -> None:
        self.classes = classes
        self.scores = ClassificationTask(classes)

    def output_dim(self, spec: ModelSpec, fold: FoldData | None) -> int:
        return self.classes

    def teacher_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                     spec: ModelSpec) -> torch.Tensor:
        return F.cross_entropy(model(x), targets)

    def guide(self, teacher: nn.Module, x: torch.Tensor, spec: DistilledStudentSpec) -> Guide:
        """The teacher's logits on its own inputs for the student's training rows, computed once per fold."""
        return Guide(predict(teacher, x))

    def student_loss(self, model: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide,
                     spec: DistilledStudentSpec) -> LossTerms:
        return Generalized(spec.temperature, spec.alpha).losses(model(x), targets, guide)

    def curve_scores(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        return self.scores.curve_scores(outputs, targets, fold)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor, fold: FoldData) -> dict[str, float]:
        return self.scores.metrics(outputs, targets, fold)

    def fidelity(self, outputs: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
        return self.scores.fidelity(outputs, teacher)

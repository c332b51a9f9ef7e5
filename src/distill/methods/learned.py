"""Feature methods with a learnable part of their own, trained with the student and dropped after it:
`vid` (Ahn et al. 2019; a regressor and per-channel variances) and `crd` (Tian et al. 2020; two embeddings
and two memory banks). `learned_part` builds the part from one batch of features; `losses` takes it back."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from distill.errors import DistillError
from distill.losses import CRDLoss, VIDLoss
from distill.methods.base import Guide
from distill.methods.features import _FeatureMethod


def _the_part(part: nn.Module | None, kind: type[nn.Module], method: str) -> nn.Module:
    if not isinstance(part, kind):
        raise DistillError(f"method {method!r} needs its learned part (Method.learned_part), trained with the student")
    return part


def _one_rank(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A vector on one side and a map on the other: both flattened to (batch, features)."""
    if student.dim() != teacher.dim() and 2 in (student.dim(), teacher.dim()):
        return student.flatten(1), teacher.flatten(1)
    return student, teacher


@dataclass(frozen=True)
class VID(_FeatureMethod):
    """loss_vid = feature_weight x mean 0.5 ((t - mu(s))^2 / sigma_c^2 + log sigma_c^2), the negative
    log-likelihood of the teacher's features under a Gaussian whose mean a learned 1x1 regressor predicts from
    the student's (`distill.losses.vid`; Ahn, Hu, Damianou, Lawrence, Dai 2019, "Variational information
    distillation for knowledge transfer"). Maps of rank 3 or 4, or vectors (a vector on one side flattens the
    other). Defaults: CE + 1 x VID, every variance starting at 5 (mdistiller)."""

    name = "vid"
    alpha: float = 0.0
    initial_variance: float = 5.0

    def learned_part(self, student_features: torch.Tensor, teacher_features: torch.Tensor,
                     rows: int) -> nn.Module | None:
        student, teacher = _one_rank(student_features, teacher_features)
        if student.dim() != teacher.dim() or student.dim() not in (2, 3, 4):
            raise DistillError(f"vid needs features of one rank (vectors or maps), got student "
                               f"{tuple(student_features.shape[1:])} and teacher {tuple(teacher_features.shape[1:])} "
                               "per example")
        return VIDLoss(student.shape[1], teacher.shape[1], spatial_dims=student.dim() - 2,
                       initial_variance=self.initial_variance).to(student.device)

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        return self.feature_weight * _the_part(part, VIDLoss, self.name)(*_one_rank(student, teacher))


@dataclass(frozen=True)
class CRD(_FeatureMethod):
    """loss_crd = feature_weight x (NCE(s, M_t) + NCE(t, M_s)): each student embedding should pick its own
    example's teacher embedding out of `negatives` others drawn from a memory bank of every training row, and
    vice versa (`distill.losses.crd`; Tian, Krishnan, Isola 2020, "Contrastive representation distillation").
    Any (batch, ...) features, flattened and embedded to `dim`; reads the batch's row numbers (`Guide.index`).
    Defaults: CE + 0.8 x CRD, dim 128, 16384 negatives, NCE temperature 0.07, bank momentum 0.5 (the paper's);
    alpha > 0 adds the KD terms (the paper's "CRD+KD")."""

    name = "crd"
    needs_rows = True
    alpha: float = 0.0
    feature_weight: float = 0.8
    dim: int = 128
    negatives: int = 16384
    nce_temperature: float = 0.07
    momentum: float = 0.5

    def learned_part(self, student_features: torch.Tensor, teacher_features: torch.Tensor,
                     rows: int) -> nn.Module | None:
        return CRDLoss(student_features.flatten(1).shape[1], teacher_features.flatten(1).shape[1], rows, dim=self.dim,
                       negatives=self.negatives, temperature=self.nce_temperature,
                       momentum=self.momentum).to(student_features.device)

    def feature_term(self, student: torch.Tensor, teacher: torch.Tensor, guide: Guide,
                     part: nn.Module | None) -> torch.Tensor:
        if guide.index is None:
            raise DistillError("method 'crd' needs each batch's row numbers in the training set (its memory bank's "
                               "rows): train from a TensorDataset")
        return self.feature_weight * _the_part(part, CRDLoss, self.name)(student, teacher, guide.index)

"""What every distillation method is: a small object holding its settings, saying what it needs from the teacher
(a typed `Guide`), and returning its named loss terms (`loss_hard`, `loss_kd`, `loss_nst`...), which the
training loops sum and log. The formulas live in `distill.losses`; a method picks, weights and names them."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses import LossTerms, class_log_probs_from_subclasses, total


@dataclass(frozen=True)
class Guide:
    """What a teacher hands a student for some rows, computed once (per fold in recipes, per row or batch in
    `Distiller`): its outputs as the method compares them (`Method.guide`) and, for feature methods, its
    feature map at the tapped module."""

    outputs: torch.Tensor | None = None  # (rows, outputs): class log-probs, subclass logits or values
    features: torch.Tensor | None = None  # (rows, channels, ...) at the teacher's tap
    index: torch.Tensor | None = None  # (rows,) the rows' numbers in the training set (CRD's memory-bank rows)

    def rows(self, index: torch.Tensor) -> Guide:
        """The guide of some of its rows, which remembers their numbers in the training set."""
        outputs, features = (None if value is None else value[index] for value in (self.outputs, self.features))
        return Guide(outputs, features, index if self.index is None else self.index[index])

    @staticmethod
    def stack(guides: list[Guide], rows: torch.Tensor) -> Guide:
        """Fold-parallel training: fold k's guide at rows[k], stacked to (K, batch, ...)."""
        def part(values: list[torch.Tensor | None]) -> torch.Tensor | None:
            if values[0] is None:
                return None
            return torch.stack([value[rows[k]] for k, value in enumerate(values) if value is not None])
        return Guide(part([g.outputs for g in guides]), part([g.features for g in guides]))

    def __len__(self) -> int:
        present = self.outputs if self.outputs is not None else self.features
        return 0 if present is None else len(present)


def class_log_probs(outputs: torch.Tensor, classes: int | None) -> torch.Tensor:
    """(batch, classes) class log-probabilities from (batch, classes * subclasses) logits; `classes` None
    reads the outputs as class logits."""
    if classes is None or outputs.shape[-1] == classes:
        return F.log_softmax(outputs, dim=-1)
    if outputs.shape[-1] % classes:
        raise DistillError(f"class count mismatch: a head of {outputs.shape[-1]} outputs does not split into "
                           f"{classes} classes")
    return class_log_probs_from_subclasses(outputs, classes, outputs.shape[-1] // classes)


@dataclass(frozen=True)
class Method(ABC):
    """A distillation method: its settings are the dataclass fields (their defaults are THE defaults, used by
    `Distiller` and by the recipes' config schemas alike).

    Declared capabilities: `uses_teacher` (False: the labels alone), `uses_features` (the student's and the
    teacher's feature maps at tapped module paths, `Guide.features`), `channels_must_match` (the feature term
    compares the maps channel by channel, so a student with other channel counts needs a learned adapter),
    `privileged` (the teacher reads the privileged inputs, the student never does), `needs_rows` (the term
    reads the batch's row numbers in the training set, `Guide.index`: CRD's memory bank). A method with a
    learnable part of its own (VID, CRD) builds it in `learned_part`; the caller trains it with the student
    and hands it back to `losses` as `part`.
    """

    name: ClassVar[str]
    uses_teacher: ClassVar[bool] = True
    uses_features: ClassVar[bool] = False
    channels_must_match: ClassVar[bool] = False
    privileged: ClassVar[bool] = False
    needs_rows: ClassVar[bool] = False

    def learned_part(self, student_features: torch.Tensor, teacher_features: torch.Tensor,
                     rows: int) -> nn.Module | None:
        """The method's own learnable module, sized from one batch of the (adapted) student's and the teacher's
        features and the number of training rows; None for a method that learns nothing of its own."""
        return None

    def at_epoch(self, epoch: int) -> Method:
        """The method as it applies in training epoch `epoch` (from 1): itself, unless a weight of it follows a
        schedule over the epochs (DKD's warm-up), whose value in that epoch the returned copy holds. The training
        loops ask at the start of every epoch (`on_epoch_start` of `distill.core.train.run_epochs`)."""
        return self

    def guide(self, outputs: torch.Tensor, features: torch.Tensor | None = None) -> Guide:
        """The teacher's raw outputs (and feature map) as this method compares them; computed once."""
        return Guide(outputs, features)

    @abstractmethod
    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
               features: torch.Tensor | None = None, part: nn.Module | None = None) -> LossTerms:
        """The named, weighted loss terms of a batch: the student's `outputs` (and adapted `features`), the
        truth `targets`, the teacher's `guide` for the same rows and the method's `learned_part`."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, guide: Guide,
             features: torch.Tensor | None = None, part: nn.Module | None = None) -> torch.Tensor:
        """The objective: the sum of `losses`."""
        return total(self.losses(outputs, targets, guide, features, part))


class EpochMethod:
    """A method as a training loop applies it epoch by epoch: `start(epoch)` (0-based, as `run_epochs` counts,
    its `on_epoch_start`) makes `current` that epoch's method (`Method.at_epoch`, epochs from 1)."""

    def __init__(self, method: Method) -> None:
        self.method, self.current = method, method.at_epoch(1)

    def start(self, epoch: int) -> None:
        self.current = self.method.at_epoch(epoch + 1)


def teacher_outputs(guide: Guide, method: str) -> torch.Tensor:
    if guide.outputs is None:
        raise DistillError(f"method {method!r} needs the teacher's outputs; the guide holds none")
    return guide.outputs


def teacher_features(guide: Guide, features: torch.Tensor | None, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    if guide.features is None or features is None:
        raise DistillError(f"method {method!r} needs the student's and the teacher's feature maps (taps)")
    return features, guide.features

"""The kd-zoo students' objectives: each method of `ZooMethod` as a loss over a batch, built from
`distill.losses` and the hooked features; the learnable parts of VID and CRD ride on the student while
it trains (checkpoints keep the student's own weights only)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from distill.core.features import FeatureTap
from distill.errors import DistillError
from distill.losses import LOSSES, CRDLoss, VIDLoss
from distill.protocols.classification.zoo.config import ZooMethod

METHOD_MODULE = "distill_method"  # the learnable part of a VID / CRD student, trained with it
MODULES: dict[str, type[nn.Module]] = {"vid": VIDLoss, "crd": CRDLoss}
SET_HERE = ("spatial_dims",)  # VID's, from the tapped features' rank


@dataclass
class Guide:
    """What the teacher hands one student, for every training row: class log-probabilities and the hooked features."""

    log_probs: torch.Tensor  # (rows, classes)
    features: torch.Tensor | None  # (rows, ...) the module `features.teacher` names, or None


def allowed_settings(method: str) -> list[str]:
    """The keyword settings a method's loss (or, for VID / CRD, its module) accepts."""
    target = MODULES[method].__init__ if method in MODULES else LOSSES[method].function
    return [p.name for p in inspect.signature(target).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in SET_HERE]


def check_settings(name: str, spec: ZooMethod) -> None:
    """Unknown settings keys fail with one line naming the allowed ones."""
    if spec.method == "none":
        if spec.settings:
            raise DistillError(f"method {name!r} (none) takes no settings")
        return
    allowed = allowed_settings(spec.method)
    unknown = sorted(set(spec.settings) - set(allowed))
    if unknown:
        raise DistillError(f"method {name!r} ({spec.method}): unknown setting {unknown[0]!r}; allowed: {', '.join(allowed)}")


def attach_module(student: nn.Module, spec: ZooMethod, student_features: torch.Tensor, teacher_features: torch.Tensor,
                  bank_size: int) -> None:
    """VID / CRD: build the method's learnable module from the two features' shapes and attach it to the student."""
    if spec.method == "vid":
        module: nn.Module = VIDLoss(student_features.shape[1], teacher_features.shape[1],
                                    spatial_dims=student_features.dim() - 2, **spec.settings)
    elif spec.method == "crd":
        module = CRDLoss(student_features.flatten(1).shape[1], teacher_features.flatten(1).shape[1], bank_size,
                         **spec.settings)
    else:
        return
    student.add_module(METHOD_MODULE, module.to(student_features.device))


def forward(student: nn.Module, x: torch.Tensor, spec: ZooMethod) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The student's logits and, for a feature method, the output of the module `features.student` names."""
    if spec.features is None:
        return student(x), None
    with FeatureTap(student, spec.features.student) as tap:
        logits = student(x)
    if not isinstance(tap.value, torch.Tensor):
        raise DistillError(f"feature path {spec.features.student!r} gives a {type(tap.value).__name__}, not a tensor")
    return logits, tap.value


def objective(student: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide, rows: torch.Tensor,
              spec: ZooMethod) -> torch.Tensor:
    """The batch loss of one method: CE, the soft-target mix, or CE + weight * the method's term.

    `guide` holds the batch's rows of the teacher's outputs; `rows` are the batch's row numbers in the training
    set (CRD's memory-bank entries).
    """
    logits, features = forward(student, x, spec)
    log_probs = F.log_softmax(logits, dim=1)  # the logits up to a shift, which no logit method sees
    if spec.method == "none":
        return F.nll_loss(log_probs, targets)
    if spec.method == "soft_target":
        return LOSSES["soft_target"].function(log_probs, guide.log_probs, targets, **spec.settings)
    if spec.method == "dkd":
        term = LOSSES["dkd"].function(log_probs, guide.log_probs, targets, **spec.settings)
    elif spec.method == "dist":
        term = LOSSES["dist"].function(log_probs, guide.log_probs, **spec.settings)
    elif spec.method == "vid":
        term = getattr(student, METHOD_MODULE)(features, guide.features)
    elif spec.method == "crd":
        term = getattr(student, METHOD_MODULE)(features, guide.features, rows)
    else:
        term = LOSSES[spec.method].function(features, guide.features, **spec.settings)
    return F.nll_loss(log_probs, targets) + spec.weight * term

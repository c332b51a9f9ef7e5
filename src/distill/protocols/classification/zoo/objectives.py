"""The kd-zoo students' objectives: each `ZooMethod` is a method object of `distill.methods` (the Distiller's),
fed the student's logits, its hooked features and the teacher's `Guide` for the batch's rows; a method's learned
part (VID, CRD) rides on the student while it trains (checkpoints keep the student's own weights only)."""
from __future__ import annotations

import torch
from torch import nn

from distill.core.features import FeatureTap
from distill.errors import DistillError
from distill.methods import Guide, Method
from distill.protocols.classification.zoo.config import ZooAugment, ZooMethod
from distill.tasks.classification import jitter_images

METHOD_MODULE = "distill_method"  # the learned part of a VID / CRD student, trained with it


def forward(student: nn.Module, x: torch.Tensor, spec: ZooMethod) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The student's logits and, for a feature method, the output of the module `features.student` names."""
    if spec.features is None:
        return student(x), None
    with FeatureTap(student, spec.features.student) as tap:
        logits = student(x)
    if not isinstance(tap.value, torch.Tensor):
        raise DistillError(f"feature path {spec.features.student!r} gives a {type(tap.value).__name__}, not a tensor")
    return logits, tap.value


def augment(x: torch.Tensor, spec: ZooAugment | None) -> torch.Tensor:
    """A training batch (batch, channels, H, W) randomly cropped from its zero-padded copy and half of it flipped
    left to right (`ZooAugment`); torch's global generator draws, seeded per model and saved with checkpoints."""
    if spec is None:
        return x
    x = jitter_images(x, spec.crop_padding)  # = a crop of H x W from the image padded by p: a shift in [-p, p]
    if not spec.flip:
        return x
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def attach_part(student: nn.Module, spec: ZooMethod, method: Method, x: torch.Tensor, guide: Guide,
                rows: int) -> None:
    """Build the method's learned part (VID, CRD) from the student's features on two rows and the teacher's, and
    attach it to the student, so the student's optimiser trains it."""
    if guide.features is None:
        return
    student.eval()
    with torch.no_grad():
        _, features = forward(student, x[:2], spec)
    assert features is not None  # a method with teacher features taps the student too
    part = method.learned_part(features, guide.features[:2], rows)
    if part is not None:
        student.add_module(METHOD_MODULE, part)


def objective(student: nn.Module, x: torch.Tensor, targets: torch.Tensor, guide: Guide, spec: ZooMethod,
              method: Method) -> torch.Tensor:
    """The batch loss of one method: the sum of its named terms. `guide` holds the batch's rows of the teacher's
    outputs and features, and their row numbers in the training set (CRD's memory-bank entries)."""
    logits, features = forward(student, x, spec)
    return method.loss(logits, targets, guide, features, getattr(student, METHOD_MODULE, None))

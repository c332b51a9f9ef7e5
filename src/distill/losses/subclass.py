"""Subclass distillation: a teacher invents subclasses of each class, and the student matches them.

With few classes the teacher's soft targets carry little information; making the teacher's head emit
`subclasses` logits per class (trained on class labels only, plus an auxiliary loss that spreads examples
over the subclasses) gives the student a richer distribution to match. Layout throughout: logits are
(batch, classes * subclasses) and class c owns columns c * S .. c * S + S - 1.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from distill.errors import DistillError
from distill.losses.checks import check_logit_pair, check_temperature, check_weight
from distill.losses.terms import LossTerms, total

VARIANCE_EPS = 1e-9  # the authors' epsilon


def _check_layout(subclass_logits: torch.Tensor, classes: int, subclasses: int) -> None:
    if classes < 1 or subclasses < 1:
        raise DistillError(f"classes and subclasses must be >= 1, got classes={classes}, "
                           f"subclasses={subclasses}")
    expected = classes * subclasses
    if subclass_logits.dim() != 2 or subclass_logits.shape[1] != expected:
        raise DistillError(f"subclass logits must be (batch, classes * subclasses) = (batch, {expected}), "
                           f"got {tuple(subclass_logits.shape)}")


def _check_beta(beta: float) -> float:
    if not beta >= 0.0:
        raise DistillError(f"beta must be >= 0, got {beta}")
    return beta


def class_log_probs_from_subclasses(subclass_logits: torch.Tensor, classes: int,
                                    subclasses: int) -> torch.Tensor:
    """log p(class c) = logsumexp(subclass logits of c) - logsumexp(all subclass logits): (batch, classes).

    The class probability is the sum of its subclasses' softmax probabilities (Mueller et al. 2020).
    """
    _check_layout(subclass_logits, classes, subclasses)
    grouped = subclass_logits.reshape(-1, classes, subclasses)  # (batch, classes, subclasses)
    return grouped.logsumexp(dim=2) - subclass_logits.logsumexp(dim=1, keepdim=True)


def normalise_subclass_logits(subclass_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Standardise each example's logits over its subclasses, then scale by 1 / sqrt(T * n): (batch, n).

    As the authors' code does (`negative_sampling_loss`: "subtract per-example (not batch) mean and
    variance"; population variance, epsilon 1e-9 inside the square root). n = classes * subclasses. Adding
    the same number to every logit of an example changes none of its probabilities, and changes nothing
    here either; the scale bounds each z_i.z_j to [-1/T, 1/T], so the head cannot lower the loss by
    inflating its logits.
    """
    mean = subclass_logits.mean(dim=1, keepdim=True)
    variance = subclass_logits.var(dim=1, unbiased=False, keepdim=True)
    scale = (variance + VARIANCE_EPS).rsqrt() / math.sqrt(temperature * subclass_logits.shape[1])
    return (subclass_logits - mean) * scale  # (batch, n)


def subclass_aux_loss(subclass_logits: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """L_aux = (1/B) sum_i log sum_j exp(z_i.z_j) - 1/T - log B.

    Mueller, Kornblith, Hinton 2020, "Subclass distillation", and their code (`negative_sampling_loss` in
    subclass_distillation/mnist_colab.ipynb). z_i is example i's logit vector after
    `normalise_subclass_logits`, so z_i.z_i = 1/T (up to epsilon): the loss is the cross-entropy of each
    example's similarity row against itself, minus log B, its value when all examples are orthogonal
    enough to be told apart. It penalises examples of a batch whose logits correlate, which spreads the
    batch over the subclasses. B is the batch size.
    """
    check_temperature(temperature)
    z = normalise_subclass_logits(subclass_logits, temperature)
    similarity = z @ z.T  # (batch, batch)
    return similarity.logsumexp(dim=1).mean() - 1.0 / temperature - math.log(z.shape[0])


def subclass_teacher_loss(subclass_logits: torch.Tensor, targets: torch.Tensor, *, classes: int,
                          subclasses: int, beta: float, temperature: float) -> torch.Tensor:
    """L = CE(y, p(class)) + beta * L_aux, with p(class) summed from the subclass softmax.

    Mueller, Kornblith, Hinton 2020. `targets` are class indices (batch,); see `subclass_aux_loss`.
    """
    _check_beta(beta)
    check_temperature(temperature)
    class_log_p = class_log_probs_from_subclasses(subclass_logits, classes, subclasses)
    loss = F.nll_loss(class_log_p, targets)
    if beta > 0.0:
        loss = loss + beta * subclass_aux_loss(subclass_logits, temperature=temperature)
    return loss


def subclass_distillation_loss(student_subclass_logits: torch.Tensor, teacher_subclass_logits: torch.Tensor,
                               targets: torch.Tensor, *, classes: int, subclasses: int, temperature: float,
                               alpha: float) -> torch.Tensor:
    """L = alpha * T^2 * CE(softmax(z_t / T), softmax(z_s / T)) + (1 - alpha) * CE(y, p_s(class)).

    Mueller, Kornblith, Hinton 2020. The soft term is a cross-entropy with soft labels over all
    classes * subclasses outputs, averaged over the batch; the hard term uses the student's class
    probabilities summed from its subclasses. Terms with zero weight are skipped.
    """
    return total(subclass_distillation_terms(student_subclass_logits, teacher_subclass_logits, targets,
                                             classes=classes, subclasses=subclasses, temperature=temperature,
                                             alpha=alpha))


def subclass_distillation_terms(student_subclass_logits: torch.Tensor, teacher_subclass_logits: torch.Tensor,
                                targets: torch.Tensor, *, classes: int, subclasses: int, temperature: float,
                                alpha: float) -> LossTerms:
    """`subclass_distillation_loss` as its named terms: `loss_kd` alpha T^2 CE(teacher's subclass distribution)
    and `loss_hard` (1 - alpha) CE(y, student's class probabilities)."""
    check_temperature(temperature)
    check_weight("alpha", alpha)
    check_logit_pair(student_subclass_logits, teacher_subclass_logits)
    class_log_p = class_log_probs_from_subclasses(student_subclass_logits, classes, subclasses)
    terms = {}
    if alpha > 0.0:
        soft_labels = F.softmax(teacher_subclass_logits / temperature, dim=1)
        soft = F.cross_entropy(student_subclass_logits / temperature, soft_labels)
        terms["loss_kd"] = alpha * temperature ** 2 * soft
    if alpha < 1.0:
        terms["loss_hard"] = (1.0 - alpha) * F.nll_loss(class_log_p, targets)
    return terms


class SubclassTeacherLoss(nn.Module):
    """Module form of `subclass_teacher_loss` for a fixed head layout, beta and temperature."""

    def __init__(self, *, classes: int, subclasses: int, beta: float, temperature: float) -> None:
        super().__init__()
        self.classes, self.subclasses = classes, subclasses
        self.beta = _check_beta(beta)
        self.temperature = check_temperature(temperature)

    def forward(self, subclass_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return subclass_teacher_loss(subclass_logits, targets, classes=self.classes, subclasses=self.subclasses,
                                     beta=self.beta, temperature=self.temperature)


class SubclassDistillationLoss(nn.Module):
    """Module form of `subclass_distillation_loss` for a fixed head layout, temperature and alpha."""

    def __init__(self, *, classes: int, subclasses: int, temperature: float, alpha: float) -> None:
        super().__init__()
        self.classes, self.subclasses = classes, subclasses
        self.temperature = check_temperature(temperature)
        self.alpha = check_weight("alpha", alpha)

    def forward(self, student_subclass_logits: torch.Tensor, teacher_subclass_logits: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        return subclass_distillation_loss(student_subclass_logits, teacher_subclass_logits, targets,
                                          classes=self.classes, subclasses=self.subclasses,
                                          temperature=self.temperature, alpha=self.alpha)

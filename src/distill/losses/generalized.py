"""Generalized distillation (learning using privileged information) for classification.

The teacher may have seen privileged inputs the student never gets; the student learns from the labels
and from the teacher's softened predictions on the same examples.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from distill.losses.checks import check_logit_pair, check_temperature, check_weight
from distill.losses.terms import LossTerms, total


def generalized_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                                  targets: torch.Tensor, *, temperature: float, lam: float) -> torch.Tensor:
    """L = (1 - lambda) * CE(y, softmax(z_s)) + lambda * T^2 * CE(softmax(z_t / T), softmax(z_s)).

    Lopez-Paz, Bottou, Schoelkopf, Vapnik 2016, "Unifying distillation and privileged information", eq. 4
    and their code (`distillation()` in code/mnist.py and code/synthetic.py): only the TEACHER is softened;
    the student's plain softmax fits both the labels and the teacher's soft labels. (Softening the student
    too, z_s / T, would make this Hinton's soft-target loss with a different hard-term weight.) The soft
    term is a cross-entropy with soft labels, -sum_k p_t,k log p_s,k, averaged over the batch; it differs
    from a KL by the teacher's entropy, a constant for the student.

    T^2: kept, as their code weights the soft term (`t*t*l`), so our runs reproduce theirs. With an
    unsoftened student it does not rescale a gradient (as it does in Hinton et al.); it re-weights the two
    terms: the paper's convex mix with lambda' = T^2 lambda / (1 - lambda + T^2 lambda), times
    (1 - lambda + T^2 lambda). At T = 1, the setting of every shipped recipe, paper and code agree.
    `targets` are class indices (batch,). Terms with zero weight are skipped.
    """
    return total(generalized_distillation_terms(student_logits, teacher_logits, targets, temperature=temperature,
                                                lam=lam))


def generalized_distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                                   targets: torch.Tensor, *, temperature: float, lam: float) -> LossTerms:
    """`generalized_distillation_loss` as its named terms: `loss_hard` (1 - lambda) CE(y) and `loss_kd`
    lambda T^2 CE(teacher's soft labels)."""
    check_temperature(temperature)
    check_weight("lambda", lam)
    check_logit_pair(student_logits, teacher_logits)
    terms = {}
    if lam < 1.0:
        terms["loss_hard"] = (1.0 - lam) * F.cross_entropy(student_logits, targets)
    if lam > 0.0:
        soft_labels = F.softmax(teacher_logits / temperature, dim=1)
        terms["loss_kd"] = lam * temperature ** 2 * F.cross_entropy(student_logits, soft_labels)
    return terms


class GeneralizedDistillationLoss(nn.Module):
    """Module form of `generalized_distillation_loss` with a fixed temperature and lambda."""

    def __init__(self, *, temperature: float, lam: float) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.lam = check_weight("lambda", lam)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        return generalized_distillation_loss(student_logits, teacher_logits, targets,
                                             temperature=self.temperature, lam=self.lam)

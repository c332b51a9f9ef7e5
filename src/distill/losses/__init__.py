"""Knowledge-distillation objectives. Each is a pure function plus a thin nn.Module; see each docstring
for the formula and the paper.

`LOSSES` names every distillation objective (the student's loss) with its module form; a new method is
one file here plus one entry there, and the registry tests pick it up.
"""
from distill.losses.generalized import GeneralizedDistillationLoss, generalized_distillation_loss
from distill.losses.nst import NSTLoss, nst_loss
from distill.losses.regression import RegressionDistillationLoss, check_weight, regression_distillation_loss
from distill.losses.soft_target import SoftTargetLoss, check_temperature, soft_target_loss
from distill.losses.subclass import (
    SubclassDistillationLoss,
    SubclassTeacherLoss,
    class_log_probs_from_subclasses,
    subclass_aux_loss,
    subclass_distillation_loss,
    subclass_teacher_loss,
)

LOSSES = {
    "regression": (regression_distillation_loss, RegressionDistillationLoss),
    "soft_target": (soft_target_loss, SoftTargetLoss),
    "generalized": (generalized_distillation_loss, GeneralizedDistillationLoss),
    "subclass": (subclass_distillation_loss, SubclassDistillationLoss),
    "nst": (nst_loss, NSTLoss),
}

__all__ = [
    "LOSSES",
    "GeneralizedDistillationLoss",
    "NSTLoss",
    "RegressionDistillationLoss",
    "SoftTargetLoss",
    "SubclassDistillationLoss",
    "SubclassTeacherLoss",
    "check_temperature",
    "check_weight",
    "class_log_probs_from_subclasses",
    "generalized_distillation_loss",
    "nst_loss",
    "regression_distillation_loss",
    "soft_target_loss",
    "subclass_aux_loss",
    "subclass_distillation_loss",
    "subclass_teacher_loss",
]

"""Knowledge-distillation objectives. Each is a pure function plus a thin nn.Module; see each docstring
for the formula and the paper."""
from distill.losses.regression import RegressionDistillationLoss, check_weight, regression_distillation_loss

__all__ = [
    "RegressionDistillationLoss",
    "check_weight",
    "regression_distillation_loss",
]
from distill.losses.generalized import GeneralizedDistillationLoss, generalized_distillation_loss
from distill.losses.nst import NSTLoss, nst_loss
from distill.losses.soft_target import SoftTargetLoss, soft_target_loss
from distill.losses.subclass import (
                                       SubclassDistillationLoss,
                                       SubclassTeacherLoss,
                                       class_log_probs_from_subclasses,
                                       subclass_aux_loss,
                                       subclass_distillation_loss,
                                       subclass_teacher_loss,
)

__all__ += [
    "GeneralizedDistillationLoss",
    "NSTLoss",
    "SoftTargetLoss",
    "SubclassDistillationLoss",
    "SubclassTeacherLoss",
    "class_log_probs_from_subclasses",
    "generalized_distillation_loss",
    "nst_loss",
    "soft_target_loss",
    "subclass_aux_loss",
    "subclass_distillation_loss",
    "subclass_teacher_loss",
]

"""Knowledge-distillation objectives. Each is a pure function plus a thin nn.Module; see each docstring
for the formula and the paper.

`LOSSES` names every distillation objective (the student's loss) with its module form. The two-part objectives
also come as named terms (`*_terms`: `loss_hard`, `loss_kd`), which the method objects of `distill.methods`
weight, name and hand to the training loops. A new method is one file here plus one method object there.
"""
from collections.abc import Callable
from typing import NamedTuple

from torch import nn

from distill.losses.attention import AttentionTransferLoss, attention_transfer_loss
from distill.losses.checks import check_logit_pair, check_temperature, check_weight
from distill.losses.crd import CRDLoss, crd_loss
from distill.losses.dist import DISTLoss, dist_loss
from distill.losses.dkd import DKDLoss, dkd_loss
from distill.losses.generalized import (
    GeneralizedDistillationLoss,
    generalized_distillation_loss,
    generalized_distillation_terms,
)
from distill.losses.hint import HintLoss, hint_loss
from distill.losses.nst import NSTLoss, nst_loss
from distill.losses.pkt import PKTLoss, pkt_loss
from distill.losses.regression import (
    RegressionDistillationLoss,
    regression_distillation_loss,
    regression_distillation_terms,
)
from distill.losses.rkd import RKDLoss, rkd_angle_loss, rkd_distance_loss, rkd_loss
from distill.losses.soft_target import SoftTargetLoss, soft_target_loss, soft_target_terms
from distill.losses.sp import SimilarityPreservingLoss, similarity_preserving_loss
from distill.losses.standardise import standardise_logits
from distill.losses.subclass import (
    SubclassDistillationLoss,
    SubclassTeacherLoss,
    class_log_probs_from_subclasses,
    subclass_aux_loss,
    subclass_distillation_loss,
    subclass_distillation_terms,
    subclass_teacher_loss,
)
from distill.losses.terms import LossTerms, TermLog, total
from distill.losses.timedistill import TimeDistillLoss, multiscale_mse, spectral_kl, timedistill_terms
from distill.losses.vid import VIDLoss, vid_loss


class Loss(NamedTuple):
    """A distillation objective: the pure function and its nn.Module form."""

    function: Callable
    module: type[nn.Module]


LOSSES: dict[str, Loss] = {
    "regression": Loss(regression_distillation_loss, RegressionDistillationLoss),
    "soft_target": Loss(soft_target_loss, SoftTargetLoss),
    "generalized": Loss(generalized_distillation_loss, GeneralizedDistillationLoss),
    "subclass": Loss(subclass_distillation_loss, SubclassDistillationLoss),
    "nst": Loss(nst_loss, NSTLoss),
    "hint": Loss(hint_loss, HintLoss),
    "at": Loss(attention_transfer_loss, AttentionTransferLoss),
    "pkt": Loss(pkt_loss, PKTLoss),
    "rkd": Loss(rkd_loss, RKDLoss),
    "sp": Loss(similarity_preserving_loss, SimilarityPreservingLoss),
    "vid": Loss(vid_loss, VIDLoss),
    "crd": Loss(crd_loss, CRDLoss),
    "dkd": Loss(dkd_loss, DKDLoss),
    "dist": Loss(dist_loss, DISTLoss),
}

__all__ = [
    "LOSSES",
    "Loss",
    "AttentionTransferLoss",
    "LossTerms",
    "TermLog",
    "CRDLoss",
    "DISTLoss",
    "DKDLoss",
    "PKTLoss",
    "RKDLoss",
    "SimilarityPreservingLoss",
    "VIDLoss",
    "attention_transfer_loss",
    "crd_loss",
    "dist_loss",
    "dkd_loss",
    "pkt_loss",
    "rkd_angle_loss",
    "rkd_distance_loss",
    "rkd_loss",
    "similarity_preserving_loss",
    "standardise_logits",
    "vid_loss",
    "GeneralizedDistillationLoss",
    "HintLoss",
    "NSTLoss",
    "RegressionDistillationLoss",
    "SoftTargetLoss",
    "SubclassDistillationLoss",
    "SubclassTeacherLoss",
    "TimeDistillLoss",
    "check_logit_pair",
    "check_temperature",
    "check_weight",
    "class_log_probs_from_subclasses",
    "generalized_distillation_loss",
    "generalized_distillation_terms",
    "hint_loss",
    "multiscale_mse",
    "nst_loss",
    "regression_distillation_loss",
    "regression_distillation_terms",
    "soft_target_loss",
    "soft_target_terms",
    "spectral_kl",
    "subclass_aux_loss",
    "subclass_distillation_loss",
    "subclass_distillation_terms",
    "subclass_teacher_loss",
    "timedistill_terms",
    "total",
]

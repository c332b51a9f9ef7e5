"""One object per distillation method, used by `distill.Distiller` and by the recipes alike.

A method holds its settings (dataclass fields; their defaults are the one set of defaults), says what it needs
from the teacher (`uses_teacher`, `uses_features`, `privileged`; the teacher's side arrives as a typed `Guide`)
and returns its named loss terms (`loss_hard`, `loss_kd`, `loss_nst`, `loss_dkd`...), which the training loops sum
and log. Feature methods (`uses_features`) read maps hooked at module paths; `vid` and `crd` also learn a part of
their own (`learned_part`), which the caller trains beside the student.
One vocabulary: `alpha` is the weight of the teacher's output term everywhere ((1 - alpha) truth +
alpha teacher), `temperature` its softmax temperature, `feature_weight` the weight of a feature term.

Adding a method: its formula as a pure function in `distill.losses` (one file), a small `Method` subclass here
(one file), one entry in `METHODS`; `tests/test_methods.py` is parametrised over `METHODS`.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from distill.errors import DistillError
from distill.methods.base import EpochMethod, Guide, Method, class_log_probs
from distill.methods.features import AT, NST, PKT, RKD, SP, Hint
from distill.methods.generalized import Generalized
from distill.methods.learned import CRD, VID
from distill.methods.logits import DIST, DKD
from distill.methods.quantile import Quantile
from distill.methods.regression import Regression
from distill.methods.scratch import Scratch
from distill.methods.soft_target import SoftTarget
from distill.methods.subclass import Subclass

METHODS: dict[str, type[Method]] = {method.name: method for method in (
    Scratch, SoftTarget, Regression, Generalized, Quantile, Subclass, NST, Hint, AT, PKT, RKD, SP, VID, CRD, DKD, DIST)}

RENAMED = {"lam": "alpha", "nst.weight": "feature_weight"}  # old setting -> its name in the one vocabulary


def settings(method: str) -> dict[str, Any]:
    """A method's settings and their defaults (e.g. `settings("nst")["alpha"]` is 0.0)."""
    return {field.name: field.default for field in fields(METHODS[method])}


def default(method: str, setting: str) -> Any:
    """The default of one setting of a method."""
    if setting not in settings(method):
        raise DistillError(f"method {method!r} has no setting {setting!r}")
    return settings(method)[setting]


def make_method(name: str, **settings: Any) -> Method:
    """The method called `name` with `settings` (unknown settings, old names and bad values: one line)."""
    if name not in METHODS:
        raise DistillError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    known = {field.name for field in fields(METHODS[name])}
    for key in settings:
        if key in RENAMED:
            raise DistillError(f"setting {key!r} is now {RENAMED[key]!r} (the one name for it)")
        if key not in known:
            raise DistillError(f"method {name!r} has no setting {key!r}; its settings: {', '.join(sorted(known))}")
    return METHODS[name](**settings)


__all__ = ["AT", "CRD", "DIST", "DKD", "METHODS", "NST", "PKT", "RKD", "SP", "VID", "EpochMethod", "Generalized",
           "Guide", "Hint", "Method", "Regression", "Scratch", "SoftTarget", "Subclass", "class_log_probs", "default",
           "make_method", "settings"]

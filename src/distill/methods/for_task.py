"""The method object for a task: which methods a classification or regression task can use, and with what.

Used by the `Distiller` (`distill.core.distiller`), which takes a method by name.
"""
from __future__ import annotations

from typing import Any

from distill.errors import DistillError
from distill.methods import METHODS, make_method
from distill.methods.base import Method


def build_method(name: str, task: str, *, classes: int | None, subclasses: int, nst_kernel: str,
                 settings: dict[str, Any] | None = None, **weights: float | None) -> Method:
    """The method object of a Distiller: `weights` (temperature, alpha, feature_weight) left None take the
    method's defaults; `settings` are any other settings of the method (e.g. `standardise`, `negatives`); a
    setting the method does not have is refused. Methods tied to classes refuse a regression task; the others
    compare the regression student's values (`values`)."""
    if name not in METHODS:
        raise DistillError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    values = task == "regression"
    if values and name in ("soft_target", "subclass", "dkd"):
        raise DistillError(f"method {name!r} compares class distributions; for value targets use method='regression' "
                           "or a method not tied to classes (rkd, pkt, sp, dist, hint, nst)")
    if name == "regression" and not values:
        raise DistillError("method 'regression' needs task='regression' (value targets)")
    shapes: dict[str, dict[str, Any]] = {
        "none": {"classes": classes, "values": values}, "soft_target": {"classes": classes}, "regression": {},
        "generalized": {"values": values}, "subclass": {"classes": classes or 0, "subclasses": subclasses},
        "nst": {"classes": classes, "values": values, "kernel": nst_kernel}, "dkd": {"classes": classes},
        **{feature: {"classes": classes, "values": values} for feature in ("hint", "at", "pkt", "rkd", "sp", "vid",
                                                                           "crd", "dist")}}
    chosen = {key: value for key, value in weights.items() if value is not None}
    both = sorted((set(chosen) | set(shapes[name])) & set(settings or {}))
    if both:
        raise DistillError(f"setting {both[0]!r} comes from the Distiller's own argument; remove it from settings")
    return make_method(name, **shapes[name], **(settings or {}), **chosen)

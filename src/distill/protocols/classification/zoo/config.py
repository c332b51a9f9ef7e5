"""Config schema of the kd-zoo recipe: a data source, how each seed splits it, one teacher, one student
architecture, and the methods that teach it (each a loss of `distill.losses.LOSSES` and its settings)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from distill.config import ModelSpec, RecipeConfig, Section, TrainSection
from distill.data.labelled import ClassificationData
from distill.errors import DistillError
from distill.tasks.specs import FeaturePair

LOGIT_METHODS = ("soft_target", "dkd", "dist")
FEATURE_METHODS = ("at", "pkt", "rkd", "sp", "vid", "crd", "nst")
MethodName = Literal["none", "soft_target", "dkd", "dist", "at", "pkt", "rkd", "sp", "vid", "crd", "nst"]


class ZooMethod(Section):
    """One student's objective. `none`: CE on the labels. `soft_target`: the loss itself (it mixes CE in with
    its `alpha`). Every other method: CE + `weight` * the method's loss, on the logits (dkd, dist) or on the
    modules the `features` paths name (the feature methods). `settings` are the loss's keyword settings
    (e.g. temperature, standardise, distance_weight; for vid and crd their module's)."""

    method: MethodName
    weight: float = Field(1.0, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)  # checked against the loss's signature before training
    features: FeaturePair | None = None

    @model_validator(mode="after")
    def _features_where_needed(self) -> ZooMethod:
        if self.method in FEATURE_METHODS and self.features is None:
            raise DistillError(f"method {self.method} needs features; set features: "
                               "{student: <module path>, teacher: <module path>}")
        if self.method not in FEATURE_METHODS and self.features is not None:
            raise DistillError(f"method {self.method} uses no features; remove its features entry")
        if self.method in ("none", "soft_target") and self.weight != 1.0:
            raise DistillError(f"method {self.method} has no weight of its own (soft_target mixes with its "
                               "alpha); remove weight")
        return self


class ZooSplit(Section):
    """Per seed: a stratified `test` share held out, then a stratified `validation` share of the rest
    (the inner validation that picks each model's best epoch); the remaining rows train."""

    test: float = Field(0.2, gt=0, lt=1)
    validation: float = Field(0.15, gt=0, lt=1)


class ZooConfig(RecipeConfig):
    """kd-zoo: `seeds` repetitions, each with its own split, teacher and student initialisation (shared by all
    the methods of that seed, so the comparisons are paired)."""

    protocol: Literal["kd-zoo"] = "kd-zoo"
    data: ClassificationData = Field(default_factory=ClassificationData)
    seeds: int = Field(5, ge=2)
    split: ZooSplit = Field(default_factory=ZooSplit)
    train: TrainSection = Field(default_factory=TrainSection)
    teacher: ModelSpec
    student: ModelSpec
    methods: dict[str, ZooMethod]
    scratch: str = Field("scratch", description="the student alone: every method is compared with it")
    kd: str = Field("kd", description="vanilla KD: every method is compared with it")

    @model_validator(mode="after")
    def _baselines_listed(self) -> ZooConfig:
        for role, name, method in (("scratch", self.scratch, "none"), ("kd", self.kd, "soft_target")):
            if name not in self.methods or self.methods[name].method != method:
                raise DistillError(f"{role}: {name!r} must name a method of methods with method {method} "
                                   f"(listed: {', '.join(self.methods)})")
        return self

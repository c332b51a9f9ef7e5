"""Config schema of the kd-zoo recipe: a data source, how each seed splits it, one teacher, one student
architecture, and the methods that teach it (each a method object of `distill.methods` and its settings)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from distill.config import ModelSpec, RecipeConfig, Section, TrainSection
from distill.data.labelled import ClassificationData
from distill.errors import DistillError
from distill.methods import METHODS, Method, make_method
from distill.tasks.specs import FeaturePair

MethodName = Literal["none", "soft_target", "dkd", "dist", "at", "pkt", "rkd", "sp", "vid", "crd", "nst", "hint"]


class ZooMethod(Section):
    """One student's objective: the method object `distill.methods.METHODS[method]` with `settings` (its own
    names and defaults, as the Distiller's: e.g. feature_weight, temperature, alpha, standardise, negatives);
    the feature methods read the modules the `features` paths name."""

    method: MethodName
    settings: dict[str, Any] = Field(default_factory=dict)  # checked against the method's settings at once
    features: FeaturePair | None = None

    @model_validator(mode="after")
    def _features_where_needed(self) -> ZooMethod:
        uses_features = METHODS[self.method].uses_features
        if uses_features and self.features is None:
            raise DistillError(f"method {self.method} needs features; set features: "
                               "{student: <module path>, teacher: <module path>}")
        if not uses_features and self.features is not None:
            raise DistillError(f"method {self.method} uses no features; remove its features entry")
        self.make()
        return self

    def make(self) -> Method:
        """The method object (bad settings: one line naming the method's settings)."""
        return make_method(self.method, **self.settings)


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

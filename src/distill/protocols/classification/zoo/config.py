"""Config schema of the kd-zoo recipe: a data source, how each seed splits it, one teacher, one student
architecture, and the methods that teach it (each a method object of `distill.methods` and its settings)."""
from __future__ import annotations

from collections.abc import Callable
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
    """Per seed: a stratified `test` share held out (a source with a fixed test split, CIFAR-100, keeps its
    own test set instead), then a stratified `validation` share of the rest (the inner validation that picks
    each model's best epoch); the remaining rows train."""

    test: float = Field(0.2, gt=0, lt=1)
    validation: float = Field(0.15, gt=0, lt=1)


class ZooOptimizer(Section):
    """The optimiser of every model, at the model's `lr` and `weight_decay`: Adam (torch's fused kernel) or SGD
    with `momentum` (the CIFAR benchmarks'); the learning rate is multiplied by `gamma` after each of `milestones`
    (epoch numbers from 1: lr x gamma^k from epoch m_k + 1 on, as mdistiller's step schedule)."""

    name: Literal["adam", "sgd"] = "adam"
    momentum: float = Field(0.9, ge=0, lt=1)
    milestones: list[int] = Field(default_factory=list)
    gamma: float = Field(0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _milestones_increase(self) -> ZooOptimizer:
        if any(m < 1 for m in self.milestones) or self.milestones != sorted(set(self.milestones)):
            raise DistillError(f"optimizer.milestones must be increasing epoch numbers >= 1, got {self.milestones}")
        return self

    def lr_at(self, lr: float) -> Callable[[int], float]:
        """The learning rate of 0-based epoch i: lr x gamma^(number of milestones m with i >= m)."""
        return lambda epoch: lr * self.gamma ** sum(epoch >= m for m in self.milestones)


class ZooAugment(Section):
    """CIFAR's training augmentation, drawn per batch for every model (the teacher sees the student's augmented
    batch): a random crop of the image's size from it padded by `crop_padding` on each side (a shift in
    [-p, p], the border filled with 0, the mean colour of standardised images) and a horizontal flip of half
    the images (`flip`)."""

    crop_padding: int = Field(4, ge=0)
    flip: bool = True


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
    optimizer: ZooOptimizer = Field(default_factory=lambda: ZooOptimizer.model_validate({}))
    augment: ZooAugment | None = Field(None, description="training augmentation (null: none)")
    scratch: str = Field("scratch", description="the student alone: every method is compared with it")
    kd: str = Field("kd", description="vanilla KD: every method is compared with it")
    published: dict[str, float] = Field(default_factory=dict, description="published top-1 accuracy (%) by model "
                                        "name (teacher or a method), shown beside ours in the report, labelled")
    published_source: str = Field("", description="where the published numbers are from")

    @model_validator(mode="after")
    def _baselines_listed(self) -> ZooConfig:
        for role, name, method in (("scratch", self.scratch, "none"), ("kd", self.kd, "soft_target")):
            if name not in self.methods or self.methods[name].method != method:
                raise DistillError(f"{role}: {name!r} must name a method of methods with method {method} "
                                   f"(listed: {', '.join(self.methods)})")
        unknown = sorted(set(self.published) - {"teacher", *self.methods})
        if unknown:
            raise DistillError(f"published: {unknown[0]!r} is not a model of this run (teacher, {', '.join(self.methods)})")
        if self.published and not self.published_source:
            raise DistillError("published numbers need published_source (the paper or code they are from)")
        return self

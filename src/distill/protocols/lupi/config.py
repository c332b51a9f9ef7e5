"""Config schema of the `lupi-synthetic` recipe: the experiments' sizes and training, lambda and T, a sweep."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from distill.config import MAX_BATCH, LambdaTemperatureGrid, RecipeConfig, Section
from distill.protocols.lupi.experiments import EXPERIMENTS
from distill.protocols.lupi.trainer import DEFAULT_BATCH_SIZE, DEFAULT_LR
from distill.tasks.specs import GeneralizedDistillation

Experiment = Literal["clean_labels", "clean_features", "relevant_features", "sample_dependent"]


class SyntheticSettings(Section):
    """The experiments' sizes and training, as in the authors' code (d = 50, 200 train, 1000 test points)."""

    repetitions: int = Field(100, ge=1)
    train_size: int = Field(200, ge=2)
    test_size: int = Field(1000, ge=1)
    dim: int = Field(50, ge=3)
    epochs: int = Field(1000, ge=1)
    lr: float = Field(DEFAULT_LR, gt=0)
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1, le=MAX_BATCH)
    experiments: list[Experiment] = Field(default_factory=lambda: list(EXPERIMENTS), min_length=1)


class LupiSweep(LambdaTemperatureGrid):
    """A lambda x T grid of distilled students on one experiment (teacher and regular model trained once)."""

    experiment: Experiment = "clean_labels"


class LupiConfig(RecipeConfig):
    """Lopez-Paz et al. 2016, section 5: privileged / regular / distilled logistic regression."""

    protocol: Literal["lupi-synthetic"] = "lupi-synthetic"
    synthetic: SyntheticSettings = Field(default_factory=SyntheticSettings)
    distill: GeneralizedDistillation = Field(default_factory=GeneralizedDistillation)
    sweep: LupiSweep | None = None

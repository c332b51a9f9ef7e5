"""Config schema of the forecasting recipes (covid-lstm, covid-seed): data, folds, teacher, students, report."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from distill.config import CVSection, RecipeConfig, Section, StudentSpec, TeacherSpec, TrainSection


class ForecastData(Section):
    path: str | None = None
    location: str | None = None
    cache_dir: str | None = None
    target: str = "new_hospitalized_patients"
    input_days: int = Field(10, ge=1)
    horizon: int = Field(14, ge=1)
    scale_on: Literal["train", "all"] = "train"
    target_mode: Literal["level", "change"] = "level"
    sim_days: int = Field(860, ge=100)
    sim_seed: int = 0


class ReportSection(Section):
    sample_windows: int = Field(4, ge=1)
    seed_sums: bool = False
    latency_repeats: int = Field(30, ge=3)


class ForecastConfig(RecipeConfig):
    """The cross-validated teacher -> students protocol on windowed time series (covid-lstm, covid-seed)."""

    protocol: Literal["forecast"] = "forecast"
    data: ForecastData = Field(default_factory=ForecastData)
    cv: CVSection = Field(default_factory=CVSection)
    train: TrainSection = Field(default_factory=TrainSection)
    teacher: TeacherSpec
    students: dict[str, StudentSpec]
    report: ReportSection = Field(default_factory=ReportSection)

"""Config schema of the forecasting recipes (covid-lstm, covid-seed): data, folds, teacher, students, report."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from distill.config import CVSection, RecipeConfig, Section, StudentSpec, TeacherSpec, TrainSection
from distill.errors import DistillError
from distill.losses.timedistill import TEMPERATURE


class ForecastData(Section):
    """Where the series come from (one of: `path`, `paths`, `table`, `location`; none: the simulator) and how
    they are read."""

    path: str | None = Field(None, description="one v3 location CSV")
    paths: list[str] | None = Field(None, description="several v3 location CSVs: one series each, one global model")
    table: str | None = Field(None, description="a long table: one row per (series, date), see data.series")
    series: str | None = Field(None, description="data.table: the column naming each row's series")
    date: str = Field("date", description="the date column (any name)")
    freq: Literal["daily", "weekly"] = "daily"
    location: str | None = None
    cache_dir: str | None = None
    target: str = "new_hospitalized_patients"
    input_days: int | Literal["auto"] | list[int] = Field(10, description="input days per window; auto or a list "
                                                          "of candidates: chosen on inner validation (see data.features)")
    horizon: int = Field(14, ge=1)
    missing: Literal["ffill", "zero"] = Field("ffill", description="ffill: features from the past, target gaps "
                                              "kept (windows touching one are dropped); zero: the seed's NaN -> 0")
    features: Literal["all", "leading", "auto"] | list[str] = Field("all", description="auto: the target and "
                                                                    "the k columns ranked first on the fitting "
                                                                    "windows, k chosen on inner validation")
    scaling: Literal["window_log", "minmax"] = "window_log"
    level_days: int = Field(7, ge=1, description="window_log: input days that define a window's level")
    scale_on: Literal["train", "all"] = Field("train", description="minmax only")
    target_mode: Literal["level", "change"] = Field("level", description="minmax only")
    drop: Literal["constant", "at_most_2_values"] = Field("constant", description="uninformative columns dropped: "
                                                          "constant or empty; or the seed's at most 2 values (NaN counted)")
    sim_days: int = Field(860, ge=100)
    sim_seed: int = 0
    sim_locations: int = Field(1, ge=1, le=50, description="simulated epidemics that differ in size, timing and "
                               "reporting: one series each")
    privileged: list[str] = Field(default_factory=list, description="input columns whose values on the "
                                  "window's HORIZON days the teacher alone also reads (generalized distillation, "
                                  "Lopez-Paz et al. 2016): known in hindsight, never at forecast time")
    quantiles: Literal["none", "hub"] = Field("none", description="hub: every trained model forecasts the Forecast "
                                              "Hub's 23 quantiles, scored by WIS against the Hub's baseline")
    calibration: Literal["cqr", "none"] = Field("cqr", description="data.quantiles hub: cqr: each fold model's "
                                                "central intervals calibrated on its inner-validation windows "
                                                "(conformalized quantile regression); none: its own quantiles")


    @field_validator("input_days")
    @classmethod
    def _positive_days(cls, value: int | str | list[int]) -> int | str | list[int]:
        days = [value] if isinstance(value, int) else value if isinstance(value, list) else []
        if isinstance(value, list) and not value:
            raise ValueError("an empty list of candidate input days; give an int, auto or a list such as [7, 14, 28]")
        if any(day < 1 for day in days):
            raise ValueError(f"input days must be at least 1, got {value}")
        return value

    @property
    def lookback(self) -> int:
        """The input days of every window: data.input_days once chosen (`distill.protocols.forecast.data_choice`)."""
        if not isinstance(self.input_days, int):
            raise DistillError(f"data.input_days {self.input_days!r} is chosen on inner validation before windowing")
        return self.input_days


class TeacherLabelled(Section):
    """Windows without (all of) their truth that a distilled student learns from through its teacher: the
    teacher's forecast is their target (issue 19, "distillation that earns its place"). A teacher's value to a
    student is its labels where there is no truth; the student trained alone cannot use these windows."""

    recent: bool = Field(False, description="the windows just before each forecast origin, whose inputs are "
                         "observed but whose horizon is not yet (rolling origin only)")
    jitter: int = Field(0, ge=0, le=20, description="copies of every fitting window with Gaussian noise "
                        "(sd `noise`) on its scaled inputs")
    mixup: int = Field(0, ge=0, le=20, description="copies of convex mixes of two random fitting windows "
                       "(weight drawn uniformly from 0..1)")
    noise: float = Field(0.1, gt=0, le=5, description="jitter's noise sd, in scaled-input units (features have "
                         "sd 1 on the fitting windows)")

    @property
    def used(self) -> bool:
        return self.recent or self.jitter > 0 or self.mixup > 0


class TimeDistill(Section):
    """TimeDistill's terms on a distilled student's forecasts (Ni et al. 2025, `distill.losses.timedistill`):
    the teacher's forecast matched at several temporal resolutions (`loss_multiscale`) and in its amplitude
    spectrum (`loss_spectral`), beside the `regression` method's `loss_hard` and `loss_kd`. Off at weights 0."""

    multiscale_weight: float = Field(0.0, ge=0, le=100, description="weight of the mean over `scales` of the MSE "
                                     "between student and teacher forecasts averaged over blocks of that many days")
    scales: list[int] = Field([1, 2, 4, 8], min_length=1, description="block lengths in days (1: the forecasts "
                              "themselves); the authors' 1, 2, 4, 8 by default")
    spectral_weight: float = Field(0.0, ge=0, le=100, description="weight of KL(teacher || student) between the "
                                   "softmaxed amplitude spectra of the forecasts over the horizon (the level left out)")
    temperature: float = Field(TEMPERATURE, gt=0, le=100, description="the spectra's softmax temperature")

    @model_validator(mode="after")
    def _whole_scales(self) -> TimeDistill:
        if min(self.scales) < 1 or len(set(self.scales)) < len(self.scales):
            raise ValueError(f"scales must be distinct whole numbers of days >= 1, got {self.scales}")
        return self

    @property
    def used(self) -> bool:
        return self.multiscale_weight > 0 or self.spectral_weight > 0


class ForecastStudentSpec(StudentSpec):
    """A forecasting student: the `regression` method's mix of the truth and the teacher, the teacher-labelled
    windows it also learns from, and TimeDistill's terms on its forecasts."""

    teacher_labelled: TeacherLabelled = Field(default_factory=lambda: TeacherLabelled.model_validate({}))
    timedistill: TimeDistill = Field(default_factory=lambda: TimeDistill.model_validate({}))

    @model_validator(mode="after")
    def _labels_need_the_teacher(self) -> ForecastStudentSpec:
        if self.teacher_labelled.used and self.alpha == 0:
            raise ValueError("teacher_labelled windows are labelled by the teacher; alpha 0 (the truth only) "
                             "cannot learn from them: set alpha > 0")
        if self.timedistill.used and self.alpha == 0:
            raise ValueError("timedistill's terms match the teacher's forecasts; alpha 0 (the truth only, no "
                             "teacher) has none to match: set alpha > 0")
        return self


class ForecastCV(CVSection):
    inner_validation: float = Field(0.2, ge=0, lt=0.9, description="share of each fold's training windows (the "
                                    "latest) kept for early stopping and choosing the teacher; 0: none")
    step: int = Field(7, ge=1, description="rolling: periods between forecast origins")
    test_share: float = Field(0.3, gt=0, lt=0.9, description="rolling: the last share of the periods holds the origins")
    refit_every: int | None = Field(None, ge=1, description="rolling: consecutive origins that share one fit; "
                                    "unset: the origins are shared out among cv.folds fits")


class ForecastTrain(TrainSection):
    final_fit: bool = Field(False, description="after cross-validation, fit the teacher and every student once "
                            "more on all windows (models/<name>-final.pt), for the median best epoch of their folds")


class ReportSection(Section):
    auto_ets: bool = Field(True, description="score AutoETS beside the other baselines (needs the optional extra "
                           "distill[forecast], statsmodels; skipped with a note without it)")
    sample_windows: int = Field(4, ge=1)
    seed_sums: bool = False
    latency_repeats: int = Field(30, ge=3)


class ForecastConfig(RecipeConfig):
    """The cross-validated teacher -> students protocol on windowed time series (covid-lstm, covid-seed)."""

    protocol: Literal["forecast"] = "forecast"
    data: ForecastData = Field(default_factory=ForecastData)
    cv: ForecastCV = Field(default_factory=ForecastCV)
    train: ForecastTrain = Field(default_factory=ForecastTrain)
    teacher: TeacherSpec
    students: dict[str, ForecastStudentSpec]
    report: ReportSection = Field(default_factory=ReportSection)

    @model_validator(mode="after")
    def _timedistill_fits_the_forecasts(self) -> ForecastConfig:
        for name, spec in self.students.items():
            terms = spec.timedistill
            if not terms.used:
                continue
            if self.data.quantiles != "none":
                raise ValueError(f"students.{name}.timedistill: its terms compare point forecasts over the horizon; "
                                 f"data.quantiles {self.data.quantiles} forecasts quantiles: use data.quantiles none")
            if terms.multiscale_weight > 0 and max(terms.scales) > self.data.horizon:
                raise ValueError(f"students.{name}.timedistill.scales: {max(terms.scales)} days is longer than the "
                                 f"{self.data.horizon}-day horizon (data.horizon)")
            if terms.spectral_weight > 0 and self.data.horizon < 4:
                raise ValueError(f"students.{name}.timedistill.spectral_weight: the spectrum of a "
                                 f"{self.data.horizon}-day horizon has fewer than 2 frequencies besides the level; "
                                 f"it needs data.horizon >= 4")
        return self

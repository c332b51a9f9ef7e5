"""Config schema of the `privileged` protocol (mackey-glass-pi, pm25-pi): generalized distillation with
privileged time-series information (Lopez-Paz et al. 2016; Hayashi et al. 2019).

The distillation weights (`GeneralizedDistillation`, `distill.tasks.specs`) and the lambda x T grid
(`LambdaTemperatureGrid`, `distill.config`) are shared with `lupi-synthetic`. Single-field limits (lambda in
[0, 1], T > 0, positive horizons...) are checked by pydantic when the YAML is read; `check_privileged_config`
adds the checks that need several fields at once.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from distill.config import CVSection, LambdaTemperatureGrid, ModelSpec, RecipeConfig, Section, TeacherSpec, TrainSection
from distill.data.series import SeriesData
from distill.errors import DistillError
from distill.tasks.specs import GeneralizedDistillation

DISTILLED, ALONE = "student_distilled", "student_alone"  # the two students of every cell
Horizon = Annotated[int, Field(ge=1)]
TrainSize = Annotated[int, Field(ge=2)]


class PrivilegedSection(Section):
    """What only the teacher sees.

    kind `future`: the rows between the end of the student's window (time t) and the target time t+k, or
    the rows at `offsets` relative to t+k (the verified Mackey-Glass setup uses [-2, -1, 1, 2]); every
    offset must be > -k, i.e. after time t. kind `columns`: the named `columns`, over the student's window.
    kind `both`: both. `teacher_sees: all` gives the teacher the student's inputs as well (it needs x(t)
    to tell the direction); `privileged` gives it the privileged cells only.
    """

    kind: Literal["future", "columns", "both"] = "future"
    offsets: list[int] | None = None
    columns: list[str] = Field(default_factory=list)
    teacher_sees: Literal["all", "privileged"] = "all"


class TargetSection(Section):
    """What is predicted at each time t, from the last `input_length` rows (t - input_length + 1 .. t).

    direction: 1[x(t+k) > x(t)], a two-class problem (generalized distillation loss). value: x(t+k),
    scaled like the inputs (the lambda mix of MSEs). One run per horizon k and training size; training size
    None uses every training row of a fold. Inputs are MinMax-scaled `levels`, or `changes`: every row but t
    as its change from row t, standardised (`ChangeEncoder`; same information, much faster to fit).
    """

    kind: Literal["direction", "value"] = "direction"
    input_length: int = Field(4, ge=1)
    inputs: Literal["levels", "changes"] = "levels"
    horizons: list[Horizon] = Field(default_factory=lambda: [8], min_length=1)
    train_sizes: list[TrainSize] | None = None


class PrivilegedSweep(LambdaTemperatureGrid):
    """A lambda x T grid of distilled students at one horizon and training size (default: the first ones)."""

    horizon: Horizon | None = None
    train_size: TrainSize | None = None


class PrivilegedReport(Section):
    latency_repeats: int = Field(10, ge=3)


class PrivilegedConfig(RecipeConfig):
    """Teacher on privileged inputs -> distilled student vs student alone, over horizons and training sizes."""

    protocol: Literal["privileged"] = "privileged"
    data: SeriesData = Field(default_factory=SeriesData)
    target: TargetSection = Field(default_factory=TargetSection)
    privileged: PrivilegedSection = Field(default_factory=PrivilegedSection)
    cv: CVSection = Field(default_factory=CVSection)
    train: TrainSection = Field(default_factory=TrainSection)
    teacher: TeacherSpec
    student: ModelSpec
    distill: GeneralizedDistillation = Field(default_factory=GeneralizedDistillation)
    sweep: PrivilegedSweep | None = None
    report: PrivilegedReport = Field(default_factory=PrivilegedReport)


def check_privileged_config(config: PrivilegedConfig) -> None:
    """Checks across fields; raise a one-line DistillError naming the key and what is allowed."""
    privileged, target = config.privileged, config.target
    if privileged.kind in ("columns", "both") and not privileged.columns:
        raise DistillError(f"privileged.kind is {privileged.kind!r} but privileged.columns is empty; "
                           "name the columns only the teacher sees")
    if privileged.kind == "future" and privileged.columns:
        raise DistillError("privileged.columns is set but privileged.kind is 'future'; use kind 'both' "
                           "(future rows and columns) or 'columns'")
    if privileged.kind == "columns" and privileged.offsets is not None:
        raise DistillError("privileged.offsets is set but privileged.kind is 'columns'; offsets choose "
                           "future rows, use kind 'future' or 'both'")
    if privileged.kind == "both" and privileged.teacher_sees == "privileged":
        raise DistillError("privileged.teacher_sees 'privileged' needs a single kind ('future' or 'columns'); "
                           "with kind 'both' use teacher_sees 'all'")
    sweep = config.sweep
    if sweep is not None:
        if sweep.horizon is not None and sweep.horizon not in target.horizons:
            raise DistillError(f"sweep.horizon {sweep.horizon} is not in target.horizons {target.horizons}")
        sizes = target.train_sizes or [None]
        if sweep.train_size is not None and sweep.train_size not in sizes:
            raise DistillError(f"sweep.train_size {sweep.train_size} is not in target.train_sizes {sizes}")
        if target.kind == "value" and len(sweep.temperature) > 1:
            raise DistillError("sweep.temperature lists several values but value targets do not use T; "
                               "sweep alpha only (sweep.temperature: [1])")

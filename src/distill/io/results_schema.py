"""The results.json contract: typed pydantic models of what every protocol writes, checked when a run is written.

results.json is the one record a run leaves for its report, its figures, `distill predict` and the user's own
scripts, and each protocol builds it as a nested dict. These models say what it holds: one top level per protocol
(`RESULTS`), built from the parts they share (distill.io.results_parts: `Summary`, `Comparison`, a model's cost
and scores, `checkpoints`). `validate_results` checks a run's results against its protocol's model; the run writer
calls it just before it writes results.json, so results that break the contract are a bug that fails loudly with
the key path, never a file a reader trips over later. docs/outputs.md's reference is generated from these models
(`tools/gen_output_docs.py`; tests/test_results_schema.py fails when it is stale).

Stable sections refuse unknown keys (`Closed`); the forecasting protocol's own parts, still being changed, and
free-form descriptions keep extra keys (`Open`): there only the shared parts are typed.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from distill.io.results_parts import (
    Closed,
    Comparison,
    FoldRunResults,
    MeanSem,
    ModelCost,
    ModelEntry,
    Number,
    Open,
    RunResults,
    Summary,
)

__all__ = ["RESULTS", "ResultsContractError", "validate_results"]


# ---- forecasting (another change is under way: shared parts typed, extra keys allowed) ---------------------------
class HorizonSummary(Closed):
    """A score per horizon day: means and SEMs over folds, day 1 first."""

    mean: list[Number] = Field(description="per horizon day")
    sem: list[Number] = Field(description="per horizon day")


class ForecastScores(Open):
    """A forecasting model's test scores in the target's units (`mse`, `mae` stay in the model's scaled units)."""

    mae_original: Summary = Field(description="MAE in the target's units")
    rmse_original: Summary | None = Field(None, description="RMSE in the target's units")
    mae_first_week: Summary | None = Field(None, description="MAE over the first 7 horizon days")
    skill: Summary | None = Field(None, description="1 - MAE / MAE(persistence)")
    share_of_achievable: Summary | None = Field(None, description="(MAE(persistence) - MAE) / (MAE(persistence) - "
                                                "MAE(oracle)); simulated data")
    mae_by_horizon: HorizonSummary | None = Field(None, description="MAE per horizon day")
    per_series: dict[str, Any] | None = Field(None, description="the scores of every series, by name")


class ForecastModel(ModelCost):
    """A forecasting model or baseline: forecast scores and diagnostics beside the shared cost."""

    model_config = ConfigDict(extra="allow")
    test: ForecastScores = Field(description="scores on the test windows")
    train: dict[str, Summary] | None = Field(None, description="trained models: `mse`, `mae` in scaled units")
    diagnostics: dict[str, Any] | None = Field(None, description="`output_spread`: forecasts' spread / the truth's")


class BestBaseline(Open):
    """The strongest baseline, chosen on the inner validation windows, never on test windows."""

    name: str | None = Field(description="the chosen baseline (null without inner validation windows)")
    chosen_on: str = Field(description="what it was chosen on")
    validation_mae: dict[str, Summary] = Field(description="every baseline's inner-validation MAE")


class ForecastResults(FoldRunResults):
    """protocol `forecast`: covid-lstm, covid-seed and every forecasting recipe."""

    model_config = ConfigDict(extra="allow")
    models: dict[str, ForecastModel] = Field(description="every trained model and baseline by name")
    warnings: list[str] = Field(description="collapsed (constant) forecasters and other warnings")
    dropped_columns: dict[str, list[str]] = Field(description="columns dropped, by reason")
    data: dict[str, Any] = Field(description="source, series, rows, windows, `unit`, `fold_windows`, `oracle`; "
                                 "`privileged` (only when data.privileged is set): the columns the teacher alone "
                                 "read on the horizon days")
    best_baseline: BestBaseline = Field(description="the strongest baseline, chosen on inner validation")
    auto_ets: dict[str, Any] = Field(description="`ran`, `note` and, when it ran, the forms chosen and fit times")
    teacher_choice: list[str] = Field(description="per fold, the teacher architecture used")
    teacher_shrinkage: list[dict[str, Any]] | None = Field(
        None, description="`teacher.shrink: ridge`: per fold, the teacher's weight in its mix with ridge, the ridge "
        "penalty and the inner-validation MSE of teacher, ridge and mix (model units)")
    scalings: list[str] | None = Field(None, description="`models/scaling-fold<k>.json`")
    data_choice: dict[str, Any] | None = Field(
        None, description="`data.input_days: auto` or a list, `data.features: auto`: what was chosen on the first "
        "fit's inner validation (`input_days`, `features`, `columns`), `chosen_on`, every candidate's ridge MAE")
    final_fit: dict[str, Any] | None = Field(None, description="`train.final_fit`: windows, epochs, scaling file")
    origins: list[dict[str, Any]] | None = Field(None, description="rolling origins per fold")
    intervals: dict[str, Any] | None = Field(None, description="conformal prediction intervals per model")
    quantiles: dict[str, Any] | None = Field(None, description="`data.quantiles: hub`: WIS and calibration")


# ---- classification -----------------------------------------------------------------------------------------
class ClassificationScores(Closed):
    """A classifier's scores, each a `Summary` over folds."""

    accuracy: Summary = Field(description="share of test images classified right")
    errors: Summary = Field(description="misclassified test images")
    error_rate: Summary = Field(description="1 - accuracy (the paired comparisons' metric)")
    macro_f1: Summary = Field(description="F1 averaged over classes")
    roc_auc: Summary = Field(description="one-vs-rest ROC AUC")
    nll: Summary = Field(description="negative log-likelihood of the true class")


class ClassificationModel(ModelCost):
    """A classifier (the majority baseline too): the classification scores beside the shared cost."""

    test: ClassificationScores = Field(description="scores on the test folds")
    train: ClassificationScores | None = Field(None, description="scores on the training folds")


class ClassificationData(Closed):
    """The images a classification run used."""

    source: str = Field(description="where the images came from")
    images: int = Field(ge=1, description="images used")
    shape: list[int] = Field(description="one image's shape (channels, height, width)")
    class_counts: list[int] = Field(description="images per class")
    split: str = Field(description="stratified K-fold or the fixed train/test split")


class GapRecovered(Closed):
    """Share of the teacher - student-alone accuracy gap the distilled student closes."""

    student: str = Field(description="the distilled student")
    scratch: str = Field(description="the student trained alone")
    teacher_minus_scratch: Number = Field(description="accuracy gap, teacher - student alone")
    student_minus_scratch: Number = Field(description="accuracy gain, distilled - alone")
    share: Number = Field(description="null when the gap is too small to divide by")


class BiasCorrection(Closed):
    """hinton-omit: accuracy before and after correcting the omitted classes' bias."""

    student: str = Field(description="the student that never saw the omitted classes")
    omitted: list[int] = Field(description="the omitted classes")
    classes: dict[str, dict[str, Summary]] = Field(description="per omitted class: shift and class accuracies")
    accuracy_before: Summary = Field(description="test accuracy before the correction")
    accuracy_after: Summary = Field(description="after it")


class SweepBest(Closed):
    """The sweep's cell chosen on held-out (validation) accuracy."""

    temperature: float = Field(description="its temperature")
    alpha: float = Field(description="its alpha")
    student: str = Field(description="its student's name")
    accuracy: Number = Field(description="its test accuracy")
    chosen_on: str = Field(description="what it was chosen on")
    validation_accuracy: Number = Field(description="its held-out accuracy")


class ClassificationSweep(Closed):
    """kd-sweep: test accuracy over temperatures (rows) x alphas (columns)."""

    temperatures: list[float] = Field(description="the grid's rows")
    alphas: list[float] = Field(description="the grid's columns")
    accuracy_mean: list[list[Number]] = Field(description="test accuracy, mean over folds")
    accuracy_sem: list[list[Number]] = Field(description="its SEM")
    validation_mean: list[list[Number]] | None = Field(None, description="held-out (validation) accuracy, mean over folds")
    best: SweepBest | None = Field(None, description="the cell chosen on held-out accuracy")


class ChainLink(Closed):
    """One link of a teacher-assistant chain."""

    model: str = Field(description="the model's name")
    params: int = Field(description="its parameter count")
    accuracy: Summary = Field(description="its test accuracy")


class Chain(Closed):
    """nst-ta: a teacher -> assistants -> student chain, in order."""

    links: list[ChainLink] = Field(description="teacher first, student last")


class ClassificationResults(FoldRunResults):
    """protocol `classification`: hinton-digits, hinton-omit, kd-sweep, kd-zoo, nst-ta, subclass-digits."""

    task: Literal["classification"] = Field(description="always `classification`")  # the one task name of this protocol
    models: dict[str, ClassificationModel] = Field(description="every model and the majority baseline by name")
    classes: list[str] = Field(description="class names, in label order")
    data: ClassificationData = Field(description="the images used")
    confusion: dict[str, list[list[int]]] = Field(description="per model, test confusion counts (true x predicted)")
    per_class_accuracy: dict[str, list[Number]] = Field(description="per model, test accuracy per class")
    gap_recovered: dict[str, GapRecovered] | None = Field(
        None, description="per distilled student, where a student alone is comparable")
    subclass_recovery: dict[str, dict[str, Summary]] | None = Field(None, description="subclass-digits")
    bias_correction: dict[str, BiasCorrection] | None = Field(None, description="hinton-omit")
    sweep: ClassificationSweep | None = Field(None, description="kd-sweep")
    chains: list[Chain] | None = Field(None, description="nst-ta")
    distributed: dict[str, Any] | None = Field(None, description="`world_size` and `backend` under torchrun")


# ---- privileged information ------------------------------------------------------------------------------------
class CellGain(Closed):
    """Distilled minus alone on the headline metric, signed so that positive helps."""

    mean: Number = Field(description="positive: distillation helps")
    sem: Number = Field(description="SEM over folds")
    p_adjusted: Number = Field(description="Holm over every cell")


class PrivilegedCell(Closed):
    """One (horizon, training size) cell: its own protocol run over folds."""

    horizon: int = Field(description="rows ahead")
    train_size: int | None = Field(description="null: all the training rows")
    inputs: dict[str, dict[str, list[Any]]] = Field(description="teacher / student: rows and columns they read")
    samples: dict[str, list[int]] = Field(description="train / test sizes per fold")
    models: dict[str, ModelEntry] = Field(description="every model's scores in this cell")
    comparison: dict[str, Comparison] = Field(description="the cell's paired comparisons")
    gain: CellGain = Field(description="distilled - alone")
    flags: list[str] = Field(description="constant targets or outputs in this cell")
    verdict: Literal["helps", "hurts", "not distinguishable"] = Field(description="from distilled vs alone")


class PrivilegedSweep(Closed):
    """The lambda x temperature sweep of the cell that ran it."""

    horizon: int = Field(description="the cell's horizon")
    train_size: int | None = Field(description="the cell's training size")
    metric: str = Field(description="the metric of the grid")
    lam: list[float] = Field(description="the grid's columns")
    temperature: list[float] = Field(description="the grid's rows")
    grid: list[list[MeanSem]] = Field(description="temperature rows x lambda columns")
    teacher: Summary = Field(description="beside the grid")
    student_alone: Summary = Field(description="beside the grid")
    student_distilled: Summary = Field(description="beside the grid")


class PrivilegedData(Closed):
    """The series a privileged-information run used."""

    source: str = Field(description="where the series came from")
    rows: int = Field(description="rows of the series")
    columns: list[str] = Field(description="its columns")
    target: str = Field(description="the target column")
    input_length: int = Field(description="rows per input window")


class PrivilegedResults(RunResults):
    """protocol `privileged`: mackey-glass-pi, pm25-pi."""

    protocol: Literal["privileged"] = Field(description="always `privileged`")
    target: str = Field(description="the target's kind")
    metric: str = Field(description="the headline metric")
    higher_is_better: bool = Field(description="true for accuracy")
    data: PrivilegedData = Field(description="the series used")
    privileged: dict[str, Any] = Field(description="the `privileged` config section: what the teacher sees")
    cells: list[PrivilegedCell] = Field(description="one per horizon x training size")
    sweep: PrivilegedSweep | None = Field(description="null without a sweep")


# ---- lupi-synthetic ----------------------------------------------------------------------------------------------
class RepetitionSummary(Closed):
    """Accuracy over repetitions, in percent."""

    mean: Number = Field(description="mean over repetitions")
    sem: Number = Field(description="its SEM")
    std: Number = Field(description="standard deviation (as published)")
    per_repetition: list[Number] = Field(description="every repetition's accuracy")


class LupiCheck(Closed):
    """One experiment beside the published table."""

    difference: dict[str, Number] = Field(description="ours - published, per model")
    within_tolerance: bool = Field(description="every model within the tolerance of the published mean")
    published_ranking: list[str] = Field(description="the paper's order, best first")
    ranking: list[str] = Field(description="ours, best first")
    comparison: dict[str, Comparison] = Field(description="paired over repetitions, Holm over every experiment")
    ranking_verdict: Literal["supported", "contradicted", "not established"] = Field(
        description="`supported` only when every step is a distinguishable difference")


class LupiSweep(Closed):
    """The distilled model's accuracy over temperatures (rows) x lambdas (columns) in one experiment."""

    experiment: str = Field(description="the experiment swept")
    lam: list[float] = Field(description="the grid's columns")
    temperature: list[float] = Field(description="the grid's rows")
    distilled: list[list[MeanSem]] = Field(description="the distilled model's accuracy")
    privileged: MeanSem = Field(description="beside the grid")
    regular: MeanSem = Field(description="beside the grid")


class LupiResults(RunResults):
    """protocol `lupi-synthetic`: the four synthetic experiments of the LUPI paper."""

    protocol: Literal["lupi-synthetic"] = Field(description="always `lupi-synthetic`")
    accuracy_unit: Literal["percent"] = Field(description="accuracies are percentages")
    experiments: dict[str, dict[str, dict[Literal["accuracy"], RepetitionSummary]]] = Field(
        description="experiment -> privileged | regular | distilled -> accuracy")
    published: dict[str, dict[str, dict[str, float]]] = Field(description="the paper's mean and std")
    settings: dict[str, float | int] = Field(description="repetitions, sizes, lam, temperature, epochs, lr, seed")
    checks: dict[str, LupiCheck] = Field(description="per experiment, beside the published table")
    sweep: LupiSweep | None = Field(description="null without a sweep")


# ---- kd-zoo -------------------------------------------------------------------------------------------------
class ZooModel(Closed):
    """The teacher or one method's student, over seeds: test scores at the best (inner-validation) and last epoch."""

    method: str = Field(description="the distillation method (`teacher` for the teacher)")
    test_best_epoch: dict[str, Summary] = Field(description="accuracy, nll, macro_f1 at the best epoch's weights")
    test_last_epoch: dict[str, Summary] = Field(description="the same after the last epoch")
    best_epoch: Summary = Field(description="the epoch kept on inner validation")
    seconds_per_epoch: Summary = Field(description="wall time per epoch")
    cpu_seconds_per_epoch: Summary = Field(description="CPU time per epoch")
    params: int = Field(ge=0, description="parameters kept after training")
    training_only_params: int = Field(ge=0, description="a method's own learned parameters (adapters, critics)")


class ZooResults(RunResults):
    """protocol `kd-zoo`: the distillation catalogue side by side, paired over seeds."""

    protocol: Literal["kd-zoo"] = Field(description="always `kd-zoo`")
    seeds: int = Field(ge=1, description="seeds (each its own split and initialisation)")
    data: dict[str, Any] = Field(description="source, images, shape, `fixed_test` (the source's own test set, every "
                                 "seed's), rows per split")
    models: dict[str, ZooModel] = Field(description="the teacher and every method's student")
    comparison: dict[str, Comparison] = Field(description="every method against the student alone and KD, at the "
                                              "best and (`_last_epoch`) the last epoch")
    settings: dict[str, dict[str, Any]] = Field(description="every method's config entry")
    published: dict[str, float] = Field(description="published top-1 accuracy (%) by model name, from the config "
                                        "(empty: none); not measured here")
    published_source: str = Field(description="where the published numbers are from (empty: none)")


RESULTS: dict[str, type[RunResults]] = {"forecast": ForecastResults, "classification": ClassificationResults,
                                        "kd-zoo": ZooResults, "privileged": PrivilegedResults,
                                        "lupi-synthetic": LupiResults}


class ResultsContractError(ValueError):
    """results.json does not match its protocol's model: a bug in the protocol (not a user error)."""


def _path(location: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")


def validate_results(results: dict, protocol: str) -> RunResults:
    """Check `results` (as JSON would read them back: NaN as None) against `protocol`'s model; the model, or a
    `ResultsContractError` naming every bad key path, e.g. `models.teacher.test.accuracy.mean: ...`."""
    if protocol not in RESULTS:
        raise ResultsContractError(f"no results.json model for protocol {protocol!r}; known: {sorted(RESULTS)}")
    try:
        return RESULTS[protocol].model_validate(results)
    except ValidationError as error:
        problems = [f"{_path(item['loc'])}: {item['msg']}" + ("" if item["type"] == "missing"
                                                              else f" (got {str(item['input'])[:60]})")
                    for item in error.errors()]
        raise ResultsContractError(f"results.json of a {protocol} run breaks its contract "
                                   f"(distill.io.results_schema) at {len(problems)} key path(s): "
                                   + "; ".join(problems[:10])) from None

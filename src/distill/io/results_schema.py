"""The results.json contract: typed pydantic models of what every protocol writes, checked when a run is written.

results.json is the one record a run leaves for its report, its figures, `distill predict` and the user's own
scripts, and each protocol builds it as a nested dict. These models say what it holds: the parts every protocol
shares (`Summary` = core/stats.py `summarize`, `Comparison` = `paired_comparison` with its verdict, a model's
`test` / `train` scores and its measured cost, `checkpoints`) and one top level per protocol (`RESULTS`).
`validate_results` checks a run's results against its protocol's model; the run writer calls it just before it
writes results.json, so a run whose results break the contract is a bug that fails loudly with the key path,
and never a file a reader trips over later. docs/outputs.md is generated from these models
(`tools/gen_output_docs.py`; tests/test_docs.py fails when it is stale).

Sections that are stable forbid unknown keys, so a renamed key fails at once; sections still moving allow extra
keys (`Open`): the forecasting protocol's own parts (only its shared parts are typed) and free-form descriptions.
JSON has no NaN: an undefined number (an SEM over one fold, a p-value of identical differences) is null, so every
float that may be undefined is `float | None`.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["RESULTS", "ResultsContractError", "validate_results"]

Number = float | None  # null where NaN was computed (results_json writes NaN as null)


class Closed(BaseModel):
    """A stable section: every key is declared, an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    """A section still moving (or free-form): its declared keys are checked, other keys are kept unchecked."""

    model_config = ConfigDict(extra="allow", strict=True)


# ---- the shared parts -------------------------------------------------------------------------------------------
class Summary(Closed):
    """A score over folds (core/stats.py `summarize`): mean, standard error of the mean (ddof 1) and the folds."""

    mean: Number = Field(description="mean over folds")
    sem: Number = Field(description="standard error of the mean over folds (null with one fold)")
    per_fold: list[Number] = Field(description="the value of every fold, in fold order")


class MeanSem(Closed):
    """Mean and SEM only (sweep grids, a cell's gain), where the per-fold values are kept elsewhere."""

    mean: Number = Field(description="mean over folds or repetitions")
    sem: Number = Field(description="standard error of the mean")


class Comparison(Closed):
    """A paired comparison over folds (core/stats.py `paired_comparison` + `add_verdicts`): the per-fold differences
    `a - b` of one metric, their tests and the verdict, which speaks of the first model."""

    metric: str = Field(description="the metric compared (the headline table's)")
    difference: str = Field(description="`a - b`, the models compared")
    mean: Number = Field(description="mean of the per-fold differences")
    sem: Number = Field(description="SEM of the per-fold differences")
    per_fold: list[Number] = Field(description="the difference on every fold")
    ci95: list[Number] = Field(min_length=2, max_length=2, description="95% t interval of the mean difference")
    p_value: Number = Field(description="paired t-test (null when every fold's difference is the same)")
    sign_test_p: float = Field(description="exact sign test on the folds won")
    wins: int = Field(ge=0, description="folds on which the difference is negative")
    folds: int = Field(ge=1, description="folds compared")
    p_adjusted: Number = Field(description="Holm-adjusted over the run's comparisons")
    verdict: Literal["better", "worse", "not distinguishable"] = Field(
        description="named only at p_adjusted < 0.05")
    higher_is_better: bool | None = Field(None, description="set where the metric is a skill or an accuracy")
    best_baseline: str | None = Field(None, description="forecasting: the baseline chosen on inner validation")


class Checkpoint(Closed):
    """A saved model (io/checkpoints.py): how to rebuild it and its files, one per fold (+ the final fit)."""

    model: str = Field(description="registry name of the architecture")
    options: dict[str, Any] = Field(description="the architecture's options")
    input_shape: list[int] = Field(description="one example's input shape")
    outputs: int = Field(ge=1, description="output size")
    files: list[str] = Field(description="`models/<name>-fold<k>.pt`, fold order")
    fold_architectures: list[dict[str, Any]] | None = Field(None, description="per fold, when folds chose "
                                                            "different teachers")
    final: str | None = Field(None, description="`models/<name>-final.pt` with `train.final_fit`")
    final_architecture: dict[str, Any] | None = Field(None, description="the final model's, when it differs")


LatencyValue = float | bool | None


class ModelCost(Closed):
    """What every model entry of `models` holds beside its scores (core/protocol.py `summarize_protocol`): its
    measured cost, and for students their fidelity to the teacher."""

    kind: Literal["baseline"] | None = Field(None, description="`baseline` for an untrained forecasting baseline")
    params: int | None = Field(None, ge=0, description="parameter count, measured")
    flops: int | None = Field(None, ge=0, description="FLOPs per prediction, measured")
    bytes: int | None = Field(None, ge=0, description="parameter and buffer bytes")
    latency_ms: dict[str, LatencyValue] | None = Field(
        None, description="`batch{1,256}` median ms and their `_iqr`, `_noisy`, `_cpu`, `_cpu_share`, `_speedup*`")
    validation: dict[str, Summary] | None = Field(None, description="scores on the inner validation windows")
    fidelity_to_teacher: dict[str, Summary] | None = Field(None, description="students: agreement with the teacher")


class ModelEntry(ModelCost):
    """A model whose scores are any metrics, each a `Summary` over folds (the privileged protocol's cells)."""

    test: dict[str, Summary] = Field(description="scores on the test folds, by metric")
    train: dict[str, Summary] | None = Field(None, description="scores on the training folds, by metric")


Curve = dict[str, Any]  # one fold's learning curves: `epoch`, `train`, `test` (+ `val`, accuracies, best epoch)


class RunResults(Closed):
    """The top level every protocol shares."""

    recipe: str = Field(description="the recipe's name")
    notes: list[str] = Field(description="notes on the protocol; every leak and flag named")
    checkpoints: dict[str, Checkpoint] | None = Field(None, description="every saved model by name "
                                                      "(`<cell>/<name>` in runs of several protocol runs)")


class FoldRunResults(RunResults):
    """The top level of the protocols built on core/protocol.py (forecasting and classification)."""

    task: str = Field(description="the task's name")
    folds: int = Field(ge=1, description="folds (or rolling-origin blocks) scored")
    comparison: dict[str, Comparison] = Field(description="`<a>_vs_<b>`: paired comparisons over folds")
    curves: dict[str, list[Curve]] = Field(description="per trained model, per fold: the learning curves")
    teacher_for_students: list[str] = Field(description="per fold, which fold's teacher taught its students")


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
    data: dict[str, Any] = Field(description="source, series, rows, windows, `unit`, `fold_windows`, `oracle`")
    best_baseline: BestBaseline = Field(description="the strongest baseline, chosen on inner validation")
    auto_ets: dict[str, Any] = Field(description="`ran`, `note` and, when it ran, the forms chosen and fit times")
    teacher_choice: list[str] = Field(description="per fold, the teacher architecture used")
    scalings: list[str] | None = Field(None, description="`models/scaling-fold<k>.json`")
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
    data: dict[str, Any] = Field(description="source, images, shape, rows per split")
    models: dict[str, ZooModel] = Field(description="the teacher and every method's student")
    comparison: dict[str, Comparison] = Field(description="every method against the student alone and KD, at the "
                                              "best and (`_last_epoch`) the last epoch")
    settings: dict[str, dict[str, Any]] = Field(description="every method's config entry")


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

"""The parts of the results.json contract every protocol shares (distill.io.results_schema puts them together per
protocol): a score over folds (`Summary`, core/stats.py `summarize`), a paired comparison with its verdict
(`Comparison`), a saved model (`Checkpoint`), a model's measured cost and scores, and the top level every run has.

`Closed` sections are stable and refuse unknown keys, so a renamed key fails at once; `Open` sections are still
moving (or free-form) and keep extra keys unchecked. JSON has no NaN: an undefined number (an SEM over one fold, a
p-value of identical differences) is null, so every float that may be undefined is `Number`, `float | None`.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Number = float | None  # null where NaN was computed (results_json writes NaN as null)


class Closed(BaseModel):
    """A stable section: every key is declared, an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    """A section still moving (or free-form): its declared keys are checked, other keys are kept unchecked."""

    model_config = ConfigDict(extra="allow", strict=True)


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
    curves: dict[str, list[Curve]] = Field(description="per trained model, per fold: the learning curves (a distilled "
                                           "student's also its named loss terms per epoch: loss_hard, loss_kd, ...)")
    teacher_for_students: list[str] = Field(description="per fold, which fold's teacher taught its students")

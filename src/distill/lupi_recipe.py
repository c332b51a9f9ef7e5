"""The `lupi-synthetic` recipe: the four synthetic experiments of Lopez-Paz et al. 2016, beside their numbers.

`distill.lupi` does the work (all repetitions of an experiment trained as one batch); this module is the
protocol around it: config schema, the checks against the published table (computed, not typed), an
optional lambda x T sweep of the distilled student, and the outputs (figures, config.yaml, report.md, then
results.json last, each written atomically).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from distill.config import Section, config_to_yaml
from distill.lupi import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    EXPERIMENTS,
    MODELS,
    accuracy,
    fit_linear_softmax,
    fit_privileged_and_regular,
    make_batch,
    map_in_threads,
    run_lupi_synthetic,
    summarise,
    torch_threads,
)
from distill.privileged_config import GeneralizedDistillation, LambdaTemperatureGrid
from distill.privileged_figures import plot_lambda_temperature, plot_lupi_bars
from distill.report import markdown_table, results_json, text_table, write_atomic

Experiment = Literal["clean_labels", "clean_features", "relevant_features", "sample_dependent"]
TOLERANCE = 2.0  # percentage points: the target for experiments 1 and 3
REPRODUCE = ("clean_labels", "relevant_features")  # published accuracies to match within TOLERANCE
ORDERED = ("clean_features", "sample_dependent")  # published orderings of the three models to match


class SyntheticSettings(Section):
    """The experiments' sizes and training, as in the authors' code (d = 50, 200 train, 1000 test points)."""

    repetitions: int = Field(100, ge=1)
    train_size: int = Field(200, ge=2)
    test_size: int = Field(1000, ge=1)
    dim: int = Field(50, ge=3)
    epochs: int = Field(1000, ge=1)
    lr: float = Field(DEFAULT_LR, gt=0)
    batch_size: int = Field(DEFAULT_BATCH_SIZE, ge=1)
    experiments: list[Experiment] = Field(default_factory=lambda: list(EXPERIMENTS), min_length=1)


class LupiSweep(LambdaTemperatureGrid):
    """A lambda x T grid of distilled students on one experiment (teacher and regular model trained once)."""

    experiment: Experiment = "clean_labels"


class LupiConfig(Section):
    """Lopez-Paz et al. 2016, section 5: privileged / regular / distilled logistic regression."""

    protocol: Literal["lupi-synthetic"] = "lupi-synthetic"
    name: str
    description: str = ""
    seed: int = 0
    synthetic: SyntheticSettings = Field(default_factory=SyntheticSettings)
    distill: GeneralizedDistillation = Field(default_factory=GeneralizedDistillation)
    sweep: LupiSweep | None = None


def paired_difference(a: list[float], b: list[float]) -> dict:
    """Mean and SEM of the per-repetition differences a - b (same data sets, so paired)."""
    summary = summarise(np.asarray(a) - np.asarray(b))
    return {"mean": summary["mean"], "sem": summary["sem"]}


def ranking(scores: dict[str, float]) -> list[str]:
    """Model names from the highest score to the lowest."""
    return sorted(scores, key=scores.__getitem__, reverse=True)


def published_checks(experiments: dict, published: dict) -> dict:
    """Per experiment: ours - published per model, whether all are within TOLERANCE, and both rankings."""
    checks = {}
    for name, models in experiments.items():
        ours = {model: models[model]["accuracy"]["mean"] for model in MODELS}
        theirs = {model: published[name][model]["mean"] for model in MODELS}
        checks[name] = {"difference": {model: ours[model] - theirs[model] for model in MODELS},
                        "within_tolerance": all(abs(ours[m] - theirs[m]) <= TOLERANCE for m in MODELS),
                        "ranking": ranking(ours), "published_ranking": ranking(theirs),
                        "distilled_minus_regular": paired_difference(
                            models["distilled"]["accuracy"]["per_repetition"],
                            models["regular"]["accuracy"]["per_repetition"])}
    return checks


def run_sweep(config: LupiConfig) -> dict:
    """Distilled test accuracy (percent, mean and SEM over repetitions) on a temperature x lambda grid."""
    settings, sweep = config.synthetic, config.sweep
    with torch_threads(1):
        batch = make_batch(sweep.experiment, settings.repetitions, dim=settings.dim,
                           train_size=settings.train_size, test_size=settings.test_size, seed=config.seed)
        train = {"epochs": settings.epochs, "lr": settings.lr, "batch_size": settings.batch_size}
        teacher, regular = fit_privileged_and_regular(batch, **train)
    teacher_logits = teacher.logits(batch.privileged_train)  # (reps, classes, n)

    def distilled_accuracy(cell: tuple[float, float]) -> dict:
        temperature, lam = cell
        student = fit_linear_softmax(batch.regular_train, batch.labels_train, batch.inits["distilled"],
                                     shuffle_seeds=batch.shuffle_seeds,
                                     soft_targets=torch.softmax(teacher_logits / temperature, dim=1), lam=lam,
                                     temperature=temperature, **train)
        scores = summarise(accuracy(student.logits(batch.regular_test), batch.labels_test))
        return {"mean": scores["mean"], "sem": scores["sem"]}

    cells = [(temperature, lam) for temperature in sweep.temperature for lam in sweep.lam]
    scores = iter(map_in_threads(distilled_accuracy, cells))
    grid = [[next(scores) for _ in sweep.lam] for _ in sweep.temperature]
    reference = {"privileged": accuracy(teacher.logits(batch.privileged_test), batch.labels_test),
                 "regular": accuracy(regular.logits(batch.regular_test), batch.labels_test)}
    return {"experiment": sweep.experiment, "lam": sweep.lam, "temperature": sweep.temperature,
            "distilled": grid, **{name: {key: summarise(values)[key] for key in ("mean", "sem")}
                                  for name, values in reference.items()}}


def run_lupi(config: LupiConfig) -> dict:
    """Run the experiments (and the sweep, if any); return the results.json content."""
    settings = config.synthetic
    result = run_lupi_synthetic(repetitions=settings.repetitions, train_size=settings.train_size,
                                test_size=settings.test_size, dim=settings.dim, lam=config.distill.lam,
                                temperature=config.distill.temperature, epochs=settings.epochs, lr=settings.lr,
                                batch_size=settings.batch_size, seed=config.seed, experiments=settings.experiments)
    return {"recipe": config.name, "protocol": config.protocol, "accuracy_unit": "percent", **result,
            "checks": published_checks(result["experiments"], result["published"]),
            "sweep": run_sweep(config) if config.sweep is not None else None, "notes": lupi_notes()}


def lupi_notes() -> list[str]:
    """Plain-language notes on the setup and on reading the table."""
    return [
        "Published +- are standard deviations over 100 repetitions; ours are standard errors of the mean "
        "(SEM, std / sqrt(repetitions)), with the std alongside.",
        "Every model is a 2-output linear softmax (logistic regression) with no weight penalty, trained as the "
        "authors' Keras 0.x code trains it: shuffled mini-batches, Keras' RMSprop (epsilon inside the square "
        "root) and Keras' clipped cross-entropy; inputs are standardised with training-set statistics. Without "
        "a penalty the separable problem of relevant_features has no finite optimum, so these optimiser details "
        "set how confident the teacher's soft labels become (see `distill.lupi`).",
        "sample_dependent: as in the authors' code, the 3 privileged coordinates are drawn anew for every data "
        "set generated, so the training set and the test set use different coordinates. A model of the regular "
        "inputs learns the training set's coordinates, which say nothing about the test labels: regular and "
        "distilled students sit at chance (50%) whatever the teacher does; only the teacher, which is given "
        "the right coordinates of each set, does well.",
        "clean_features: the student sees x + noise; a teacher on the clean x cannot remove that noise from "
        "the student's inputs, so its soft labels add little over the hard labels.",
    ]


def _pct(summary: dict) -> str:
    return f"{summary['mean']:.2f} +- {summary['sem']:.2f}"


def lupi_table(results: dict) -> list[list[str]]:
    """Rows: experiment, model, ours mean +- SEM, ours std, published mean +- std, ours - published."""
    rows = [["experiment", "model", "ours (mean +- SEM)", "ours std", "published (mean +- std)", "ours - published"]]
    for name, models in results["experiments"].items():
        for model in MODELS:
            ours, theirs = models[model]["accuracy"], results["published"][name][model]
            rows.append([name, model, _pct(ours), f"{ours['std']:.2f}", f"{theirs['mean']:.0f} +- {theirs['std']:.0f}",
                         f"{ours['mean'] - theirs['mean']:+.2f}"])
    return rows


def check_lines(checks: dict) -> list[str]:
    """One sentence per experiment, from the numbers: tolerance for experiments 1 and 3, ranking for 2 and 4."""
    lines = []
    for name, check in checks.items():
        gap = check["distilled_minus_regular"]
        paired = (f"distilled - regular = {gap['mean']:+.2f} +- {gap['sem']:.2f} points (paired over "
                  f"repetitions; {'more' if abs(gap['mean']) > gap['sem'] else 'not more'} than its SEM)")
        if name in REPRODUCE:
            worst = max(check["difference"].items(), key=lambda item: abs(item[1]))
            verdict = "within" if check["within_tolerance"] else "NOT within"
            lines.append(f"{name}: {verdict} {TOLERANCE:g} points of the published accuracies for all three "
                         f"models (largest gap: {worst[0]} {worst[1]:+.2f}); {paired}.")
        else:
            same = check["ranking"] == check["published_ranking"]
            lines.append(f"{name}: ranking {' > '.join(check['ranking'])} "
                         f"{'matches' if same else 'differs from'} the published "
                         f"{' > '.join(check['published_ranking'])}; {paired}.")
    return lines


def sweep_means(sweep: dict) -> list[list[float]]:
    return [[cell["mean"] for cell in row] for row in sweep["distilled"]]


def lupi_markdown(results: dict, config: LupiConfig, figures: dict[str, str]) -> str:
    """report.md: table beside the published numbers, computed checks, sweep, notes, figures."""
    settings = results["settings"]
    parts = [f"# {config.name}: generalized distillation on synthetic data (Lopez-Paz et al. 2016)",
             config.description,
             f"{settings['repetitions']} repetitions, d = {settings['dim']}, {settings['train_size']} training and "
             f"{settings['test_size']} test points, lambda = {settings['lam']:g}, T = {settings['temperature']:g}, "
             f"{settings['epochs']} epochs of Keras-style RMSprop at lr {settings['lr']:g} on mini-batches of "
             f"{settings['batch_size']}, seed {settings['seed']}.",
             "## Test accuracy (%)", markdown_table(lupi_table(results)),
             "## Beside the published table (computed)", "\n".join(f"- {line}" for line in check_lines(results["checks"]))]
    sweep = results["sweep"]
    if sweep is not None:
        best = np.unravel_index(np.nanargmax(sweep_means(sweep)), (len(sweep["temperature"]), len(sweep["lam"])))
        cell = sweep["distilled"][best[0]][best[1]]
        parts += [f"## lambda x T sweep ({sweep['experiment']})",
                  f"Best distilled accuracy {_pct(cell)} at lambda = {sweep['lam'][best[1]]:g}, "
                  f"T = {sweep['temperature'][best[0]]:g}; privileged teacher {_pct(sweep['privileged'])}, "
                  f"regular {_pct(sweep['regular'])}. The best cell is chosen on the test sets it is scored on, "
                  "so its score is optimistic."]
    parts += ["## Notes", "\n".join(f"- {note}" for note in results["notes"]), "## Figures"]
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_figures(results: dict, out_dir: Path) -> dict[str, str]:
    figures = {"Test accuracy beside the published means": plot_lupi_bars(
        results["experiments"], results["published"], MODELS, out_dir / "accuracy.png").name}
    sweep = results["sweep"]
    if sweep is not None:
        title = (f"{sweep['experiment']}: distilled test accuracy (%); teacher {sweep['privileged']['mean']:.1f}, "
                 f"regular {sweep['regular']['mean']:.1f}")
        figures["lambda x T sweep"] = plot_lambda_temperature(sweep_means(sweep), sweep["lam"], sweep["temperature"],
                                                              title, "accuracy (%)", out_dir / "sweep.png").name
    return figures


def execute(config: LupiConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write the recipe: figures, config.yaml, report.md, then results.json; return the summary."""
    results = run_lupi(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = write_figures(results, out_dir)
    write_atomic(out_dir / "config.yaml", config_to_yaml(config))
    write_atomic(out_dir / "report.md", lupi_markdown(results, config, figures))
    write_atomic(out_dir / "results.json", results_json(results))
    return "\n".join([text_table(lupi_table(results)), "", *check_lines(results["checks"]),
                      f"report: {out_dir / 'report.md'}"])

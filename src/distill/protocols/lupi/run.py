"""The `lupi-synthetic` recipe: the four synthetic experiments of Lopez-Paz et al. 2016, beside their numbers.

`experiments` draws the problems and `trainer` trains them (all repetitions of an experiment as one batch, as
the authors' Keras code does; see its docstring for why this protocol keeps its own trainer); this module is
the protocol around them: the checks against the published table (computed, not typed), an optional
lambda x T sweep of the distilled student, and the outputs through the shared run writer.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from distill.config import ModelSpec
from distill.core.stats import add_verdicts, paired_comparison
from distill.io.run_writer import RunOutput, TrainedModels, write_run
from distill.io.tables import text_table
from distill.models import build_model
from distill.protocols.lupi.config import LupiConfig
from distill.protocols.lupi.experiments import (
    MODELS,
    TOLERANCE,
    accuracy,
    fit_privileged_and_regular,
    make_batch,
    map_in_threads,
    run_lupi_synthetic,
    summarise,
    torch_threads,
)
from distill.protocols.lupi.figures import lupi_figures
from distill.protocols.lupi.report import check_lines, lupi_markdown, lupi_notes, lupi_table
from distill.protocols.lupi.trainer import LinearSoftmax, fit_linear_softmax

LINEAR = {"hidden": []}  # a registry MLP without hidden layers: the 2-output linear softmax the experiments train


PAIRS = (("distilled", "regular"), ("privileged", "regular"), ("privileged", "distilled"))


def ranking(scores: dict[str, float]) -> list[str]:
    """Model names from the highest score to the lowest."""
    return sorted(scores, key=scores.__getitem__, reverse=True)


def pair_verdict(comparison: dict, higher: str, lower: str) -> str:
    """'better' when `higher` is distinguishably more accurate than `lower`, 'worse' when less, else
    'not distinguishable'."""
    entry = comparison.get(f"{higher}_vs_{lower}")
    if entry is not None:
        return entry["verdict"]
    flipped = comparison[f"{lower}_vs_{higher}"]["verdict"]
    return {"better": "worse", "worse": "better"}.get(flipped, flipped)


def ranking_verdict(check: dict) -> str:
    """Whether our repetitions support the published ranking: 'supported' when every step of it is a
    distinguishable difference in its direction, 'contradicted' when a step is distinguishable the other way,
    else 'not established'."""
    published = check["published_ranking"]
    steps = [pair_verdict(check["comparison"], a, b) for a, b in zip(published, published[1:])]
    if "worse" in steps:
        return "contradicted"
    return "supported" if all(step == "better" for step in steps) else "not established"


def published_checks(experiments: dict, published: dict) -> dict:
    """Per experiment: ours - published per model, whether all are within TOLERANCE, both rankings, and the
    paired comparisons of the three models over repetitions (Holm-corrected over every experiment's comparisons
    together; higher accuracy is better) with whether they support the published ranking."""
    checks = {}
    for name, models in experiments.items():
        ours = {model: models[model]["accuracy"]["mean"] for model in MODELS}
        theirs = {model: published[name][model]["mean"] for model in MODELS}
        per_repetition = {model: models[model]["accuracy"]["per_repetition"] for model in MODELS}
        checks[name] = {"difference": {model: ours[model] - theirs[model] for model in MODELS},
                        "within_tolerance": all(abs(ours[m] - theirs[m]) <= TOLERANCE for m in MODELS),
                        "ranking": ranking(ours), "published_ranking": ranking(theirs),
                        "comparison": {f"{a}_vs_{b}": paired_comparison(per_repetition[a], per_repetition[b], a, b,
                                                                        "accuracy") for a, b in PAIRS}}
    add_verdicts({(name, key): entry for name, check in checks.items() for key, entry in check["comparison"].items()},
                 lower_is_better=False)
    for check in checks.values():
        check["ranking_verdict"] = ranking_verdict(check)
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

    cells = [(temperature, lam) for temperature in sweep.temperature for lam in sweep.alpha]
    scores = iter(map_in_threads(distilled_accuracy, cells))
    grid = [[next(scores) for _ in sweep.alpha] for _ in sweep.temperature]
    reference = {"privileged": accuracy(teacher.logits(batch.privileged_test), batch.labels_test),
                 "regular": accuracy(regular.logits(batch.regular_test), batch.labels_test)}
    return {"experiment": sweep.experiment, "lam": sweep.alpha, "temperature": sweep.temperature,
            "distilled": grid, **{name: {key: summarise(values)[key] for key in ("mean", "sem")}
                                  for name, values in reference.items()}}


def as_modules(models: LinearSoftmax) -> list[nn.Module]:
    """Each repetition's linear softmax as the registry's logistic regression (`mlp` with `hidden: []`), which
    reads one standardised example (d,) and returns its 2 logits."""
    modules = []
    for weight, bias in zip(models.weight, models.bias):  # weight (classes, d), bias (classes, 1)
        module = build_model("mlp", (weight.shape[1],), weight.shape[0], **LINEAR)
        module.head.load_state_dict({"weight": weight.detach().clone(), "bias": bias[:, 0].detach().clone()})
        modules.append(module.eval())
    return modules


def trained_models(trained: dict[str, dict[str, LinearSoftmax]]) -> list[TrainedModels]:
    """Every experiment's models for the run writer: `models/<experiment>/<model>-fold<r>.pt`, one file per
    repetition r (the repetitions play the part of folds)."""
    saved = []
    for experiment, models in trained.items():
        modules = {name: as_modules(batch) for name, batch in models.items()}
        per_repetition = [dict(zip(modules, fold)) for fold in zip(*modules.values())]
        saved.append(TrainedModels(per_repetition, {name: ModelSpec(model="mlp", options=LINEAR) for name in modules},
                                   {name: (batch.weight.shape[2],) for name, batch in models.items()},
                                   folder=f"models/{experiment}", prefix=f"{experiment}/"))
    return saved


def run_lupi(config: LupiConfig, trained: dict[str, dict[str, LinearSoftmax]] | None = None) -> dict:
    """Run the experiments (and the sweep, if any); return the results.json content. With `trained` given,
    each experiment's trained models are put there."""
    settings = config.synthetic
    result = run_lupi_synthetic(repetitions=settings.repetitions, train_size=settings.train_size,
                                test_size=settings.test_size, dim=settings.dim, lam=config.distill.alpha,
                                temperature=config.distill.temperature, epochs=settings.epochs, lr=settings.lr,
                                batch_size=settings.batch_size, seed=config.seed, experiments=settings.experiments,
                                trained=trained)
    return {"recipe": config.name, "protocol": config.protocol, "accuracy_unit": "percent", **result,
            "checks": published_checks(result["experiments"], result["published"]),
            "sweep": run_sweep(config) if config.sweep is not None else None, "notes": lupi_notes()}


def execute(config: LupiConfig, out_dir: Path, show_progress: bool | None = None) -> str:
    """Run and write the recipe: figures, config.yaml, report.md, then results.json; return the summary."""
    trained: dict[str, dict[str, LinearSoftmax]] = {}
    results = run_lupi(config, trained)
    output = RunOutput(results=results, figures=lambda folder: lupi_figures(results, folder),
                       report=lambda figures: lupi_markdown(results, config, figures),
                       summary=[text_table(lupi_table(results)), "", *check_lines(results["checks"])],
                       trained=trained_models(trained))
    return write_run(output, config, out_dir)

"""report.md of the `lupi-synthetic` recipe: the accuracy table beside the published one, the computed checks."""
from __future__ import annotations

import math

import numpy as np

from distill.io.tables import markdown_table
from distill.protocols.lupi.config import LupiConfig
from distill.protocols.lupi.experiments import MODELS, REPRODUCE, TOLERANCE


def lupi_notes() -> list[str]:
    """Plain-language notes on the setup and on reading the table."""
    return [
        "Published +- are standard deviations over 100 repetitions; ours are standard errors of the mean "
        "(SEM, std / sqrt(repetitions)), with the std alongside. Accuracies are in percent.",
        "Two models are called better / worse only when their paired t-test over repetitions gives p < 0.05 after "
        "Holm's correction over the three comparisons of every experiment together; otherwise not distinguishable.",
        "Every model is a 2-output linear softmax (logistic regression) with no weight penalty, trained as the "
        "authors' Keras 0.x code trains it: shuffled mini-batches, Keras' RMSprop (epsilon inside the square "
        "root) and Keras' clipped cross-entropy; inputs are standardised with training-set statistics. Without "
        "a penalty the separable problem of relevant_features has no finite optimum, so these optimiser details "
        "set how confident the teacher's soft labels become (see `distill.protocols.lupi.trainer`).",
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


def _holm(entry: dict) -> str:
    p_value = entry["p_adjusted"]
    return "n/a" if p_value is None or math.isnan(p_value) else f"{p_value:.3g}"


def check_lines(checks: dict) -> list[str]:
    """One sentence per experiment, from the numbers: tolerance for experiments 1 and 3, ranking for 2 and 4;
    a ranking 'matches' only when each of its steps is a distinguishable paired difference (Holm p < 0.05)."""
    lines = []
    for name, check in checks.items():
        gap = check["comparison"]["distilled_vs_regular"]
        named = {"better": "better than", "worse": "worse than"}.get(gap["verdict"], "not distinguishable from")
        paired = (f"distilled - regular = {gap['mean']:+.2f} +- {gap['sem']:.2f} points (SEM, paired over "
                  f"repetitions): distilled is {named} regular (Holm p = {_holm(gap)})")
        if name in REPRODUCE:
            worst = max(check["difference"].items(), key=lambda item: abs(item[1]))
            verdict = "within" if check["within_tolerance"] else "NOT within"
            lines.append(f"{name}: {verdict} {TOLERANCE:g} points of the published accuracies for all three "
                         f"models (largest gap: {worst[0]} {worst[1]:+.2f}); {paired}.")
            continue
        published = " > ".join(check["published_ranking"])
        if check["ranking_verdict"] == "supported":
            ranked = f"ranking {' > '.join(check['ranking'])} matches the published {published} (every step p < 0.05)"
        elif check["ranking_verdict"] == "contradicted":
            ranked = f"ranking {' > '.join(check['ranking'])} contradicts the published {published}"
        else:
            steps = [f"{a} vs {b}: Holm p = {_holm(_entry(check, a, b))}"
                     for a, b in zip(check["published_ranking"], check["published_ranking"][1:])]
            ranked = (f"the published ranking {published} is not established by our repetitions (mean ranking "
                      f"{' > '.join(check['ranking'])}; {', '.join(steps)})")
        lines.append(f"{name}: {ranked}; {paired}.")
    return lines


def _entry(check: dict, a: str, b: str) -> dict:
    return check["comparison"].get(f"{a}_vs_{b}") or check["comparison"][f"{b}_vs_{a}"]


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
    parts += ["## Notes", "\n".join(f"- {note}" for note in results["notes"])]
    if results.get("checkpoints"):
        parts += ["## Trained models", "Every repetition's privileged, regular and distilled model is saved as "
                  "`models/<experiment>/<model>-fold<r>.pt` (r = repetition) and named `<experiment>/<model>` in "
                  "results.json `checkpoints`: a registry `mlp` without hidden layers that reads one example "
                  "standardised with its repetition's training statistics (not saved; the data are regenerated "
                  "from the seed)."]
    parts.append("## Figures")
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"


def sweep_means(sweep: dict) -> list[list[float]]:
    return [[cell["mean"] for cell in row] for row in sweep["distilled"]]

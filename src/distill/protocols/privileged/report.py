"""Outputs of the `privileged` protocol: report.md (a table per horizon and training size, where the privileged
teacher helps the student - computed from the numbers), figures, config.yaml, then results.json last."""
from __future__ import annotations

import math

import numpy as np

from distill.io.tables import fixed, format_mean_sem, markdown_table, sem_caption, verdict_line
from distill.protocols.privileged.config import ALONE, PrivilegedConfig

DIGITS = 4


def main_models(cell: dict) -> list[str]:
    """Teacher, the two students and the baseline (the sweep's students are left to the heat map)."""
    return [name for name in cell["models"] if not name.startswith("distilled_lam")]


def size_text(size: int | None) -> str:
    return "all" if size is None else str(size)


def cell_table(results: dict) -> list[list[str]]:
    """One row per (horizon, training size): every model's test metric, the gain and the verdict."""
    metric = results["metric"]
    models = main_models(results["cells"][0])
    rows = [["horizon", "train size", *models, "distilled - alone" if metric == "accuracy" else "alone - distilled",
             "verdict"]]
    for cell in results["cells"]:
        scores = [format_mean_sem(cell["models"][name]["test"][metric], DIGITS) for name in models]
        rows.append([str(cell["horizon"]), size_text(cell["train_size"]), *scores,
                     format_mean_sem(cell["gain"], DIGITS), f"{cell['verdict']} (Holm p = {_p(cell['gain'])})"])
    return rows


def _p(gain: dict) -> str:
    p_value = gain.get("p_adjusted")
    return "n/a" if p_value is None or math.isnan(p_value) else f"{p_value:.3g}"


def metric_label(metric: str) -> str:
    """The headline metric with its unit, for axis labels."""
    return "accuracy (fraction)" if metric == "accuracy" else f"{metric} (scaled units)"


def units(results: dict) -> str:
    """The units of the headline metric."""
    if results["metric"] == "accuracy":
        return "accuracy is a fraction (0 to 1)"
    return "mse is in scaled units (the fold's MinMax range of the target squared)"


def _cells_text(cells: list[dict]) -> str:
    return ", ".join(f"k = {c['horizon']} / n = {size_text(c['train_size'])} "
                     f"({fixed(c['gain']['mean'], DIGITS, sign=True)} +- {fixed(c['gain']['sem'], DIGITS)}, "
                     f"Holm p = {_p(c['gain'])})"
                     for c in cells)


def helps_lines(results: dict) -> list[str]:
    """Where the distilled student beats the student alone: paired t-test over folds, p < 0.05 after Holm's
    correction over every comparison of the report."""
    lines = []
    for outcome, wording in (("helps", "helps the student"), ("hurts", "hurts the student"),
                             ("not distinguishable", "makes no distinguishable difference")):
        cells = [cell for cell in results["cells"] if cell["verdict"] == outcome]
        if cells:
            lines.append(f"The privileged teacher {wording} at {_cells_text(cells)}.")
        else:
            lines.append(f"No (horizon, training size) cell where the privileged teacher {wording}.")
    return lines


def time_text(row: int) -> str:
    """A row relative to the anchor: t, t-3, t+5."""
    return f"t{row:+d}" if row else "t"


def inputs_lines(results: dict) -> list[str]:
    """What student and teacher read at each horizon (rows relative to the anchor time t)."""
    seen = {}
    for cell in results["cells"]:
        seen.setdefault(cell["horizon"], cell["inputs"])
    lines = []
    for horizon, inputs in seen.items():
        student, teacher = inputs["student"], inputs["teacher"]
        lines.append(f"k = {horizon}: student rows {time_text(student['rows'][0])}..{time_text(student['rows'][-1])} "
                     f"of {', '.join(student['columns'])}; teacher rows "
                     f"{', '.join(map(time_text, teacher['rows']))} of {', '.join(teacher['columns'])}")
    return lines


def sweep_lines(sweep: dict, higher_is_better: bool) -> list[str]:
    means = np.array([[cell["mean"] for cell in row] for row in sweep["grid"]])
    best = np.unravel_index(np.nanargmax(means) if higher_is_better else np.nanargmin(means), means.shape)
    metric = sweep["metric"]
    return [f"At horizon {sweep['horizon']}, training size {size_text(sweep['train_size'])}: best distilled test "
            f"{metric} {format_mean_sem(sweep['grid'][best[0]][best[1]], DIGITS)} at lambda = "
            f"{sweep['lam'][best[1]]:g}, T = {sweep['temperature'][best[0]]:g}; student alone "
            f"{format_mean_sem(sweep[ALONE], DIGITS)}, teacher {format_mean_sem(sweep['teacher'], DIGITS)}. "
            "The best cell is chosen on the same test folds it is scored on, so its score is optimistic."]


def privileged_markdown(results: dict, config: PrivilegedConfig, figures: dict[str, str]) -> str:
    data, metric = results["data"], results["metric"]
    privileged = results["privileged"]
    parts = [f"# {config.name}: privileged teacher -> student, {config.cv.folds}-fold {config.cv.split} "
             "cross-validation", config.description,
             f"Data: {data['source']}; {data['rows']} rows, target `{data['target']}` "
             f"({results['target']} at horizon k), {data['input_length']} input rows. Privileged: "
             f"{privileged['kind']}; the teacher sees {privileged['teacher_sees']} of its inputs. "
             f"Distillation: alpha (lambda) = {config.distill.alpha:g}, T = {config.distill.temperature:g}.",
             "## What each model reads", "\n".join(f"- {line}" for line in inputs_lines(results)),
             f"## Test {metric} (mean +- SEM over folds; scored on the truth)", markdown_table(cell_table(results)),
             sem_caption(config.cv.folds, units(results)) + " The gain column is the paired per-fold difference "
             "between the distilled student and the student alone (same model, lambda = 0), signed so that "
             "positive is better; 'helps' / 'hurts' means its paired t-test gives p < 0.05 after Holm's correction "
             "over every comparison below, otherwise 'not distinguishable'.",
             "## Where the privileged teacher helps (computed)", "\n".join(f"- {line}" for line in helps_lines(results)),
             "## Paired comparisons (same folds)",
             "\n".join(f"- k = {cell['horizon']} / n = {size_text(cell['train_size'])}: {verdict_line(entry)}"
                       for cell in results["cells"] for entry in cell["comparison"].values())]
    if results["sweep"] is not None:
        parts += ["## lambda x T sweep", "\n".join(sweep_lines(results["sweep"], results["higher_is_better"]))]
    parts += ["## Notes on the protocol", "\n".join(f"- {note}" for note in results["notes"])]
    if results.get("checkpoints"):
        example = next(iter(results["checkpoints"]))
        parts += ["## Trained models", "Every cell's fold models are saved as `models/<cell>/<name>-fold<k>.pt` (cell = "
                  f"h<horizon>-n<training size>); results.json `checkpoints` names them `<cell>/<name>`, and "
                  f"`distill.checkpoints.load_model(run_dir, {example!r}, fold)` rebuilds one."]
    parts.append("## Figures")
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"


def privileged_notes(config: PrivilegedConfig) -> list[str]:
    """Plain-language notes on what each model sees and how it is scored."""
    cv, privileged = config.cv, config.privileged
    notes = ["Students never read a privileged cell: their inputs are the rows t - input_length + 1 .. t of the "
             "target and data.features only (tested by perturbing every privileged value).",
             "The teacher is scored with its privileged inputs on the test samples too: a reference of what is "
             "reachable if the future (or the missing sensors) were known, not a model that could be deployed.",
             "Every model is scored against the true test targets; agreement with the teacher is reported "
             "separately as fidelity_to_teacher.",
             "Training size n: the n training samples of a fold closest in time to its test block (a short stretch "
             "of history), after the purge; the scaler of each fold is fitted on the rows those samples read."]
    if cv.split == "blocked":
        notes.append("Blocked folds with a purge gap: no row a test sample reads (inputs, privileged rows, target) "
                     "is read by any training sample.")
    else:
        notes.append("LEAK: shuffled folds over overlapping samples - test samples share rows with training "
                     "samples (use cv.split: blocked).")
    if privileged.teacher_sees == "privileged":
        notes.append("The teacher sees the privileged cells only, not the student's inputs (as in Lopez-Paz et al.).")
    if config.target.inputs == "changes":
        notes.append("Inputs are encoded as changes from row t (row t kept as is), standardised with training "
                     "statistics: an invertible linear re-encoding of the same values (same information, same "
                     "linear model class) that Adam fits in far fewer steps than nearly collinear lagged values.")
    if config.target.kind == "value":
        notes.append("Value targets: the student's loss is (1 - lam) * MSE(truth) + lam * MSE(teacher); "
                     "temperature is not used. Errors are in scaled units (MinMax of the fold).")
    return notes

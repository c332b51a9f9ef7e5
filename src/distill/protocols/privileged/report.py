"""Outputs of the `privileged` protocol: report.md (a table per horizon and training size, where the privileged
teacher helps the student - computed from the numbers), figures, config.yaml, then results.json last."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.io.tables import format_mean_sem, markdown_table
from distill.protocols.privileged.config import ALONE, PrivilegedConfig
from distill.protocols.privileged.figures import plot_lambda_temperature, plot_score_vs_horizon

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
                     format_mean_sem(cell["gain"], DIGITS), cell["verdict"]])
    return rows


def _cells_text(cells: list[dict]) -> str:
    return ", ".join(f"k = {c['horizon']} / n = {size_text(c['train_size'])} "
                     f"({c['gain']['mean']:+.{DIGITS}f} +- {c['gain']['sem']:.{DIGITS}f})" for c in cells)


def helps_lines(results: dict) -> list[str]:
    """Where the distilled student beats the student alone by more than the SEM of the paired difference."""
    lines = []
    for outcome, wording in (("helps", "helps the student"), ("hurts", "hurts the student"),
                             ("no clear difference", "makes no difference larger than its SEM")):
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
             f"Distillation: lambda = {config.distill.lam:g}, T = {config.distill.temperature:g}.",
             "## What each model reads", "\n".join(f"- {line}" for line in inputs_lines(results)),
             f"## Test {metric} (mean +- SEM over folds; scored on the truth)", markdown_table(cell_table(results)),
             "The gain column is the paired per-fold difference between the distilled student and the student "
             "alone (same model, lambda = 0), signed so that positive is better; 'helps' means it exceeds its SEM.",
             "## Where the privileged teacher helps (computed)", "\n".join(f"- {line}" for line in helps_lines(results))]
    if results["sweep"] is not None:
        parts += ["## lambda x T sweep", "\n".join(sweep_lines(results["sweep"], results["higher_is_better"]))]
    parts += ["## Notes on the protocol", "\n".join(f"- {note}" for note in results["notes"]), "## Figures"]
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_figures(results: dict, out_dir: Path) -> dict[str, str]:
    metric = results["metric"]
    figures = {f"Test {metric} vs horizon": plot_score_vs_horizon(
        results["cells"], main_models(results["cells"][0]), metric, out_dir / "horizons.png").name}
    sweep = results["sweep"]
    if sweep is not None:
        title = (f"k = {sweep['horizon']}, n = {size_text(sweep['train_size'])}: distilled test {metric}; alone "
                 f"{sweep[ALONE]['mean']:.3g}, teacher {sweep['teacher']['mean']:.3g}")
        means = [[cell["mean"] for cell in row] for row in sweep["grid"]]
        figures["lambda x T sweep"] = plot_lambda_temperature(means, sweep["lam"], sweep["temperature"], title,
                                                              metric, out_dir / "sweep.png").name
    return figures

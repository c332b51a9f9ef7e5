"""report.md, figures, config.yaml and results.json of a classification run (results.json written last)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from distill.core.protocol import ProtocolResult
from distill.data.labelled import LabelledImages
from distill.io.checkpoints import checkpoint_section
from distill.io.tables import (
    NOISY_NOTE,
    cost_sentence,
    format_mean_sem,
    markdown_table,
    model_table,
    sem_caption,
    verdict_line,
)
from distill.protocols.classification.config import ClassificationConfig, soft_target_cell_name
from distill.tasks.specs import ClassStudentSpec

SEED_004 = ("Seed 004 (chest X-ray, 3 classes, full-width ResNets): base 85.28, NST linear 86.47, NST poly 89.75, "
            "NST poly + assistants 91.63 (% test accuracy).")
METRICS = ["accuracy", "macro_f1", "roc_auc"]
BEST_CHOSEN = {"validation": "chosen on inner validation (training rows outside the transfer set)",
               "test": "chosen on test accuracy (optimistic)"}
UNITS = ("accuracy, macro-F1 and ROC AUC are fractions (0 to 1), errors are misclassified test images per fold, "
         "latency is in ms")


@dataclass
class ClassificationRun:
    """Everything a report needs: the JSON-able results and the tensors behind the figures."""

    results: dict
    protocol: ProtocolResult
    students: dict[str, ClassStudentSpec]
    images: LabelledImages


def classification_notes(config: ClassificationConfig, images: LabelledImages,
                  students: dict[str, ClassStudentSpec]) -> list[str]:
    """Plain-language notes on how the models were trained and scored."""
    notes = ["Every model, distilled students included, is scored against the TRUE test labels; agreement "
             "with its teacher is reported separately as fidelity_to_teacher.",
             "Confusion matrices and per-class accuracy pool the test parts of all folds (each example once).",
             "Parameters, FLOPs and latency are measured by code."]
    if images.test_start is None:
        notes.append(f"Stratified {config.cv.folds}-fold cross-validation; mean +- SEM over folds.")
    else:
        notes.append("The source's own train/test split is the one fold: no SEM over folds (n/a).")
    if config.teacher.select == "best":
        notes.append("LEAK: one best-fold teacher teaches every fold's students, including rows it was trained on "
                     "and other folds' test rows (use teacher.select: per_fold).")
    for name, spec in students.items():
        if spec.transfer.fraction < 1.0 or spec.transfer.omit:
            omitted = f", without classes {spec.transfer.omit}" if spec.transfer.omit else ""
            notes.append(f"{name} trains on {spec.transfer.fraction:.0%} of each fold's training rows (a stratified "
                         f"transfer set){omitted}; the teacher trained on all of them.")
    return notes


def featured(run: ClassificationRun) -> list[str]:
    """Models shown in figures: teacher, listed students, the best sweep cell; not the baseline or other cells."""
    results = run.results
    names = ["teacher", *(name for name in run.students if name not in _sweep_cells(results))]
    if "sweep" in results:
        names.append(results["sweep"]["best"]["student"])
    return names


def _sweep_cells(results: dict) -> set[str]:
    if "sweep" not in results:
        return set()
    grid = results["sweep"]
    return {soft_target_cell_name(t, a) for t in grid["temperatures"] for a in grid["alphas"]}


def _pct(summary: dict, digits: int = 2) -> str:
    scaled = {"mean": 100 * summary["mean"], "sem": 100 * summary["sem"] if summary["sem"] is not None else math.nan}
    return format_mean_sem(scaled, digits)


def errors_lines(models: dict) -> list[str]:
    return [f"- {name}: {format_mean_sem(entry['test']['errors'], 1)} test errors per fold "
            f"(per fold: {', '.join(f'{v:.0f}' for v in entry['test']['errors']['per_fold'])})"
            for name, entry in models.items()]


def in_points(entry: dict) -> dict:
    """A comparison of error rates in percentage points (the difference of accuracies, sign reversed)."""
    scale = lambda value: None if value is None else 100 * value
    return {**entry, "metric": "error rate", "mean": 100 * entry["mean"], "sem": scale(entry["sem"]),
            "ci95": [scale(value) for value in entry["ci95"]]}


def gain_lines(results: dict) -> list[str]:
    """Each distilled student against the student alone, named by the comparison's verdict (paired t-test on the
    test error rate over folds, Holm-corrected over the report's comparisons), and its share of the teacher's gap."""
    lines = []
    for name, gap in results.get("gap_recovered", {}).items():
        entry = results["comparison"].get(f"{name}_vs_{gap['scratch']}")
        if entry is None:
            continue
        share = "n/a (the teacher is not better)" if gap["share"] is None else f"{gap['share']:.0%}"
        wording = {"better": "beats", "worse": "is worse than"}.get(entry["verdict"], "is not distinguishable from")
        sem = "n/a" if entry["sem"] is None or math.isnan(entry["sem"]) else f"{100 * entry['sem']:.2f}"
        p_text = "n/a" if math.isnan(entry["p_adjusted"]) else f"{entry['p_adjusted']:.3g}"
        lines.append(f"- {name} {wording} {gap['scratch']} (Holm p = {p_text}): accuracy {-100 * entry['mean']:+.2f} "
                     f"+- {sem} points (SEM, paired over {entry['folds']} folds, fewer errors in {entry['wins']}); "
                     f"mean accuracy recovers {share} of the teacher - student gap "
                     f"({100 * gap['teacher_minus_scratch']:.2f} points)")
    return lines


def per_class_table(results: dict, names: list[str]) -> str:
    rows = [["class", *names]]
    for index, label in enumerate(results["classes"]):
        values = [results["per_class_accuracy"][name][index] for name in names]
        rows.append([label, *("-" if v is None else f"{100 * v:.1f}" for v in values)])
    return markdown_table(rows)


def sweep_table(grid: dict) -> str:
    rows = [["T \\ alpha", *(f"{a:g}" for a in grid["alphas"])]]
    for t, means, sems in zip(grid["temperatures"], grid["accuracy_mean"], grid["accuracy_sem"]):
        rows.append([f"{t:g}", *(_pct({"mean": m, "sem": s}) for m, s in zip(means, sems))])
    best = grid["best"]
    if best["chosen_on"] == "validation":
        how = (f"the cell with the highest mean accuracy on each fold's held-out training rows (the training rows "
               f"outside the students' transfer set: no student trained on them, none is a test row; the teacher "
               f"did train on them), {100 * best['validation_accuracy']:.2f}% there. No test row took part in the "
               "choice, so its test accuracy is an honest estimate for the chosen setting")
    else:
        how = ("the cell with the highest mean TEST accuracy (the transfer set is every training row, so nothing "
               "is held out to choose on): chosen on the data it is scored on, so its score is optimistic")
    return markdown_table(rows) + (f"\n\nChosen cell: T = {best['temperature']:g}, alpha = {best['alpha']:g}, "
                                   f"{100 * best['accuracy']:.2f}% mean test accuracy; {how}.")


def holm_family_note(results: dict) -> str:
    """Why the same setting can be 'better' in one report and 'not distinguishable' in another."""
    family = len(results["comparison"])
    return (f"Holm's correction runs over the {family} comparisons of this report: the smallest raw p-value is "
            f"multiplied by {family}, the next by {family - 1}, and so on. A report with more comparisons asks more "
            "of each one, so the same difference can be 'better' in a report with a small family (hinton-digits "
            "compares its one distilled student with the student alone and the teacher) and 'not distinguishable' "
            "in one with a large family (kd-sweep compares every grid cell with the student alone). The same T and "
            "alpha also give other numbers in the two recipes: a student's initial weights come from its place in "
            "the recipe's list of students, so the two are trained from other seeds.")


def recovery_table(recovery: dict) -> str:
    rows = [["model", "NMI (subclass)", "matching acc. (subclass)", "NMI (class only)", "matching acc. (class only)"]]
    for name, entry in recovery.items():
        rows.append([name, format_mean_sem(entry["nmi"], 3), _pct(entry["matching_accuracy"], 1),
                     format_mean_sem(entry["class_only_nmi"], 3), _pct(entry["class_only_matching_accuracy"], 1)])
    return markdown_table(rows)


def bias_table(corrections: dict) -> str:
    rows = [["student", "class", "shift (logit)", "class acc. before", "class acc. after", "overall before",
             "overall after"]]
    for name, entry in corrections.items():
        for label, scores in entry["classes"].items():
            rows.append([name, label, format_mean_sem(scores["shift"], 2), _pct(scores["class_accuracy_before"]),
                         _pct(scores["class_accuracy_after"]), _pct(entry["accuracy_before"]),
                         _pct(entry["accuracy_after"])])
    return markdown_table(rows)


def chain_lines(chains: list[dict]) -> list[str]:
    return ["- " + " -> ".join(f"{link['model']} ({link['params']:,} params, {_pct(link['accuracy'])}%)"
                               for link in chain["links"]) for chain in chains]


def methods_table(run: ClassificationRun) -> str:
    """Each student: who teaches it, its method and test accuracy (the layout of seed 004's table)."""
    models = run.results["models"]
    rows = [["student", "learns from", "method", "T", "alpha", "test accuracy %"]]
    for name, spec in run.students.items():
        if name in _sweep_cells(run.results):
            continue
        method = f"nst-{spec.nst.kernel}" if spec.method == "nst" else spec.method
        soft = spec.method in ("soft_target", "subclass", "hint") or (spec.method == "nst" and bool(spec.alpha))
        rows.append([name, "-" if spec.method == "none" else spec.teacher, method,
                     f"{spec.temperature:g}" if soft else "-", f"{spec.alpha:g}" if soft else "-",
                     _pct(models[name]["test"]["accuracy"])])
    return markdown_table(rows)


def nst_table(run: ClassificationRun) -> str:
    """Seed 004's table: the student alone and NST per kernel, from the teacher and from each assistant."""
    models, scratch = run.results["models"], run.results.get("gap_recovered", {})
    kernels = ("linear", "poly", "gaussian")
    sources = list(dict.fromkeys(spec.teacher for name, spec in run.students.items()
                                 if spec.method == "nst" and name in scratch))
    rows = [["learns from", "student alone", *(f"NST {kernel}" for kernel in kernels)]]
    alone = _pct(models[next(iter(scratch.values()))["scratch"]]["test"]["accuracy"]) if scratch else "-"
    for source in sources:
        cells = {spec.nst.kernel: _pct(models[name]["test"]["accuracy"]) for name, spec in run.students.items()
                 if spec.method == "nst" and spec.teacher == source and name in scratch}
        rows.append([source, alone, *(cells.get(kernel, "-") for kernel in kernels)])
    return markdown_table(rows)


def classification_markdown(run: ClassificationRun, config: ClassificationConfig, figures: dict[str, str]) -> str:
    results = run.results
    data = results["data"]
    names = featured(run)
    parts = [
        f"# {config.name}: teacher vs students, {results['folds']} fold(s)",
        config.description,
        f"Data: {data['source']}; {data['images']} images of shape {tuple(data['shape'])}, "
        f"{len(results['classes'])} classes ({', '.join(results['classes'])}); {data['split']}.",
        "## Results (test scored on the truth; mean +- SEM over folds)",
        markdown_table(model_table(results["models"], METRICS)),
        sem_caption(results["folds"], UNITS) + " FLOPs are per prediction; latency is the median CPU wall time of "
        "one forward pass on one thread, all models timed together in interleaved rounds. " + NOISY_NOTE,
        "## Test errors",
        "\n".join(errors_lines(results["models"])),
        "## Distilled students vs the student alone",
        "\n".join(gain_lines(results)),
        "## Students",
        methods_table(run),
        "## What the students cost",
        "\n".join(f"- {cost_sentence(results['models'], name)}" for name in names if name != "teacher"),
        "## Paired comparisons of the test error rate (same folds)",
        "A difference is named only when its paired t-test over folds gives p < 0.05 after Holm's correction over "
        "the comparisons below; error rate = 1 - accuracy, in percentage points. " + holm_family_note(results),
        "\n".join(f"- {verdict_line(in_points(entry), 'points')}" for entry in results["comparison"].values()),
        "## Fidelity to the teacher (test rows)",
        "\n".join(f"- {name}: agreement {_pct(entry['fidelity_to_teacher']['agreement'])}%, "
                  f"KL {format_mean_sem(entry['fidelity_to_teacher']['kl'], 4)}"
                  for name, entry in results["models"].items() if "fidelity_to_teacher" in entry),
        "## Accuracy per class (%, test rows of all folds)",
        per_class_table(results, names),
    ]
    if "sweep" in results:
        parts += ["## Temperature x alpha (test accuracy %, mean +- SEM)", sweep_table(results["sweep"])]
    if "subclass_recovery" in results:
        parts += ["## Do the subclasses recover the hidden labels? (test rows)",
                  "Each test image is assigned its predicted class and, within it, the subclass with the largest "
                  "logit after standardising each logit over the test rows (raw logits can carry per-subclass "
                  "offsets shared by all rows). Scores: normalised mutual information with the "
                  "source's own labels and the accuracy of the best one-to-one matching (Hungarian) of subclasses "
                  "to those labels. `class only` scores the predicted class alone: the floor a head without "
                  "subclasses reaches.",
                  recovery_table(results["subclass_recovery"])]
    if "bias_correction" in results:
        parts += ["## Omitted class: before and after raising its bias",
                  "The shift of the omitted class's logit is chosen on each fold's training images only: the "
                  "smallest shift after which the student predicts that class for its share of the training "
                  "labels (Hinton et al. 2015 raised the bias of the 3s by hand).",
                  bias_table(results["bias_correction"])]
    if "chains" in results:
        parts += ["## Teacher-assistant chains (test accuracy % at every link)",
                  "\n".join(chain_lines(results["chains"]))]
    if any(spec.method == "nst" and name in results.get("gap_recovered", {}) for name, spec in run.students.items()):
        parts += ["## NST by kernel, from the teacher and from an assistant (test accuracy %, as seed 004's table)",
                  nst_table(run), SEED_004]
    parts += ["## Notes on the protocol", "\n".join(f"- {note}" for note in results["notes"]),
              "## Trained models", checkpoint_section(results["checkpoints"]), "## Figures"]
    parts += [f"![{title}]({name})" for title, name in figures.items()]
    return "\n\n".join(part for part in parts if part) + "\n"



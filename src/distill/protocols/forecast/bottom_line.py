"""The forecasting report's bottom line: four sentences at the top, each with its verdict and Holm p.

Every sentence reads results.json as the run wrote it: skills from `models.<name>.test.skill`, verdicts and
Holm-corrected p-values from `comparison` (paired over refit blocks, see `evaluation.comparisons`), costs from
the profiled models. A comparison the run did not make is written as "not compared", never inferred.
"""
from __future__ import annotations

import math

from distill.io.tables import NOISY_MARK, format_mean_sem
from distill.protocols.forecast.cost import TEACHER, ratio, speedup_cell
from distill.protocols.forecast.privileged import TEACHER_LABEL

KD, SCRATCH = "student_kd", "student_scratch"


def _p(entry: dict) -> str:
    p = entry.get("p_adjusted")
    return "n/a" if p is None or math.isnan(p) else f"{p:.3g}"


def _verdict(entry: dict | None, a: str, b: str) -> str:
    """'a is better than b (Holm p = 0.01)', 'a and b are not distinguishable (Holm p = 0.3)', or not compared."""
    if entry is None:
        return f"{a} and {b} were not compared"
    if entry["verdict"] == "not distinguishable":
        return f"{a} and {b} are not distinguishable (Holm p = {_p(entry)})"
    return f"{a} is {entry['verdict']} than {b} (Holm p = {_p(entry)})"


def _skill(models: dict, name: str) -> str:
    return format_mean_sem(models[name]["test"]["skill"], 3)


def teacher_line(results: dict) -> str:
    """Does the teacher beat the best baseline (chosen on inner validation)?"""
    models, comparison = results["models"], results["comparison"]
    best = results.get("best_baseline", {}).get("name")
    if best is None:
        return "Teacher vs the best baseline: not compared (no baseline was chosen on inner validation)."
    entry = comparison.get("teacher_vs_persistence" if best == "persistence" else "teacher_vs_best_baseline")
    return (f"Does the teacher beat the best baseline? Verdict: {_verdict(entry, 'the teacher', best)}; skill "
            f"{_skill(models, TEACHER)} vs {_skill(models, best)}.")


def keeps_line(results: dict) -> str:
    """Does student_kd keep the teacher's skill? Its share of the teacher's mean skill, quoted only when the
    teacher's skill is above one SEM (a share of a skill indistinguishable from zero says nothing)."""
    models = results["models"]
    if KD not in models:
        return f"Does the student keep the teacher's skill? Not compared (no {KD} in this run)."
    teacher, student = models[TEACHER]["test"]["skill"], models[KD]["test"]["skill"]["mean"]
    sem = teacher["sem"] if teacher["sem"] is not None and not math.isnan(teacher["sem"]) else 0.0
    share = (f"it keeps {student / teacher['mean']:.0%} of the teacher's skill" if teacher["mean"] > sem
             else "no share is quoted: the teacher's skill over persistence is within one SEM of zero or below")
    entry = results["comparison"].get(f"{KD}_vs_teacher")
    return (f"Does the student keep the teacher's skill? {KD} skill {_skill(models, KD)} vs the teacher's "
            f"{_skill(models, TEACHER)}: {share}. Verdict: {_verdict(entry, KD, 'the teacher')}.")


def cost_line(results: dict) -> str:
    """At what cost: student_kd's parameter ratio and batch-1 speed-up against the teacher."""
    models = results["models"]
    if KD not in models or "latency_ms" not in models.get(KD, {}) or "latency_ms" not in models.get(TEACHER, {}):
        return "At what cost? Not measured (no profiled teacher and student_kd in this run)."
    student, teacher = models[KD], models[TEACHER]
    speed = speedup_cell(student["latency_ms"], "batch1")
    noisy = " (noisy: not a basis for comparison)" if speed.endswith(NOISY_MARK) else ""
    return (f"At what cost? {KD} has {ratio(student, teacher, 'params'):.2f}x the teacher's parameters "
            f"({student['params']:,} vs {teacher['params']:,}) and {ratio(student, teacher, 'flops'):.2f}x its FLOPs, "
            f"and answers {speed} as fast at batch 1{noisy}.")


def distillation_line(results: dict) -> str:
    """Does distillation beat the same student trained alone (on test MAE)?"""
    models = results["models"]
    if not {KD, SCRATCH} <= set(models):
        return f"Does distillation pay? Not compared (the run needs both {KD} and {SCRATCH})."
    entry = results["comparison"].get(f"{KD}_vs_{SCRATCH}")
    mae = lambda name: format_mean_sem(models[name]["test"]["mae_original"], 2)
    return (f"Does distillation pay? Verdict on test MAE: {_verdict(entry, KD, SCRATCH)}; {mae(KD)} vs "
            f"{mae(SCRATCH)} {results['data']['unit']}.")


def bottom_line_markdown(results: dict) -> list[str]:
    """The report's '## Bottom line' section (nothing when the run has no teacher)."""
    if TEACHER not in results["models"]:
        return []
    lines = [teacher_line(results), keeps_line(results), cost_line(results), distillation_line(results)]
    privileged = results["data"].get("privileged")
    if privileged:  # the teacher is a reference, not a forecaster: the student's question comes first
        lines = [distillation_line(results), f"The teacher {TEACHER_LABEL.format(columns=', '.join(privileged))}.",
                 *lines[:3]]
    return ["## Bottom line", "\n".join(f"- {line}" for line in lines)]

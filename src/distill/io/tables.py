"""Text for reports and the terminal: mean +- SEM, model tables (plain and Markdown), computed findings."""
from __future__ import annotations

import math


def format_mean_sem(summary: dict, digits: int = 4) -> str:
    """'0.0123 +- 0.0010' (SEM shown as n/a with a single fold)."""
    sem = summary["sem"]
    sem_text = "n/a" if math.isnan(sem) else f"{sem:.{digits}f}"
    return f"{summary['mean']:.{digits}f} +- {sem_text}"


def _fmt_count(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def model_table(models: dict[str, dict], metrics: list[str], digits: int = 4) -> list[list[str]]:
    """Rows of: model, params, FLOPs, latency (batch 1 / 256), test metrics, train metrics (mean +- SEM)."""
    header = ["model", "params", "FLOPs", "ms b1", "ms b256"] + [f"test {m}" for m in metrics] + \
             [f"train {m}" for m in metrics[:1]]
    rows = [header]
    for name, entry in models.items():
        latency = entry["latency_ms"]
        row = [name, _fmt_count(entry["params"]), _fmt_count(entry["flops"]),
               f"{latency['batch1']:.3f}", f"{latency['batch256']:.2f}"]
        row += [format_mean_sem(entry["test"][m], digits) for m in metrics]
        row += [format_mean_sem(entry["train"][m], digits) for m in metrics[:1]]
        rows.append(row)
    return rows


def text_table(rows: list[list[str]]) -> str:
    """Aligned plain-text table for the terminal."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def comparison_lines(comparison: dict) -> list[str]:
    """One sentence per paired comparison: mean difference +- SEM, p-value, folds won."""
    lines = []
    for entry in comparison.values():
        p_value = "n/a" if entry["p_value"] is None or math.isnan(entry["p_value"]) else f"{entry['p_value']:.3g}"
        lines.append(f"{entry['difference']} in test {entry['metric']}: {entry['mean']:+.5f} +- "
                     f"{entry['sem']:.5f} (paired t-test p = {p_value}; lower in {entry['wins']} of "
                     f"{entry['folds']} folds)")
    return lines


def _verdict(entry: dict, lower_is_better: bool) -> str:
    """One sentence on a paired comparison: which model is better, and whether beyond the SEM."""
    mean, sem = entry["mean"], entry["sem"]
    a, b = entry["difference"].split(" - ")
    if sem is None or math.isnan(sem) or abs(mean) <= sem:
        return f"{a} and {b} are not distinguishable (difference {mean:+.4g} within its SEM {sem:.2g})"
    a_better = (mean < 0) == lower_is_better
    folds_for_a = entry["wins"] if lower_is_better else entry["folds"] - entry["wins"]
    winner, count = (a, folds_for_a) if a_better else (b, entry["folds"] - folds_for_a)
    return (f"{a} is {'better' if a_better else 'worse'} than {b} by {abs(mean):.4g} in {entry['metric']} "
            f"(more than its SEM {sem:.2g}; {count} of {entry['folds']} folds favour {winner})")


def cost_sentence(models: dict, student: str, teacher: str = "teacher") -> str:
    """How the student's measured costs compare with the teacher's."""
    s, t = models[student], models[teacher]
    ratio = lambda key: s[key] / t[key] if t[key] else float("nan")
    speed = t["latency_ms"]["batch1"] / s["latency_ms"]["batch1"]
    return (f"{student} has {ratio('params'):.2f}x the teacher's parameters and {ratio('flops'):.2f}x its FLOPs "
            f"per prediction, and answers {speed:.1f}x {'faster' if speed >= 1 else 'slower'} at batch 1.")


def findings(models: dict, comparison: dict, lower_is_better: bool = True) -> list[str]:
    """Plain-language findings computed from the numbers: each paired comparison and the students' costs."""
    lines = [_verdict(entry, lower_is_better) + "." for entry in comparison.values()]
    lines += [cost_sentence(models, name) for name in models
              if name.startswith("student") and "teacher" in models]
    return lines


def verdict_line(entry: dict, unit: str = "", digits: int = 3) -> str:
    """'student_kd - student_scratch: -12.3 +- 4.5 patients/day (95% CI ...), p = 0.02, Holm p = 0.04 -> better'."""
    a, b = entry["difference"].split(" - ")
    low, high = entry["ci95"]
    p_text = "n/a" if math.isnan(entry["p_value"]) else f"{entry['p_value']:.3g}"
    adj_text = "n/a" if math.isnan(entry["p_adjusted"]) else f"{entry['p_adjusted']:.3g}"
    unit = f" {unit}" if unit else ""
    claim = (f"{a} is {entry['verdict']} than {b}" if entry["verdict"] != "not distinguishable"
             else f"{a} and {b} are not distinguishable")
    return (f"{claim}: {entry['metric']} difference {entry['mean']:.{digits}g} +- {entry['sem']:.{digits}g}{unit} "
            f"(95% CI {low:.{digits}g} .. {high:.{digits}g}); paired t-test p = {p_text}, Holm p = {adj_text}; "
            f"sign test p = {entry['sign_test_p']:.3g} ({entry['wins']}/{entry['folds']} folds lower)")

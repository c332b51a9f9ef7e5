"""Text for reports and the terminal: mean +- SEM, model tables (plain and Markdown), computed findings."""
from __future__ import annotations

import math


def fixed(value: float, digits: int, sign: bool = False) -> str:
    """`value` with `digits` decimals; a value that rounds to zero prints without a sign ("0.0000", never
    "-0.0000"; "+0.0000" with `sign`)."""
    text = f"{value:{'+' if sign else ''}.{digits}f}"
    if text.lstrip("+-").strip("0.") == "":
        text = ("+" if sign else "") + text.lstrip("+-")
    return text


def format_mean_sem(summary: dict, digits: int = 4) -> str:
    """'0.0123 +- 0.0010' (SEM shown as n/a with a single fold; never '-0.0000')."""
    sem = summary["sem"]
    sem_text = "n/a" if sem is None or math.isnan(sem) else fixed(sem, digits)
    return f"{fixed(summary['mean'], digits)} +- {sem_text}"


COUNT_DIGITS = 1  # a mean of whole counts over folds (misclassified images): one decimal, as 6.2 +- 1.2


def _fmt_count(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def model_table(models: dict[str, dict], metrics: list[str], digits: int = 4,
                counts: tuple[str, ...] = ("errors",)) -> list[list[str]]:
    """Rows of: model, params, FLOPs, latency (batch 1 / 256, median ms; `NOISY_MARK` after a noisy one), test
    metrics, train metrics (mean +- SEM; the metrics in `counts`, whole numbers per fold, with `COUNT_DIGITS`)."""
    places = lambda metric: COUNT_DIGITS if metric in counts else digits
    header = ["model", "params", "FLOPs", "ms b1", "ms b256"] + [f"test {m}" for m in metrics] + \
             [f"train {m}" for m in metrics[:1]]
    rows = [header]
    for name, entry in models.items():
        latency = entry["latency_ms"]
        row = [name, _fmt_count(entry["params"]), _fmt_count(entry["flops"]),
               _latency_cell(latency, "batch1", 3), _latency_cell(latency, "batch256", 2)]
        row += [format_mean_sem(entry["test"][m], places(m)) for m in metrics]
        row += [format_mean_sem(entry["train"][m], places(m)) for m in metrics[:1]]
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


def comparison_lines(comparison: dict, unit: str = "") -> list[str]:
    """One sentence per paired comparison: its verdict line where it has a verdict (see `verdict_line`), else
    the mean difference +- SEM and the uncorrected p-value, with no claim of which model is better."""
    lines = []
    for entry in comparison.values():
        if "verdict" in entry:
            lines.append(verdict_line(entry, unit))
            continue
        p_value = "n/a" if entry["p_value"] is None or math.isnan(entry["p_value"]) else f"{entry['p_value']:.3g}"
        lines.append(f"{entry['difference']} in test {entry['metric']}: {entry['mean']:+.5f} +- "
                     f"{entry['sem']:.5f} (SEM; paired t-test p = {p_value}, not corrected for multiple "
                     f"comparisons; lower in {entry['wins']} of {entry['folds']} folds)")
    return lines


def sem_caption(folds: int, units: str = "") -> str:
    """The sentence under a table: what +- means, over how many folds, and the units."""
    over = f"over {folds} folds" if folds > 1 else "(one fold: no SEM, n/a)"
    return f"+- is the standard error of the mean (SEM) {over}" + (f"; {units}" if units else "") + "."


NOISY_MARK = "~"  # after a latency in a table: noisy, see `distill.core.profiling`
NOISY_NOTE = (f"{NOISY_MARK} marks a noisy latency (IQR over rounds above a quarter of the median, or the process had "
              "the CPU for under 80% of the timed wall time): not a basis for comparison.")


def _noisy(latency: dict, batch: str = "batch1") -> bool:
    """A latency marked noisy by `distill.core.profiling` (one without the mark, written before the spread
    was recorded, counts as noisy too)."""
    return latency.get(f"{batch}_noisy", True)


def _latency_cell(latency: dict, batch: str, digits: int) -> str:
    return f"{latency[batch]:.{digits}f}" + (NOISY_MARK if _noisy(latency, batch) else "")


def cost_sentence(models: dict, student: str, teacher: str = "teacher") -> str:
    """How the student's measured costs compare with the teacher's. The speed ratio is quoted only when both
    batch-1 latencies are clean (IQR within half the median, see `distill.core.profiling`)."""
    s, t = models[student], models[teacher]
    ratio = lambda key: s[key] / t[key] if t[key] else float("nan")
    counts = f"{student} has {ratio('params'):.2f}x the teacher's parameters and {ratio('flops'):.2f}x its FLOPs " \
             "per prediction"
    latency = s["latency_ms"]
    if "batch1_speedup" in latency:  # timed in rounds beside the teacher: the median of per-round ratios
        if latency["batch1_speedup_noisy"]:
            return counts + "; its speed against the teacher's was too noisy to compare (per-round ratios spread " \
                            "by more than a quarter of their median)."
        speed = latency["batch1_speedup"]
    elif _noisy(latency) or _noisy(t["latency_ms"]):
        return counts + "; its latency was too noisy to compare (IQR above half the median, or no spread recorded)."
    else:
        speed = t["latency_ms"]["batch1"] / latency["batch1"]
    return counts + f", and answers {speed:.1f}x {'faster' if speed >= 1 else 'slower'} at batch 1."


def findings(models: dict, comparison: dict, lower_is_better: bool = True, unit: str = "") -> list[str]:
    """Plain-language findings computed from the numbers: each paired comparison and the students' costs.

    A model is called better or worse only by its `verdict` (set by `distill.core.stats.add_verdicts`: paired
    t-test, Holm-corrected, p < 0.05); comparisons without one are stated without a claim. `lower_is_better`
    is kept for callers of the earlier rule; the verdicts carry the direction.
    """
    lines = [line + "." for line in comparison_lines(comparison, unit)]
    lines += [cost_sentence(models, name) for name in models
              if name.startswith("student") and "teacher" in models]
    return lines


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}g}"


def verdict_line(entry: dict, unit: str = "", digits: int = 3) -> str:
    """'student_kd is better than student_scratch (Holm p = 0.04): mae difference -12.3 +- 4.5 patients/day
    (SEM; 95% CI ...); paired t-test p = 0.01; sign test p = 0.06 (5/5 folds lower)', or '... are not
    distinguishable (Holm p = 0.3): ...'."""
    a, b = entry["difference"].split(" - ")
    low, high = entry["ci95"]
    unit = f" {unit}" if unit else ""
    adjusted = f"Holm p = {_number(entry['p_adjusted'])}"
    claim = (f"{a} is {entry['verdict']} than {b} ({adjusted})" if entry["verdict"] != "not distinguishable"
             else f"{a} and {b} are not distinguishable ({adjusted})")
    return (f"{claim}: {entry['metric']} difference {entry['mean']:+.{digits}g} +- "
            f"{_number(entry['sem'], digits)}{unit} (SEM; 95% CI {_number(low, digits)} .. "
            f"{_number(high, digits)}); paired t-test p = {_number(entry['p_value'])}; sign test p = "
            f"{entry['sign_test_p']:.3g} ({entry['wins']}/{entry['folds']} folds "
            f"{'higher' if entry.get('higher_is_better') else 'lower'})")

"""The forecasting report's cost section: what each trained model costs, and each student against the teacher.

The figures are `distill.core.profiling`'s (results.json `models.<name>`: params, flops, bytes, latency_ms),
measured for every trained model in one interleaved timing run. A speed-up is the median of per-round
teacher / model CPU-time ratios; a noisy latency or speed-up carries `NOISY_MARK` and is not a basis for
comparison, as in the classification reports (`distill.io.tables`).
"""
from __future__ import annotations

import math

from distill.io.tables import NOISY_MARK, NOISY_NOTE, _fmt_count, _latency_cell, cost_sentence, markdown_table

TEACHER = "teacher"
BATCHES = ("batch1", "batch256")


def ratio(model: dict, teacher: dict, key: str) -> float:
    """model[key] / teacher[key] (nan when the teacher's is 0)."""
    return model[key] / teacher[key] if teacher[key] else math.nan


def speedup_cell(latency: dict, batch: str) -> str:
    """The teacher / model speed-up at `batch` (median of per-round ratios), marked when noisy; '-' if absent."""
    if f"{batch}_speedup" not in latency:
        return "-"
    return f"{latency[f'{batch}_speedup']:.2f}x" + (NOISY_MARK if latency[f"{batch}_speedup_noisy"] else "")


def trained_models(models: dict[str, dict]) -> dict[str, dict]:
    """The models that were profiled (the teacher and the students; baselines are not)."""
    return {name: entry for name, entry in models.items() if "latency_ms" in entry}


def cost_table(models: dict[str, dict]) -> list[list[str]]:
    """Rows of: model, params, FLOPs, bytes, latency at batch 1 and 256 (median ms), and against the teacher:
    params and FLOPs ratios (model / teacher) and speed-ups at batch 1 and 256 (teacher / model)."""
    trained = trained_models(models)
    teacher = trained.get(TEACHER)
    rows = [["model", "params", "FLOPs", "bytes", "ms b1", "ms b256", "params / teacher", "FLOPs / teacher",
             "speed-up b1", "speed-up b256"]]
    for name, entry in trained.items():
        latency = entry["latency_ms"]
        row = [name, _fmt_count(entry["params"]), _fmt_count(entry["flops"]), _fmt_count(entry["bytes"]) + "B",
               _latency_cell(latency, "batch1", 3), _latency_cell(latency, "batch256", 2)]
        if teacher is None or name == TEACHER:
            row += ["1" if name == TEACHER else "-"] * 2 + ["1x" if name == TEACHER else "-"] * 2
        else:
            row += [f"{ratio(entry, teacher, 'params'):.3f}", f"{ratio(entry, teacher, 'flops'):.3f}",
                    *(speedup_cell(latency, batch) for batch in BATCHES)]
        rows.append(row)
    return rows


def cost_markdown(results: dict) -> list[str]:
    """The report's '## What the models cost' section: the table, what it measures, one sentence per student."""
    trained = trained_models(results["models"])
    if not trained:
        return []
    parts = ["## What the models cost", markdown_table(cost_table(trained)),
             "FLOPs are per prediction (one window); bytes hold the weights and buffers; latency is the median CPU "
             "wall time of one forward pass on one thread, all models timed together in interleaved rounds; a "
             "speed-up is the median over rounds of the teacher's / the model's CPU time per call. " + NOISY_NOTE]
    if TEACHER in trained:
        parts.append("\n".join(f"- {cost_sentence(trained, name)}" for name in trained if name != TEACHER))
    return parts

"""Does the latency measurement drift? The hinton-digits CNN teacher and MLP student at batch 1, measured over and
over in one process, by the earlier method and by the current one, alternating, side by side.

Before (the method up to issue 26): each model timed on its own with `torch.utils.benchmark.Timer.blocked_autorange`
(0.15 s, median and IQR of the blocks), noisy when IQR > 0.5 x median; the speed-up is the ratio of the two medians.
After (`distill.core.profiling.measure_latencies`): warm-up, the two models timed in interleaved rounds, the
speed-up the median of per-round ratios of CPU time per call; a latency is noisy when its IQR over rounds is above
a quarter of the median or the thread had the CPU for under 80% of the timed wall time, a speed-up when the IQR of
its per-round ratios is above a quarter of their median.

Prints, per run, the teacher's latency, the speed-up and the noisy flags of both methods, then, per method, the
spread over runs: the range of the teacher's latency and of the speed-up, and how many runs were flagged. A method
that does not drift gives a narrow speed-up range; one that drifts must at least flag the runs it got wrong.

    python benchmarks/bench_latency.py [--runs 10] [--repeats 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import timeit

import torch
from torch.utils import benchmark

from distill.core.profiling import measure_latencies
from distill.models import build_model

OLD_NOISY_SPREAD, OLD_MIN_BLOCKS, OLD_SECONDS_PER_REPEAT = 0.5, 4, 0.005


def old_latency_ms(model: torch.nn.Module, example: torch.Tensor, repeats: int) -> dict:
    """The method before issue 26, verbatim: one model alone, `blocked_autorange`, median and IQR of blocks."""
    model.eval()
    timer = benchmark.Timer(stmt="model(example)", globals={"model": model, "example": example}, num_threads=1,
                            timer=timeit.default_timer)
    with torch.no_grad():
        measurement = timer.blocked_autorange(min_run_time=repeats * OLD_SECONDS_PER_REPEAT)
        blocks = list(measurement.raw_times)
        while len(blocks) < OLD_MIN_BLOCKS:
            blocks += timer.timeit(measurement.number_per_run).raw_times
    measurement = benchmark.Measurement(measurement.number_per_run, blocks, measurement.task_spec)
    median, iqr = measurement.median * 1000.0, measurement.iqr * 1000.0
    return {"median": median, "iqr": iqr, "noisy": bool(iqr > OLD_NOISY_SPREAD * median)}


def before(teacher, student, example, repeats) -> tuple[float, float, bool, str]:
    """(teacher ms, speed-up, noisy, detail) by the earlier method."""
    t, s = old_latency_ms(teacher, example, repeats), old_latency_ms(student, example, repeats)
    return t["median"], t["median"] / s["median"], t["noisy"] or s["noisy"], f"IQR {t['iqr']:.3f} ms"


def after(teacher, student, example, repeats) -> tuple[float, float, bool, str]:
    """(teacher ms, speed-up, noisy, detail) by `measure_latencies`."""
    measured = measure_latencies({"teacher": (teacher, example), "student": (student, example)}, repeats)
    t, speedup = measured["teacher"], measured["student"]["speedup"]
    return t["median"], speedup["median"], speedup["noisy"], \
        f"IQR {t['iqr']:.3f} ms, CPU {t['cpu']:.3f} ms/call, CPU share {t['cpu_share']:.2f}, " \
        f"speed-up IQR {speedup['iqr']:.2f}{' (latency noisy)' if t['noisy'] else ''}"


def spread(name: str, runs: list[tuple[float, float, bool, str]]) -> None:
    teacher = [t for t, _, _, _ in runs]
    ratios = [r for _, r, _, _ in runs]
    clean = [r for _, r, noisy, _ in runs if not noisy]
    print(f"{name}: teacher {min(teacher):.3f}-{max(teacher):.3f} ms (max/min {max(teacher) / min(teacher):.2f}); "
          f"speed-up {min(ratios):.2f}-{max(ratios):.2f}x (max/min {max(ratios) / min(ratios):.2f}, median "
          f"{statistics.median(ratios):.2f}x); speed-up flagged noisy {sum(n for _, _, n, _ in runs)}/{len(runs)}; "
          + (f"unflagged runs' speed-up {min(clean):.2f}-{max(clean):.2f}x" if clean else "no unflagged run"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30, help="report.latency_repeats (rounds / budget)")
    args = parser.parse_args()
    torch.manual_seed(0)
    teacher = build_model("cnn", (1, 8, 8), 10, channels=[32, 64], hidden=128, dropout=0.3)
    student = build_model("mlp", (1, 8, 8), 10, hidden=[64])
    example = torch.zeros(1, 1, 8, 8)
    print(f"hinton-digits CNN teacher vs MLP student at batch 1, {args.runs} runs alternating the two methods, "
          f"{os.cpu_count()} cores")
    runs = {"before": [], "after": []}
    for run in range(1, args.runs + 1):
        order = ("before", "after") if run % 2 else ("after", "before")
        for method in order:
            load = os.getloadavg()[0]
            measured = (before if method == "before" else after)(teacher, student, example, args.repeats)
            runs[method].append(measured)
            print(f"run {run:2d} {method:6s}: teacher {measured[0]:.3f} ms, speed-up {measured[1]:.2f}x "
                  f"{'noisy' if measured[2] else 'clean'} ({measured[3]}; load {load:.2f})", flush=True)
    for method, measured in runs.items():
        spread(method, measured)


if __name__ == "__main__":
    main()

"""Where the wall time and memory of a forecasting run go, stage by stage: data, windows, each model's training,
curves, baselines, final fit, latency profiling, checkpoint saves, figures, writing.

The run is the CLI's own (`distill.protocols.execute`, checkpoints included); stages are timed by wrapping the
package's functions at run time (nothing in the package is edited), so the script works on whatever the forecasting
protocol becomes: a stage whose function is gone is listed as absent, and time outside every wrapped stage shows as
"(other)". Per stage: calls, wall and CPU seconds (inclusive, and "self" = outside its wrapped sub-stages) and the
peak resident memory reached inside it (Linux VmHWM, reset at every stage's start).

    python benchmarks/bench_profile_forecast.py                      # the default covid-lstm, one run
    python benchmarks/bench_profile_forecast.py --set train.epochs=8 # a short run
    python benchmarks/bench_profile_forecast.py covid-seed --eta 101  # runs at 1 and 3 epochs -> per-epoch
        # cost of every stage -> the time at 101 epochs (CPU s: an idle core's; wall s: at this load)
    python benchmarks/bench_profile_forecast.py --cprofile 25        # + the 25 functions with most own time
    python benchmarks/bench_profile_forecast.py --cprofile 25 --stage figures  # ... inside one stage only
    python benchmarks/bench_profile_forecast.py --torch-profiler 20  # + the 20 torch ops with most CPU time
    python benchmarks/bench_profile_forecast.py --cli 3 --against benchmarks/recipes/covid-lstm-2026-12.yaml
        # 3 rounds, alternating, of `distill run` as a user types it for the recipe and for another one: wall time
        # and peak memory of each process tree (worker processes included: PSS and summed RSS, sampled every
        # 0.1 s), and their ratio per round (median of ratios)

On a shared machine wall times stretch with the load (printed with every figure); CPU seconds of this one-thread
run stretch much less, so both are given.
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

START = time.perf_counter()
import torch  # noqa: E402  (timed: the import is part of a run's cost)

TORCH_IMPORTED = time.perf_counter()
from tree_memory import measured_run  # noqa: E402  (beside this script)

from distill import protocols  # noqa: E402

# (stage, "module:function" or "module:Class.method", how to label one call from its arguments or None).
# Several targets may share a stage; absent targets are listed, not fatal.
STAGES: list[tuple[str, str, Callable | None]] = [
    ("data", "distill.protocols.forecast.run:load_frame", None),
    ("data", "distill.data.covid:load_covid", None),
    ("data", "distill.protocols.forecast.run:load_panel", None),  # many series (since 910bf6c)
    ("data", "distill.protocols.forecast.run:series_arrays", None),
    ("windows", "distill.protocols.forecast.windows:make_window_table", None),
    ("windows", "distill.protocols.forecast.windows:panel_window_table", None),
    ("windows", "distill.protocols.forecast.windows:split_windows", None),
    ("scaling", "distill.protocols.forecast.windows:window_log_folds", None),
    ("scaling", "distill.protocols.forecast.windows:minmax_folds", None),
    ("protocol", "distill.core.protocol:run_protocol", None),
    ("teacher", "distill.core.protocol:_fit_teachers", None),
    ("student", "distill.core.protocol:_fit_students", lambda args, kwargs: f"student {args[2]}"),
    ("training loop", "distill.core.train:fit", None),
    ("training loop (fold-parallel)", "distill.core.fold_parallel:fit_stacked", None),
    ("curves", "distill.core.protocol:_Curves.__call__", None),
    ("scoring", "distill.core.protocol:_score", None),
    ("checkpoint saves", "distill.core.resume:Unit.save", None),
    ("latency+FLOPs profile", "distill.core.profiling:profile_model", None),
    ("baselines+forecasts", "distill.protocols.forecast.evaluation:fold_forecasts", None),
    ("baselines: ETS", "distill.protocols.forecast.ets:ets_forecasts", None),
    ("baselines: choice on inner validation", "distill.protocols.forecast.evaluation:baseline_validation", None),
    ("scores", "distill.protocols.forecast.evaluation:add_per_series", None),
    ("scores", "distill.protocols.forecast.evaluation:score_forecasts", None),
    ("scores", "distill.protocols.forecast.evaluation:validation_errors", None),
    ("scores", "distill.protocols.forecast.evaluation:comparisons", None),
    ("final fit", "distill.protocols.forecast.final:fit_final_models", None),
    ("release memory", "distill.core.memory:release_freed_memory", None),
    ("write run", "distill.io.run_writer:write_run", None),
    ("model files", "distill.io.checkpoints:save_checkpoints", None),
    ("figures", "distill.protocols.forecast.output:_figures", None),
    ("report.md", "distill.protocols.forecast.report:forecast_markdown", None),
    ("results.json", "distill.io.run_writer:results_json", None),
]


def _status_kb(key: str) -> int:
    return int(re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def _reset_peak() -> None:
    """Reset VmHWM to the current resident size (Linux >= 4.0), so the next reading is this stage's own peak."""
    Path("/proc/self/clear_refs").write_text("5")


@dataclass
class Record:
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    child_wall: float = 0.0
    child_cpu: float = 0.0
    peak_kb: int = 0


@dataclass
class StageClock:
    """Inclusive and self times and peak memory of nested stages, keyed by their path of labels."""

    records: dict[tuple[str, ...], Record] = field(default_factory=dict)
    stack: list[list] = field(default_factory=list)  # [path, wall start, cpu start, child wall, child cpu, peak kb]
    profiled_stage: str | None = None  # cProfile runs only inside stages of this label
    profiler: cProfile.Profile | None = None

    def enter(self, label: str) -> None:
        if self.profiler is not None and label == self.profiled_stage:
            self.profiler.enable()
        if self.stack:
            self.stack[-1][5] = max(self.stack[-1][5], _status_kb("VmHWM"))
        _reset_peak()
        path = (*self.stack[-1][0], label) if self.stack else (label,)
        self.stack.append([path, time.perf_counter(), time.process_time(), 0.0, 0.0, 0])

    def exit(self) -> None:
        path, wall0, cpu0, child_wall, child_cpu, peak = self.stack.pop()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if self.profiler is not None and path[-1] == self.profiled_stage:
            self.profiler.disable()
        peak = max(peak, _status_kb("VmHWM"))
        record = self.records.setdefault(path, Record())
        record.calls += 1
        record.wall += wall
        record.cpu += cpu
        record.child_wall += child_wall
        record.child_cpu += child_cpu
        record.peak_kb = max(record.peak_kb, peak)
        if self.stack:
            parent = self.stack[-1]
            parent[3] += wall
            parent[4] += cpu
            parent[5] = max(parent[5], peak)

    def wrap(self, stage: str, function: Callable, label: Callable | None) -> Callable:
        def timed(*args, **kwargs):
            try:
                name = stage if label is None else label(args, kwargs)
            except (IndexError, KeyError, TypeError):
                name = stage
            self.enter(name)
            try:
                return function(*args, **kwargs)
            finally:
                self.exit()
        timed.__wrapped__ = function
        timed.__name__ = getattr(function, "__name__", stage)
        return timed


def _resolve(target: str):
    """(owner, attribute name, function) of "module:function" / "module:Class.method", or None if absent."""
    module_name, _, qualname = target.partition(":")
    try:
        owner = importlib.import_module(module_name)
    except ImportError:
        return None
    *classes, name = qualname.split(".")
    for class_name in classes:
        owner = getattr(owner, class_name, None)
        if owner is None:
            return None
    function = getattr(owner, name, None)
    return None if function is None else (owner, name, function)


def install(clock: StageClock) -> list[str]:
    """Wrap every present target, in its own module or class and wherever `from ... import` bound it inside the
    package; returns the absent targets."""
    for package in ("distill.protocols.forecast.run", "distill.protocols.forecast.output"):
        importlib.import_module(package)  # so that every binding exists before it is replaced
    absent = []
    for stage, target, label in STAGES:
        found = _resolve(target)
        if found is None:
            absent.append(target)
            continue
        owner, name, function = found
        timed = clock.wrap(stage, function, label)
        if isinstance(owner, type):
            setattr(owner, name, timed)
            continue
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("distill") and module is not None and getattr(module, name, None) is function:
                setattr(module, name, timed)
    return absent


def print_tree(clock: StageClock, total_wall: float, total_cpu: float) -> None:
    print(f"{'stage':52s} {'calls':>5s} {'wall s':>8s} {'self':>7s} {'CPU s':>8s} {'self':>7s} {'wall %':>6s} "
          f"{'peak MB':>7s}")
    for path in sorted(clock.records, key=lambda p: [_first_seen(clock, p[:i + 1]) for i in range(len(p))]):
        record = clock.records[path]
        name = "  " * (len(path) - 1) + path[-1]
        print(f"{name[:52]:52s} {record.calls:5d} {record.wall:8.2f} {record.wall - record.child_wall:7.2f} "
              f"{record.cpu:8.2f} {record.cpu - record.child_cpu:7.2f} {100 * record.wall / total_wall:6.1f} "
              f"{record.peak_kb / 1024:7.0f}")
    top = [r for p, r in clock.records.items() if len(p) == 1]
    other_wall = total_wall - sum(r.wall for r in top)
    other_cpu = total_cpu - sum(r.cpu for r in top)
    print(f"{'(other: outside every wrapped stage)':52s} {'':5s} {other_wall:8.2f} {'':7s} {other_cpu:8.2f} "
          f"{'':7s} {100 * other_wall / total_wall:6.1f}")


def _first_seen(clock: StageClock, path: tuple[str, ...]) -> int:
    return list(clock.records).index(path) if path in clock.records else 0


def profiled_run(recipe: str, overrides: list[str], profiler: cProfile.Profile | None = None,
                 stage: str | None = None, torch_profiler=None) -> tuple[StageClock, float, float, list[str]]:
    """One run through `distill.protocols.execute` with every stage wrapped: (clock, wall s, CPU s, absent)."""
    config = protocols.load_config(recipe, overrides)
    clock = StageClock()
    absent = install(clock)
    if stage:
        clock.profiled_stage, clock.profiler = stage, profiler
    out_dir = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "run"
    _reset_peak()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler and not stage:
        profiler.enable()
    if torch_profiler:
        torch_profiler.__enter__()
    clock.enter("distill.protocols.execute")
    protocols.execute(config, out_dir, show_progress=False)
    clock.exit()
    if torch_profiler:
        torch_profiler.__exit__(None, None, None)
    if profiler and not stage:
        profiler.disable()
    _uninstall()
    return clock, time.perf_counter() - wall0, time.process_time() - cpu0, absent


def _uninstall() -> None:
    """Put back every function `install` wrapped (so a second run is wrapped once, not twice)."""
    for _, target, _ in STAGES:
        found = _resolve(target)
        if found is None:
            continue
        owner, name, timed = found
        original = getattr(timed, "__wrapped__", None)
        if original is None:
            continue
        if isinstance(owner, type):
            setattr(owner, name, original)
            continue
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("distill") and module is not None and getattr(module, name, None) is timed:
                setattr(module, name, original)


def in_process(args: argparse.Namespace) -> None:
    imports = time.perf_counter()
    for package in ("distill.protocols.forecast.run", "distill.protocols.forecast.output"):
        importlib.import_module(package)
    imported = time.perf_counter()
    profiler = cProfile.Profile() if args.cprofile else None
    torch_profiler = (torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                      if args.torch_profiler else None)
    load = os.getloadavg()
    clock, wall, cpu, absent = profiled_run(args.recipe, args.set, profiler, args.stage, torch_profiler)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    overrides = " ".join(args.set) or "its defaults"
    print(f"{args.recipe} at {overrides}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS "
          f"{max(r.peak_kb for r in clock.records.values()) / 1024:.0f} MB (process max {peak:.0f} MB); "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"imports before the run (not in the table): torch {TORCH_IMPORTED - START:.2f} s, distill and the "
          f"protocol's modules {imported - imports + (imports - TORCH_IMPORTED):.2f} s")
    if profiler or torch_profiler:
        print("(times below include the profilers' own overhead)")
    print_tree(clock, wall, cpu)
    if absent:
        print("absent in this version (not timed): " + ", ".join(absent))
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(args.cprofile)
        print(stream.getvalue())
    if torch_profiler:
        print(torch_profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.torch_profiler))


def eta(args: argparse.Namespace) -> None:
    """Two short runs (`--eta-at` epochs) -> the fixed and per-epoch cost of every top-level stage -> the time of
    a run at `--eta` epochs, in CPU seconds (what an idle core would take) and in wall seconds at this load."""
    short, long = args.eta_at
    runs = {}
    for epochs in (short, long):
        load = os.getloadavg()[0]
        clock, wall, cpu, _ = profiled_run(args.recipe, [*args.set, f"train.epochs={epochs}"])
        runs[epochs] = (clock, wall, cpu)
        print(f"{args.recipe} at {epochs} epochs: wall {wall:.1f} s, CPU {cpu:.1f} s (load {load:.2f})", flush=True)
    (clock_a, wall_a, cpu_a), (clock_b, wall_b, cpu_b) = runs[short], runs[long]
    print(f"{'top-level stage':32s} {'CPU s/epoch':>11s} {'fixed CPU s':>11s} {f'CPU s at {args.eta}':>14s}")
    for path, record in clock_b.records.items():
        if len(path) not in (2, 3) or path[0] != "distill.protocols.execute":
            continue
        before = clock_a.records.get(path, Record())
        per_epoch = (record.cpu - before.cpu) / (long - short)
        fixed = before.cpu - per_epoch * short
        print(f"{'  ' * (len(path) - 2) + path[-1]:32s} {per_epoch:11.2f} {fixed:11.2f} "
              f"{fixed + per_epoch * args.eta:14.1f}")
    per_cpu, per_wall = (cpu_b - cpu_a) / (long - short), (wall_b - wall_a) / (long - short)
    eta_cpu, eta_wall = cpu_a + per_cpu * (args.eta - short), wall_a + per_wall * (args.eta - short)
    print(f"ETA at {args.eta} epochs: CPU {eta_cpu:.0f} s = {eta_cpu / 60:.1f} min (one idle core), wall at this "
          f"load {eta_wall:.0f} s = {eta_wall / 60:.1f} min; computed as the {short}-epoch run + "
          f"({args.eta} - {short}) x the per-epoch difference of the {short}- and {long}-epoch runs "
          f"({per_cpu:.2f} CPU s, {per_wall:.2f} wall s per epoch)")


@dataclass
class CliRun:
    wall: float
    peak_rss: float  # MB, the largest single process (the kernel's ru_maxrss)
    tree_pss: float  # MB, the process tree's peak proportional set size (sampled)
    tree_rss: float  # MB, the tree's peak summed resident size (sampled; counts shared pages twice)
    processes: int


def _cli_run(recipe: str, overrides: list[str]) -> CliRun:
    """Wall time and memory of one `distill run` process (and any worker processes it forks), as a user types it."""
    out_dir = Path(tempfile.mkdtemp(prefix="bench-profile-cli-")) / "run"
    command = [sys.executable, "-m", "distill.cli", "run", recipe, "--out", str(out_dir)]
    for assignment in overrides:
        command += ["--set", assignment]
    run = measured_run(command, os.environ.copy())
    return CliRun(run.wall, run.usage.ru_maxrss / 1024, run.sampler.peak_pss / 1024, run.sampler.peak_rss / 1024,
                  run.sampler.most_processes)


def cli_rounds(args: argparse.Namespace) -> None:
    recipes = [args.recipe] + ([args.against] if args.against else [])
    print(f"`distill run` processes, {args.cli} round(s) alternating {' and '.join(recipes)}"
          f" (--set {' '.join(args.set)})" * bool(args.set))
    figures: dict[str, list[CliRun]] = {recipe: [] for recipe in recipes}
    ratios = []
    for round_number in range(1, args.cli + 1):
        order = recipes if round_number % 2 else recipes[::-1]
        for recipe in order:
            load = os.getloadavg()[0]
            run = _cli_run(recipe, args.set)
            figures[recipe].append(run)
            print(f"round {round_number}: {recipe}: wall {run.wall:.1f} s, peak RSS {run.peak_rss:.0f} MB (largest "
                  f"process), process tree peak PSS {run.tree_pss:.0f} MB / summed RSS {run.tree_rss:.0f} MB "
                  f"({run.processes} process(es); load {load:.2f})", flush=True)
        if args.against:
            ratios.append(figures[args.recipe][-1].wall / figures[args.against][-1].wall)
            print(f"round {round_number}: wall ratio {args.recipe} / {args.against} = {ratios[-1]:.2f}")
    for recipe, runs in figures.items():
        print(f"{recipe}: median wall {statistics.median(r.wall for r in runs):.1f} s, max peak RSS "
              f"{max(r.peak_rss for r in runs):.0f} MB, max tree PSS {max(r.tree_pss for r in runs):.0f} MB over "
              f"{len(runs)} run(s)")
    if ratios:
        print(f"wall ratio {args.recipe} / {args.against}: median {statistics.median(ratios):.2f} of {len(ratios)} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="covid-lstm", help="recipe name or YAML file (covid-lstm)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="print the N functions with most own time")
    parser.add_argument("--stage", help="with --cprofile: profile only inside the stages of this name (e.g. figures)")
    parser.add_argument("--torch-profiler", type=int, default=0, metavar="N", help="print the N costliest torch ops")
    parser.add_argument("--cli", type=int, default=0, metavar="ROUNDS",
                        help="time whole `distill run` processes instead (no stage breakdown)")
    parser.add_argument("--eta", type=int, metavar="EPOCHS", help="estimate a run at EPOCHS from two short runs")
    parser.add_argument("--eta-at", type=int, nargs=2, default=(1, 3), metavar=("A", "B"),
                        help="with --eta: the epochs of the two short runs (1 3)")
    parser.add_argument("--against", help="with --cli: a second recipe (name or YAML), alternated with the first")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cli:
        cli_rounds(args)
    elif args.eta:
        eta(args)
    else:
        in_process(args)


if __name__ == "__main__":
    main()

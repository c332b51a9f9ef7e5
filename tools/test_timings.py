"""Measure every test's CPU time, and write the `slow` tier's list (tests/slow-tests.txt) from the measurement.

CPU time (this process and the processes it waited for) is what a test costs whatever else shares the machine;
wall time on a busy 2-core machine can be five times a quiet one's. As a pytest plugin it appends one line per
test, `cpu_seconds wall_seconds node-id`, to the file named by $DISTILL_TEST_TIMINGS, as each test ends:

    DISTILL_TEST_TIMINGS=timings.txt PYTHONPATH=src:tools python -m pytest -q -p test_timings
    python tools/test_timings.py timings.txt --budget 90     # rewrite tests/slow-tests.txt

The list holds the costliest tests, so that the rest (`pytest -m "not slow"`) cost at most `--budget` CPU seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pytest

SLOW_LIST = Path(__file__).resolve().parents[1] / "tests" / "slow-tests.txt"


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ARG001 - pytest's signature
    cpu, wall = _cpu_seconds(), time.perf_counter()
    yield
    target = os.environ.get("DISTILL_TEST_TIMINGS")
    if target:
        with open(target, "a") as record:
            record.write(f"{_cpu_seconds() - cpu:.3f} {time.perf_counter() - wall:.3f} {item.nodeid}\n")


def slow_list(timings: dict[str, float], budget: float) -> list[tuple[float, str]]:
    """The costliest tests, most costly first, until the others cost at most `budget` CPU seconds."""
    ordered = sorted(timings.items(), key=lambda item: -item[1])
    remaining = sum(timings.values())
    chosen = []
    for node, seconds in ordered:
        if remaining <= budget:
            break
        chosen.append((seconds, node))
        remaining -= seconds
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timings", help="the file the plugin wrote")
    parser.add_argument("--budget", type=float, default=90.0, help="CPU seconds left to the quick tiers")
    args = parser.parse_args(argv)
    timings: dict[str, float] = {}
    for line in Path(args.timings).read_text().splitlines():
        cpu, _, node = line.split(" ", 2)
        timings[node] = float(cpu)  # a test measured twice keeps its last measurement
    chosen = slow_list(timings, args.budget)
    left = sum(timings.values()) - sum(seconds for seconds, _ in chosen)
    header = [f"# written by tools/test_timings.py from {len(timings)} measured tests: CPU seconds, node id.",
              f"# These {len(chosen)} cost {sum(s for s, _ in chosen):.0f} s; the other tests {left:.0f} s "
              f"(budget {args.budget:g} s)."]
    SLOW_LIST.write_text("\n".join(header + [f"{seconds:.1f} {node}" for seconds, node in chosen]) + "\n")
    print(f"wrote {SLOW_LIST}: {len(chosen)} slow tests; the others cost {left:.0f} CPU seconds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

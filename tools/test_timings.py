"""Measure every test's CPU time, and write the `slow` tier's list (tests/slow-tests.txt) from the measurement.

CPU time (this process and the processes it waited for) is what a test costs whatever else shares the machine;
wall time on a busy 2-core machine can be five times a quiet one's. As a pytest plugin it appends to the file named
by $DISTILL_TEST_TIMINGS, as each test ends, one line `cpu_seconds wall_seconds node-id`, and for every shared
setup (a module- or session-scoped fixture, or a run tests/conftest.py caches for the session, `record_shared`)
a tab-separated `shared` line (its CPU seconds, its key, the test that paid for it) and `uses` lines (which tests
need it):

    DISTILL_TEST_TIMINGS=timings.txt PYTHONPATH=src:tools python -m pytest -q -p test_timings
    python tools/test_timings.py timings.txt --budget 90     # rewrite tests/slow-tests.txt

A shared setup is paid once by whichever of its tests runs first, so charging it to that test would only move it:
once that test is slow, the next one pays. Here a test's own cost excludes the setups it paid for, and a setup is
charged to the quick tiers while any test that needs it stays there. The list holds the tests (or the groups of
tests sharing a setup) whose removal saves the most CPU time per test, until the rest (`pytest -m "not slow"`)
cost at most `--budget` CPU seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

SLOW_LIST = Path(__file__).resolve().parents[1] / "tests" / "slow-tests.txt"
SHARED_SCOPES = ("session", "package", "module", "class")
_setup_stack: list[float] = []  # CPU seconds of the shared setups nested inside the one being set up


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _append(line: str) -> None:
    target = os.environ.get("DISTILL_TEST_TIMINGS")
    if target:
        with open(target, "a") as record:
            record.write(line + "\n")


def record_shared(key: str, cpu_seconds: float, paid_by: str) -> None:
    """Record a shared setup made lazily inside a test (tests/conftest.py's cached runs); no-op when not measuring."""
    _append(f"shared\t{cpu_seconds:.3f}\t{key}\t{paid_by}")


def record_use(key: str, node: str) -> None:
    """Record that test `node` needs the shared setup `key`."""
    _append(f"uses\t{node}\t{key}")


def _fixture_key(fixturedef: pytest.FixtureDef, node_id: str, param: object) -> str:
    """A shared fixture instance: its name, where it is shared (the module, or the session) and its parameter."""
    where = "<session>" if fixturedef.scope in ("session", "package") else node_id.split("::")[0]
    return f"{where}::{fixturedef.argname}" + ("" if param is None else f"[{param}]")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    if fixturedef.scope not in SHARED_SCOPES:
        yield
        return
    start = _cpu_seconds()
    _setup_stack.append(0.0)
    yield
    nested = _setup_stack.pop()
    spent = _cpu_seconds() - start
    if _setup_stack:
        _setup_stack[-1] += spent
    node = request._pyfuncitem.nodeid  # the test being set up, which pays for the fixture
    record_shared(_fixture_key(fixturedef, node, getattr(request, "param", None)), spent - nested, node)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ARG001 - pytest's signature
    cpu, wall = _cpu_seconds(), time.perf_counter()
    yield
    _append(f"{_cpu_seconds() - cpu:.3f} {time.perf_counter() - wall:.3f} {item.nodeid}")
    info = getattr(item, "_fixtureinfo", None)
    params = getattr(getattr(item, "callspec", None), "params", {})
    for name in item.fixturenames if info is not None else []:
        definitions = info.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in SHARED_SCOPES:
            record_use(_fixture_key(definitions[-1], item.nodeid, params.get(name)), item.nodeid)


def read_timings(path: Path) -> tuple[dict[str, float], dict[str, float], dict[str, set[str]]]:
    """Each test's own CPU seconds (without the shared setups it paid for), each shared setup's, and each setup's
    tests. A test or setup measured twice keeps its last measurement."""
    costs: dict[str, float] = {}
    shared: dict[str, tuple[float, str]] = {}
    users: dict[str, set[str]] = defaultdict(set)
    for line in path.read_text().splitlines():
        if line.startswith("shared\t"):
            _, cpu, key, paid_by = line.split("\t")
            shared[key] = (float(cpu), paid_by)
        elif line.startswith("uses\t"):
            _, node, key = line.split("\t")
            users[key].add(node)
        elif line.strip():
            cpu, _, node = line.split(" ", 2)
            costs[node] = float(cpu)
    for cpu, paid_by in shared.values():
        if paid_by in costs:
            costs[paid_by] = max(0.0, costs[paid_by] - cpu)
    return costs, {key: cpu for key, (cpu, _) in shared.items()}, {key: users[key] & set(costs) for key in shared}


def quick_cost(fast: set[str], costs: dict[str, float], shared: dict[str, float], users: dict[str, set[str]]) -> float:
    """CPU seconds of the tests in `fast` and of every shared setup one of them needs."""
    return sum(costs[node] for node in fast) + sum(cpu for key, cpu in shared.items() if users[key] & fast)


def slow_list(costs: dict[str, float], budget: float, shared: dict[str, float] | None = None,
              users: dict[str, set[str]] | None = None) -> list[tuple[float, str]]:
    """The tests to mark slow, costliest first, with what each saves, until the others cost at most `budget`.

    Greedy: each step moves to the slow tier the candidate that saves the most CPU seconds per test - one test, or
    every quick test of one shared setup (whose cost is saved only when none of its tests stays quick)."""
    shared, users = shared or {}, users or {}
    fast, chosen = set(costs), []
    while fast and quick_cost(fast, costs, shared, users) > budget:
        quick_users = {key: users[key] & fast for key in shared if users[key] & fast}
        candidates = [{node} for node in fast] + list(quick_users.values())

        def per_test(group: set[str], quick_users: dict[str, set[str]] = quick_users) -> float:
            freed = sum(shared[key] for key, nodes in quick_users.items() if nodes <= group)
            return (sum(costs[node] for node in group) + freed) / len(group)

        best = max(candidates, key=lambda group: (per_test(group), -len(group)))
        share = per_test(best)
        chosen += sorted(((share, node) for node in best), key=lambda item: item[1])
        fast -= best
    return sorted(chosen, key=lambda item: -item[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timings", help="the file the plugin wrote")
    parser.add_argument("--budget", type=float, default=90.0, help="CPU seconds left to the quick tiers")
    args = parser.parse_args(argv)
    costs, shared, users = read_timings(Path(args.timings))
    chosen = slow_list(costs, args.budget, shared, users)
    left = quick_cost(set(costs) - {node for _, node in chosen}, costs, shared, users)
    total = quick_cost(set(costs), costs, shared, users)
    header = [f"# written by tools/test_timings.py from {len(costs)} measured tests: CPU seconds saved, node id.",
              f"# These {len(chosen)} (with the shared setups only they need) cost {total - left:.0f} s; the other "
              f"tests {left:.0f} s (budget {args.budget:g} s)."]
    SLOW_LIST.write_text("\n".join(header + [f"{seconds:.1f} {node}" for seconds, node in chosen]) + "\n")
    print(f"wrote {SLOW_LIST}: {len(chosen)} slow tests; the others cost {left:.0f} CPU seconds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

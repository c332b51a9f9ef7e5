"""Type-check src/distill with mypy (settings in pyproject.toml) and fail when any file has more errors than the
baseline allows (tools/mypy-baseline.txt: `count path`, one line per file that still has errors).

A file missing from the baseline must have none, so the packages listed in ZERO_ERRORS stay clean and a new file
starts clean; fixing errors is always allowed, and `--update` rewrites the baseline to the current counts (do it
when you fix some, so they cannot come back). Run from the repository root:

    python tools/check_mypy.py            # .ci/run
    python tools/check_mypy.py --update
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).with_name("mypy-baseline.txt")
ZERO_ERRORS = ("src/distill/models/", "src/distill/losses/")  # packages that must stay free of mypy errors
ERROR = re.compile(r"^(?P<path>[^:]+\.py):\d+: error: ")


def error_counts() -> tuple[Counter[str], str]:
    """mypy's errors per file, and its output."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 1):  # 2: mypy itself failed (a bad config, a crash)
        raise SystemExit(f"mypy failed:\n{result.stdout}{result.stderr}")
    counts = Counter(match["path"] for line in result.stdout.splitlines() if (match := ERROR.match(line)))
    return counts, result.stdout


def read_baseline() -> Counter[str]:
    lines = BASELINE.read_text().splitlines() if BASELINE.is_file() else []
    return Counter({path: int(count) for count, path in (line.split() for line in lines
                                                         if line.strip() and not line.startswith("#"))})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write the current counts as the baseline")
    args = parser.parse_args(argv)
    counts, output = error_counts()
    if args.update:
        listed = [f"{count} {path}" for path, count in sorted(counts.items())]
        BASELINE.write_text(f"# mypy errors per file ({sum(counts.values())} in all); tools/check_mypy.py\n"
                            + "\n".join(listed) + "\n")
        print(f"wrote {BASELINE.relative_to(ROOT)}: {sum(counts.values())} errors in {len(counts)} files")
    baseline = read_baseline()
    zeroed = [path for path in baseline if path.startswith(ZERO_ERRORS)]
    grown = {path: (count, baseline[path]) for path, count in counts.items() if count > baseline[path]}
    for path, (count, allowed) in sorted(grown.items()):
        print(f"{path}: {count} mypy errors, the baseline allows {allowed}")
        print("\n".join(line for line in output.splitlines() if line.startswith(path + ":")))
    if zeroed:
        print(f"the baseline lists files of {', '.join(ZERO_ERRORS)}, which must have no errors: {', '.join(zeroed)}")
    print(f"mypy: {sum(counts.values())} errors in {len(counts)} files (baseline {sum(baseline.values())})")
    return 1 if grown or zeroed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the full `mackey-glass-pi` grid (horizons 3, 5, 8, 15 x training sizes 100, 500, 1500, 5 blocked folds)
and print the wall time, the accuracy table and where the privileged teacher helps the student.

    python benchmarks/bench_mackey_glass_pi.py [--set key=value ...]
"""
from __future__ import annotations

import argparse
import time

from distill.io.tables import text_table
from distill.protocols import load_config
from distill.protocols.privileged.report import cell_table, helps_lines
from distill.protocols.privileged.run import run_privileged

TARGET_SECONDS = 120


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    config = load_config("mackey-glass-pi", arguments.set)
    start = time.perf_counter()
    results = run_privileged(config, show_progress=False)
    wall = time.perf_counter() - start
    cells = len(results["cells"])
    print(f"mackey-glass-pi: {cells} cells x {config.cv.folds} folds x 3 trained models, {config.train.epochs} "
          f"epochs, threads {config.train.threads}")
    print(f"wall time: {wall:.1f} s (target <= {TARGET_SECONDS} s: {'met' if wall <= TARGET_SECONDS else 'MISSED'})")
    print(text_table(cell_table(results)))
    print("\n".join(helps_lines(results)))


if __name__ == "__main__":
    main()

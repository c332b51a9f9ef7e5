"""Run the nst-ta recipe (every variant: NST linear / poly / gaussian, with and without the 101 -> 50 -> 34
assistant chain, and the student alone) as `distill run` does and print wall time and accuracies.

Target (issues 3, 26): at most 10 minutes on a 2-core CPU; nst-ta takes 20-30, nst-ta-quick (8x8, 3 epochs) is the
one that meets it. Usage: python benchmarks/bench_nst_ta.py [nst-ta | nst-ta-quick] [--out DIR] [--set key=value ...]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from distill import protocols
from distill.io.run_writer import write_run
from distill.io.tables import format_mean_sem
from distill.protocols.classification.run import classification_output, run_classification

TARGET_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default="nst-ta", help="nst-ta (default) or nst-ta-quick")
    parser.add_argument("--out", help="output folder (default: a temporary folder)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="bench-nst-ta-"))
    start, cpu_start = time.perf_counter(), time.process_time()
    config = protocols.load_config(args.recipe, args.set)
    run = run_classification(config, show_progress=False)
    trained = time.perf_counter() - start
    write_run(classification_output(run, config), config, out_dir)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    results = run.results
    print(f"{config.name}, {results['folds']} folds, {len(run.students)} students: wall {wall:.1f} s "
          f"(protocol {trained:.1f} s), CPU {cpu:.1f} s (= the wall time of this 1-thread run on an idle core); "
          f"target <= {TARGET_SECONDS} s")
    for name, entry in results["models"].items():
        teacher = run.students[name].teacher if name in run.students else "-"
        print(f"  {name:24s} from {teacher:8s} params {entry['params']:>8,}  "
              f"accuracy {format_mean_sem(entry['test']['accuracy'])}")
    for key, entry in results["comparison"].items():
        if key.endswith("_vs_student_scratch"):
            print(f"  {key:45s} accuracy {-entry['mean']:+.4f} +- {entry['sem']:.4f}")
    for chain in results.get("chains", []):
        print("  chain: " + " -> ".join(f"{link['model']} {100 * link['accuracy']['mean']:.2f}%"
                                        for link in chain["links"]))
    print(f"report: {out_dir / 'report.md'}")


if __name__ == "__main__":
    main()

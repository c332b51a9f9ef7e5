"""Golden results: every built-in recipe at tiny scale, its results.json numbers stored as JSON.

    python tests/golden/make_golden.py            # rewrite tests/golden/<recipe>.json (only on purpose)

`tests/test_golden.py` reruns the same tiny recipes and asserts the numbers are unchanged, so a refactor that
claims "behaviour unchanged" is checked. Only the public entry point (`distill.run` on a YAML file) is used, so
the script survives moves inside the package. Timing-based values (latency, wall time) and paths are dropped.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

import distill

GOLDEN = Path(__file__).parent
RECIPES = ["covid-lstm", "covid-seed", "hinton-digits", "hinton-omit", "kd-sweep", "lupi-synthetic",
           "mackey-glass-pi", "nst-ta", "pm25-pi", "subclass-digits"]
# keys whose values depend on the clock, the machine or the output folder, not on the numbers the code computes;
# `checkpoints` lists saved files (a protocol that starts saving its models adds it without changing a number)
SKIP_KEYS = {"latency_ms", "latency", "wall_seconds", "seconds", "time", "timestamp", "files", "path", "out",
             "checkpoint", "checkpoints", "created"}


def recipe_raw(name: str) -> dict:
    return yaml.safe_load((Path(distill.__file__).parent / "recipes" / f"{name}.yaml").read_text())


def write_beijing(path: Path, hours: int = 400, seed: int = 0) -> None:
    """A small file in the UCI 'Beijing PM2.5' layout: pm2.5 follows the dew point, one missing stretch."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2010-01-01", periods=hours, freq="h")
    dewp = np.cumsum(rng.normal(0, 1, hours))
    pm = 80 + 5 * np.roll(dewp, -3) + rng.normal(0, 3, hours)
    pm[200:210] = np.nan
    frame = pd.DataFrame({"No": np.arange(1, hours + 1), "year": time.year, "month": time.month, "day": time.day,
                          "hour": time.hour, "pm2.5": pm, "DEWP": dewp, "TEMP": rng.normal(0, 5, hours),
                          "PRES": 1020 + rng.normal(0, 2, hours), "cbwd": rng.choice(["NE", "NW", "SE", "cv"], hours),
                          "Iws": rng.uniform(0, 10, hours), "Is": 0, "Ir": 0})
    frame.to_csv(path, index=False, na_rep="NA")


def tiny(name: str, work: Path) -> dict:
    """The recipe shrunk to about a second: 2 folds, 1-3 epochs, small data, one torch thread."""
    raw = recipe_raw(name)
    protocol = raw.get("protocol", "forecast")
    if protocol != "lupi-synthetic":
        raw["report"] = {**(raw.get("report") or {}), "latency_repeats": 3}
    if protocol == "forecast":
        raw["data"].update(sim_days=200)
        raw["cv"]["folds"] = 2
        raw["train"].update(epochs=2, batch_size=64 if raw["train"]["batch_size"] > 1 else 16, threads=1)
        raw["teacher"]["options"].update(hidden=4, layers=1)
    elif protocol == "classification":
        raw["data"]["subset"] = 120
        raw["cv"]["folds"] = 2
        raw["train"].update(epochs=1, threads=1)
        specs = [raw["teacher"], *raw.get("students", {}).values()]
        if "sweep" in raw:
            raw["sweep"].update(temperatures=raw["sweep"]["temperatures"][:2], alphas=raw["sweep"]["alphas"][:2])
            specs.append(raw["sweep"]["student"])
        for spec in specs:
            spec.pop("epochs", None)
            if spec["model"] == "resnet":
                spec["options"] = {**spec["options"], "depth": 18 if spec["options"]["depth"] > 50 else 8,
                                   "width": 0.0625}
    elif protocol == "privileged":
        raw["cv"]["folds"] = 2
        raw["train"].update(epochs=3, threads=1)
        if raw["data"]["source"] == "mackey-glass":
            raw["data"]["mackey_glass"]["length"] = 300
            raw["target"].update(horizons=[3, 5], train_sizes=[40, 80])
        else:
            write_beijing(work / "beijing.csv")
            raw["data"]["path"] = str(work / "beijing.csv")
            raw["target"].update(horizons=[3, 8], train_sizes=[60, 120])
    elif protocol == "lupi-synthetic":
        raw["synthetic"].update(repetitions=3, epochs=30, dim=5, train_size=20, test_size=40)
    return raw


def numbers(value, work: str):
    """The deterministic content of a results.json: numbers, flags, names and notes; no timings, no paths."""
    if isinstance(value, dict):
        return {k: numbers(v, work) for k, v in value.items() if k not in SKIP_KEYS}
    if isinstance(value, list):
        return [numbers(v, work) for v in value]
    if isinstance(value, str) and work in value:
        return value.replace(work, "<work>")
    return value


def run_tiny(name: str, work: Path) -> dict:
    """Run one recipe at tiny scale into `work`/out (its config and data files in `work`); its whole results.json.

    tests/conftest.py `tiny_recipe_run` shares one such run per recipe between the tests of the goldens, of the
    results.json contract and of the figures."""
    torch.set_num_threads(1)
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump(tiny(name, work), sort_keys=False))
    return distill.run(str(config), out=work / "out", show_progress=False)


def run_recipe(name: str) -> dict:
    """Run one recipe at tiny scale in a temporary folder; its results.json without timings and paths."""
    with tempfile.TemporaryDirectory() as work:
        return numbers(run_tiny(name, Path(work)), work)


def main(names: list[str]) -> None:
    for name in names or RECIPES:
        (GOLDEN / f"{name}.json").write_text(json.dumps(run_recipe(name), indent=1, sort_keys=True) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main(sys.argv[1:])

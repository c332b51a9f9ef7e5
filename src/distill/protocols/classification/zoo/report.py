"""kd-zoo's report: one table of every method (accuracy +- SEM over seeds at the best and at the last epoch,
time per epoch, verdicts against the student alone and vanilla KD) and one figure."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distill.io.tables import format_mean_sem, markdown_table, text_table

PAPERS = {"teacher": "-", "none": "-", "soft_target": "Hinton et al. 2015", "dkd": "Zhao et al. 2022",
          "dist": "Huang et al. 2022", "at": "Zagoruyko & Komodakis 2017", "pkt": "Passalis & Tefas 2018",
          "rkd": "Park et al. 2019", "sp": "Tung & Mori 2019", "vid": "Ahn et al. 2019", "crd": "Tian et al. 2020",
          "nst": "Huang & Wang 2017", "hint": "Romero et al. 2015"}
STANDARDISED = "Sun et al. 2024"
VERDICT = {"better": "better", "worse": "worse", "not distinguishable": "n.d."}


def _paper(results: dict, name: str) -> str:
    method = results["models"][name]["method"]
    settings = results["settings"].get(name, {}).get("settings", {})
    return PAPERS[method] + (f" + {STANDARDISED}" if settings.get("standardise") else "")


def _verdict(results: dict, name: str, baseline: str, suffix: str = "") -> str:
    entry = results["comparison"].get(f"{name}_vs_{baseline}{suffix}")
    if entry is None:
        return "-"
    return f"{VERDICT[entry['verdict']]} ({entry['mean'] * 100:+.1f} pt, p={entry['p_adjusted']:.2g})"


def zoo_rows(results: dict, scratch: str, kd: str) -> list[list[str]]:
    """Header and one row per model: method, paper, best- and last-epoch accuracy, best epoch, s/epoch, verdicts."""
    rows = [["model", "method", "paper", "accuracy (best epoch)", "accuracy (last epoch)", "best epoch", "s / epoch",
             "CPU s / epoch", f"vs {scratch}", f"vs {kd}", f"vs {scratch} (last)", f"vs {kd} (last)"]]
    for name, entry in results["models"].items():
        rows.append([name, entry["method"], _paper(results, name),
                     format_mean_sem(entry["test_best_epoch"]["accuracy"], 4),
                     format_mean_sem(entry["test_last_epoch"]["accuracy"], 4),
                     f"{entry['best_epoch']['mean']:.1f}", f"{entry['seconds_per_epoch']['mean']:.3f}",
                     f"{entry['cpu_seconds_per_epoch']['mean']:.3f}",
                     _verdict(results, name, scratch), _verdict(results, name, kd),
                     _verdict(results, name, scratch, "_last_epoch"), _verdict(results, name, kd, "_last_epoch")])
    if results["published"]:  # beside ours, never mixed with them
        rows[0].insert(5, "published top-1 % (not ours)")
        for row in rows[1:]:
            value = results["published"].get(row[0])
            row.insert(5, "-" if value is None else f"{value:.2f}")
    return rows


def _published_note(results: dict) -> list[str]:
    if not results["published"]:
        return []
    return [f"Published top-1 accuracy (%): {results['published_source']}; copied from there, not measured here. "
            "Their protocol differs from ours: they train on every training image and report the test accuracy "
            "as their code does, where ours keep an inner-validation share of the training images to choose the "
            "best epoch and show the last epoch too; ours are fractions (0.7942 = 79.42 %)."]


def _caption(results: dict) -> str:
    split = "split of the training images" if results["data"].get("fixed_test") else "split"
    return (f"Test accuracy over {results['seeds']} seeds (mean +- SEM; each seed its own {split}, teacher and "
            "student initialisation). Best epoch: the weights at the lowest inner-validation NLL; last epoch: after "
            "the last. Verdicts: paired t-test over seeds, Holm-corrected over every comparison of the table; "
            "n.d. = not distinguishable (p >= 0.05).")


def zoo_summary(results: dict) -> list[str]:
    scratch, kd = _baselines(results)
    width = 9 if results["published"] else 8
    return [text_table([row[:width] for row in zoo_rows(results, scratch, kd)]), _caption(results),
            *_published_note(results)]


def _baselines(results: dict) -> tuple[str, str]:
    names = [entry["difference"].split(" - ")[1] for entry in results["comparison"].values()]
    scratch = next(name for name in names if results["models"][name]["method"] == "none")
    kd = next(name for name in names if results["models"][name]["method"] == "soft_target")
    return scratch, kd


def zoo_markdown(results: dict, config, figures: dict[str, str]) -> str:
    scratch, kd = config.scratch, config.kd
    rows = results["data"]["rows"]
    lines = [f"# {results['recipe']}", "", config.description.strip(), "",
             f"Data: {results['data']['source']}, {results['data']['images']} images of shape "
             f"{tuple(results['data']['shape'])}; per seed {rows['train']} training, {rows['validation']} inner-"
             f"validation and {rows['test']} test rows.", "",
             markdown_table(zoo_rows(results, scratch, kd)), "", _caption(results), "", *_published_note(results)]
    if results["published"]:
        lines.append("")
    for title, file in figures.items():
        lines += [f"## {title}", "", f"![{title}]({file})", ""]
    lines += ["## Settings", ""]
    for name, spec in results["settings"].items():
        extra = f", features {spec['features']}" if spec["features"] else ""
        lines.append(f"- {name}: {spec['method']}, settings {spec['settings']}{extra}")
    lines += ["", "## Notes", "", *[f"- {note}" for note in results["notes"]], ""]
    return "\n".join(lines)


def zoo_figures(results: dict, folder: Path) -> dict[str, str]:
    """Accuracy +- SEM per model, best and last epoch side by side."""
    from distill.io.plotting import plt, save_figure

    names = list(results["models"])
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    positions = np.arange(len(names))
    for offset, (key, label) in zip((-0.2, 0.2), (("test_best_epoch", "best epoch"), ("test_last_epoch", "last epoch"))):
        means = [results["models"][name][key]["accuracy"]["mean"] for name in names]
        sems = [results["models"][name][key]["accuracy"]["sem"] for name in names]
        ax.barh(positions + offset, means, height=0.4, xerr=sems, label=label)
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    low = min(results["models"][name][key]["accuracy"]["mean"] for name in names
              for key in ("test_best_epoch", "test_last_epoch"))
    ax.set_xlim(max(0.0, low - 0.05), 1.0)
    ax.set_xlabel(f"test accuracy (mean +- SEM over {results['seeds']} seeds)")
    ax.legend(loc="lower right")
    return {"Accuracy per method": save_figure(fig, folder / "accuracy.png").name}

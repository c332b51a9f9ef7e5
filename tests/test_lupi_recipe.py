"""The `lupi-synthetic` recipe: outputs and results contract at tiny scale, checks against the published table
computed from the numbers, the lambda x T sweep, and bad input."""
import json

import pytest

from distill.cli import main
from distill.protocols.lupi.experiments import MODELS, PUBLISHED
from distill.protocols.lupi.run import check_lines, published_checks

TINY = ["synthetic.repetitions=3", "synthetic.epochs=30", "synthetic.dim=5", "synthetic.train_size=20",
        "synthetic.test_size=40"]


def cli_args(*sets: str) -> list[str]:
    return [part for item in sets for part in ("--set", item)] + ["--no-progress"]


def fake_experiments(accuracies: dict[str, dict[str, float]]) -> dict:
    return {name: {model: {"accuracy": {"mean": value, "sem": 0.1, "per_repetition": [value, value + 1.0]}}
                   for model, value in models.items()} for name, models in accuracies.items()}


def test_run_writes_the_results_contract_and_report(tmp_path, capsys):
    status = main(["run", "lupi-synthetic", "--out", str(tmp_path), *cli_args(*TINY)])
    out, err = capsys.readouterr()
    assert status == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["experiments"]) == set(PUBLISHED)
    for models in results["experiments"].values():
        assert set(models) == set(MODELS)
        for entry in models.values():
            assert {"mean", "sem"} <= set(entry["accuracy"]) and len(entry["accuracy"]["per_repetition"]) == 3
    assert results["published"] == PUBLISHED and results["settings"]["repetitions"] == 3
    assert results["sweep"] is None
    report = (tmp_path / "report.md").read_text()
    assert "| clean_labels | privileged |" in report and "96 +- 0" in report and "sample_dependent:" in report
    assert "different coordinates" in report
    assert (tmp_path / "accuracy.png").stat().st_size > 0 and "repetitions: 3" in (tmp_path / "config.yaml").read_text()
    assert "report:" in out


def test_sweep_trains_a_grid_of_distilled_students(tmp_path, capsys):
    sets = [*TINY, "synthetic.experiments=[relevant_features]",
            "sweep={alpha: [0, 1], temperature: [1, 2, 5], experiment: relevant_features}"]
    assert main(["run", "lupi-synthetic", "--out", str(tmp_path), *cli_args(*sets)]) == 0
    sweep = json.loads((tmp_path / "results.json").read_text())["sweep"]
    assert [len(row) for row in sweep["distilled"]] == [2, 2, 2]
    assert {"mean", "sem"} == set(sweep["privileged"]) == set(sweep["distilled"][0][0])
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_checks_against_the_published_table_are_computed():
    close = {model: PUBLISHED["clean_labels"][model]["mean"] + 1.5 for model in MODELS}
    far = {model: PUBLISHED["relevant_features"][model]["mean"] for model in MODELS}
    far["regular"] -= 2.5
    swapped = {"privileged": 90.0, "regular": 71.0, "distilled": 69.0}
    checks = published_checks(fake_experiments({"clean_labels": close, "relevant_features": far,
                                                "clean_features": swapped}), PUBLISHED)
    assert checks["clean_labels"]["within_tolerance"] and not checks["relevant_features"]["within_tolerance"]
    assert checks["clean_features"]["ranking"] == ["privileged", "regular", "distilled"]
    lines = check_lines(checks)
    assert lines[0].startswith("clean_labels: within 2 points")
    assert "Holm p = n/a" in lines[0]  # two identical differences: the t-test is undefined, no verdict
    assert lines[1].startswith("relevant_features: NOT within 2 points") and "regular -2.50" in lines[1]
    assert "the published ranking privileged > distilled > regular is not established" in lines[2]


def repetitions(mean: float, spread: list[float]) -> dict:
    values = [mean + s for s in spread]
    return {"accuracy": {"mean": sum(values) / len(values), "sem": 0.1, "per_repetition": values}}


def test_a_ranking_matches_only_when_each_step_is_distinguishable():
    noise = [0.0, 0.4, -0.3, 0.2, -0.1, 0.3, -0.4, 0.1]
    clear = {"privileged": repetitions(90, noise), "distilled": repetitions(80, noise[::-1]),
             "regular": repetitions(70, noise)}
    # the published order, but distilled - regular = +0.28 on noise of +-0.6: the example
    close = {"privileged": repetitions(90, noise), "distilled": repetitions(70.28, [0.6, -0.6, 0.5, -0.5, 0.7, -0.7, 0.1, 0.0]),
             "regular": repetitions(70, noise)}
    checks = published_checks({"clean_features": clear, "sample_dependent": close}, PUBLISHED)
    assert checks["clean_features"]["ranking_verdict"] == "supported"
    entry = checks["sample_dependent"]["comparison"]["distilled_vs_regular"]
    assert {"mean", "sem", "ci95", "p_value", "p_adjusted", "verdict"} <= set(entry)
    assert entry["verdict"] == "not distinguishable" and entry["p_adjusted"] >= entry["p_value"]
    lines = check_lines(checks)
    assert "matches the published" in lines[0]
    assert "matches" not in lines[1] and "not distinguishable from regular" in lines[1]


@pytest.mark.parametrize("sets, message", [
    (["distill.alpha=1.5"], "bad value for distill.alpha: 1.5"),
    (["distill.temperature=0"], "bad value for distill.temperature: 0"),
    (["sweep={alpha: [0.5], temperature: [-2]}"], "bad value for sweep.temperature.0: -2"),
    (["synthetic.experiments=[nope]"], "bad value for synthetic.experiments.0: 'nope'"),
])
def test_bad_input_is_one_line_with_status_2(tmp_path, capsys, sets, message):
    status = main(["run", "lupi-synthetic", "--out", str(tmp_path), *cli_args(*TINY, *sets)])
    _, err = capsys.readouterr()
    assert status == 2 and message in err and err.count("\n") == 1


def test_saved_models_compute_the_trained_logits(tmp_path):
    import torch

    from distill.io.checkpoints import load_model
    from distill.protocols.lupi.experiments import run_lupi_synthetic

    trained = {}
    run_lupi_synthetic(repetitions=2, train_size=20, test_size=10, dim=5, epochs=3, experiments=["clean_labels"],
                       trained=trained)
    status = main(["run", "lupi-synthetic", "--out", str(tmp_path), *cli_args(*TINY, "synthetic.experiments=[clean_labels]")])
    assert status == 0
    saved = json.loads((tmp_path / "results.json").read_text())["checkpoints"]
    assert set(saved) == {f"clean_labels/{name}" for name in ("privileged", "regular", "distilled")}
    assert len(saved["clean_labels/regular"]["files"]) == 3  # one file per repetition
    batch = trained["clean_labels"]["regular"]
    x = torch.randn(2, 5, 7)  # (reps, d, n)
    from distill.protocols.lupi.run import as_modules
    for repetition, module in enumerate(as_modules(batch)):
        expected = batch.logits(x)[repetition].T  # (n, classes)
        assert torch.allclose(module(x[repetition].T), expected, atol=1e-6)
    assert load_model(tmp_path, "clean_labels/distilled", fold=3)(torch.zeros(1, 5)).shape == (1, 2)

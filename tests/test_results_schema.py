"""The results.json contract (distill.io.results_schema): every recipe's results at tiny scale conform, and the
checks can fail - a missing or renamed key, a wrong type or an unknown key in a stable section is refused with its
key path, while the forecasting protocol's extra keys (that protocol is still moving) are kept."""
import copy
import json
import math

import pytest
from cifar_files import TINY as CIFAR_TINY
from cifar_files import write_cifar100

from distill.config import recipe_names
from distill.errors import DistillError
from distill.io.results_schema import RESULTS, ResultsContractError, validate_results
from distill.io.run_writer import RunOutput, checked_results_json, write_run
from distill.protocols import load_config

# kd-zoo's recipes are not among the goldens (tests/golden/make_golden.py): their own tiny configs
ZOO_TINY = {
    "kd-zoo-digits": ["seeds=2", "train.epochs=1", "train.batch_size=32", "data.subset=120",
                      "methods.crd.settings.negatives=16", "teacher.options.channels=[4,8]", "teacher.options.hidden=16"],
    "kd-zoo": ["seeds=2", "train.epochs=1", "teacher.epochs=1", "data.subset=120", "methods.crd.settings.negatives=16"],
    "cifar100-zoo": [*CIFAR_TINY, "train.epochs=1"],  # on generated CIFAR-100 binary files (tests/cifar_files.py)
}


def protocol_of(recipe: str) -> str:
    return load_config(recipe).protocol


GOLDEN_RECIPES = [name for name in recipe_names() if name not in ZOO_TINY]  # make_golden.py's tiny scale


@pytest.mark.parametrize("recipe", GOLDEN_RECIPES)
def test_every_recipe_writes_results_that_match_its_protocol(recipe, tiny_recipe_run):
    results = tiny_recipe_run(recipe).results  # read back from results.json: what a reader sees
    model = validate_results(results, protocol_of(recipe))
    assert type(model) is RESULTS[protocol_of(recipe)] and model.recipe == recipe


@pytest.mark.parametrize("recipe", sorted(ZOO_TINY))
def test_kd_zoo_writes_results_that_match_its_protocol(recipe, tmp_path):
    from distill.cli import main
    if recipe == "kd-zoo":
        pytest.importorskip("mnist1d")
    data = [f"data.path={write_cifar100(tmp_path / 'cifar')}"] if recipe == "cifar100-zoo" else []
    argv = ["run", recipe, "--out", str(tmp_path / "run"), "--no-progress",
            *[a for o in [*ZOO_TINY[recipe], *data] for a in ("--set", o)]]
    assert main(argv) == 0
    validate_results(json.loads((tmp_path / "run" / "results.json").read_text()), "kd-zoo")


def test_every_kd_zoo_recipe_has_a_tiny_config():
    assert {name for name in recipe_names() if protocol_of(name) == "kd-zoo"} == set(ZOO_TINY)


def test_every_protocol_has_a_contract():
    assert {protocol_of(name) for name in recipe_names()} == set(RESULTS)


@pytest.fixture
def classification(tiny_recipe_run) -> dict:
    return tiny_recipe_run("hinton-digits").results


@pytest.fixture
def forecast(tiny_recipe_run) -> dict:
    return tiny_recipe_run("covid-seed").results


def contract_error(results: dict, protocol: str) -> str:
    with pytest.raises(ResultsContractError) as caught:
        validate_results(results, protocol)
    return str(caught.value)


def test_a_missing_key_is_named_by_its_path(classification):
    broken = copy.deepcopy(classification)
    del broken["models"]["teacher"]["test"]["accuracy"]["sem"]
    assert "models.teacher.test.accuracy.sem: Field required" in contract_error(broken, "classification")


def test_a_wrong_type_is_named_with_the_value(classification):
    broken = copy.deepcopy(classification)
    broken["models"]["student_kd"]["test"]["accuracy"]["per_fold"][1] = "0.5"
    message = contract_error(broken, "classification")
    assert "models.student_kd.test.accuracy.per_fold[1]" in message and "0.5" in message


def test_an_unknown_key_in_a_stable_section_is_refused(classification):
    broken = copy.deepcopy(classification)
    broken["comparison"]["student_kd_vs_teacher"]["p_val"] = 0.5
    broken["accuracy_table"] = []
    message = contract_error(broken, "classification")
    assert "comparison.student_kd_vs_teacher.p_val: Extra inputs are not permitted" in message
    assert "accuracy_table: Extra inputs are not permitted" in message


def test_a_verdict_outside_the_three_words_is_refused(classification):
    broken = copy.deepcopy(classification)
    broken["comparison"]["student_kd_vs_teacher"]["verdict"] = "significant"
    assert "comparison.student_kd_vs_teacher.verdict" in contract_error(broken, "classification")


def test_forecasting_keeps_extra_keys_and_checks_its_shared_parts(forecast):
    grown = copy.deepcopy(forecast)
    grown["new_section"] = {"anything": [1, 2]}
    grown["models"]["teacher"]["test"]["crps"] = {"mean": 1.0}
    validate_results(grown, "forecast")
    del grown["models"]["teacher"]["test"]["mae_original"]
    grown["comparison"]["student_kd_vs_teacher"]["wins"] = "two"
    message = contract_error(grown, "forecast")
    assert "models.teacher.test.mae_original: Field required" in message
    assert "comparison.student_kd_vs_teacher.wins" in message


def test_nan_is_written_as_null_and_null_is_a_valid_number(classification):
    results = copy.deepcopy(classification)
    results["models"]["teacher"]["test"]["accuracy"]["sem"] = math.nan
    text = checked_results_json(results, "classification")
    assert json.loads(text)["models"]["teacher"]["test"]["accuracy"]["sem"] is None


def test_the_run_writer_refuses_results_that_break_the_contract_and_publishes_nothing(classification, tmp_path):
    broken = copy.deepcopy(classification)
    del broken["folds"]
    output = RunOutput(results=broken, figures=lambda folder: {}, report=lambda figures: "", summary=[])
    out = tmp_path / "run"
    with pytest.raises(ResultsContractError, match="folds: Field required") as caught:
        write_run(output, load_config("hinton-digits"), out)
    assert not isinstance(caught.value, DistillError)  # a bug in a protocol, not a user error: full traceback
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_an_unknown_protocol_has_no_contract():
    with pytest.raises(ResultsContractError, match="no results.json model for protocol 'nope'"):
        validate_results({}, "nope")


def test_the_results_reference_in_docs_outputs_is_current():
    """docs/outputs.md's results.json reference is what tools/gen_output_docs.py writes from the models now."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "tools" / "gen_output_docs.py"
    spec = importlib.util.spec_from_file_location("gen_output_docs", path)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    current = generator.OUTPUT.read_text()
    assert generator.BEGIN in current, "docs/outputs.md lost its generated reference: run python tools/gen_output_docs.py"
    assert current == generator.with_reference(current), "docs/outputs.md is stale: run python tools/gen_output_docs.py"

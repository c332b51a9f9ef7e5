"""The documentation says what the code does: docs/config.md is the generator's current output, and every default
the README and docs/ state matches the schemas and the recipes.

A stated default is written in one of two forms, which the test finds and checks:
- inline, a key in backticks followed by `default VALUE` or `(default VALUE`, optionally `in RECIPE` after the
  value: "`train.epochs` (default 100; ...)", "`cv.folds` default 5 in covid-lstm";
- a Markdown table with a column headed `default` or `default (RECIPE)`, keys in backticks in the first column
  and their values in that column (several keys in one cell as `a` / `b` with values `1 / 2`).
A value is its first backticked token, or a leading number, true, false, none or null (prose such as "source
size" is not checked; "none" also stands for an empty list). Without a recipe (or for a `<name>` key) it is
checked against the schema default of every protocol that has the key; with one, against that recipe's config.
"""
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from distill.config import recipe_names
from distill.protocols import PROTOCOLS, load_config, protocol

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "tools" / "gen_config_docs.py")
gen_config_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_config_docs)

HAND_WRITTEN = [ROOT / "README.md", *(path for path in sorted((ROOT / "docs").glob("*.md")) if path.name != "config.md")]
KEY = r"`(?P<key>[a-z_]+(?:\.(?:[a-z_0-9]+|<name>|\[\]))+)`"
VALUE = r"(?P<value>`[^`]+`|[^\s,;)]+)"
INLINE = re.compile(KEY + r",? \(?defaults? (?:is )?" + VALUE + r"(?: in `?(?P<recipe>[a-z0-9-]+)`?)?")


def test_config_reference_is_current():
    assert gen_config_docs.unknown_note_keys() == [], "tools/config_notes.yaml names keys the schemas lack"
    current = (ROOT / "docs" / "config.md").read_text()
    assert current == gen_config_docs.config_reference(), "docs/config.md is stale: run python tools/gen_config_docs.py"


def test_the_reference_lists_every_key_and_recipe():
    text = (ROOT / "docs" / "config.md").read_text()
    for name in PROTOCOLS:
        for key, field in gen_config_docs.schema_keys(protocol(name).schema).items():
            if key not in gen_config_docs.SKIPPED and not isinstance(gen_config_docs.default_of(field), BaseModel):
                assert f"| `{key}` |" in text, (name, key)
    for recipe in recipe_names():
        assert f"### Recipe `{recipe}`" in text


def schema_defaults(key: str) -> list[object]:
    """The default of `key` in every protocol whose schema has it (required keys have none)."""
    found = []
    for name in PROTOCOLS:
        field = gen_config_docs.schema_keys(protocol(name).schema).get(key)
        if field is not None:
            found.append(gen_config_docs.default_of(field))
    return found


def recipe_value(recipe: str, key: str) -> object:
    node = load_config(recipe).model_dump(mode="json")
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"{recipe} has no key {key}"
        node = node[part]
    return node


EMPTY = (None, [], {})  # "none" in prose: null, an empty list or an empty mapping


def checkable(value: str) -> str | None:
    """The value a cell or phrase states: its first backticked token, or a leading number, true, false, none or
    null; None when it opens with prose ("source size", "per data set"), which is not checked."""
    value = value.strip()
    quoted = re.match(r"`([^`]+)`", value)
    if quoted:
        return quoted[1]
    word = re.match(r"[^\s,;()]+", value)
    if word and re.fullmatch(r"-?[\d.e+-]+|true|false|none|null", word[0], re.I):
        return word[0]
    return None


def same(stated: str, actual: object) -> bool:
    parsed = yaml.safe_load(stated)
    if isinstance(parsed, str) and parsed.lower() == "none":
        parsed = None
    return parsed == actual or (parsed is None and actual in EMPTY)


def stated_defaults(text: str) -> list[tuple[str, str, str | None]]:
    """(key, value, recipe or None) for every stated default in a Markdown text."""
    found = [(m["key"], m["value"], m["recipe"]) for m in INLINE.finditer(text)]
    lines = text.splitlines()
    for start, line in enumerate(lines):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or start + 1 >= len(lines) or not set(lines[start + 1]) <= set("|-: "):
            continue
        column = next((i for i, cell in enumerate(cells) if cell.lower().startswith("default")), None)
        if column is None:
            continue
        recipe = re.search(r"\(([a-z0-9-]+)\)", cells[column])
        for row in lines[start + 2:]:
            if not row.startswith("|"):
                break
            row_cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
            keys = re.findall(KEY, row_cells[0])
            values = row_cells[column].split(" / ") if len(keys) > 1 else [row_cells[column]]
            found += [(key, value, recipe[1] if recipe else None) for key, value in zip(keys, values)]
    return found


def test_the_checker_reads_both_forms():
    text = ("`train.epochs` (default 100; covid-lstm sets 60) and `cv.folds` default 5 in covid-lstm.\n\n"
            "| key | default (hinton-digits) |\n|---|---|\n| `cv.folds` / `cv.random_state` | 5 / 0 |\n")
    assert stated_defaults(text) == [("train.epochs", "100", None), ("cv.folds", "5", "covid-lstm"),
                                     ("cv.folds", "5", "hinton-digits"), ("cv.random_state", "0", "hinton-digits")]
    assert set(schema_defaults("train.epochs")) == {100} and recipe_value("covid-lstm", "train.epochs") == 30


@pytest.mark.parametrize("document", HAND_WRITTEN, ids=lambda path: path.name)
def test_stated_defaults_match_the_schemas_and_recipes(document):
    wrong = []
    for key, value, recipe in stated_defaults(document.read_text()):
        stated = checkable(value)
        if stated is None:
            continue
        if recipe is not None and "<name>" not in key and "[]" not in key:
            actual = recipe_value(recipe, key)
            if not same(stated, actual):
                wrong.append(f"`{key}` default {stated} in {recipe}: the recipe has {actual!r}")
            continue
        defaults = schema_defaults(key)
        if not defaults:
            wrong.append(f"`{key}` default {stated}: no protocol's schema has that key")
        elif not all(same(stated, default) for default in defaults):
            wrong.append(f"`{key}` default {stated}: the schemas have {defaults!r}")
    assert not wrong, f"{document.name}: " + "; ".join(wrong)

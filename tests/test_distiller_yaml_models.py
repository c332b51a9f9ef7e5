"""`model: package.module:Factory` in a YAML recipe: found beside the recipe or in the current folder, without
PYTHONPATH, and only for that import (sys.path is left as it was)."""
import sys

import pytest
import yaml

from distill.config import read_recipe
from distill.errors import DistillError
from distill.models.registry import RECIPE_FOLDER, build_model
from distill.protocols import load_config

NETS = '''
from torch import nn

def Net(input_shape, output_dim, hidden=4):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], hidden), nn.ReLU(), nn.Linear(hidden, output_dim))
'''


def package(folder, name):
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("")
    (folder / name / "nets.py").write_text(NETS)


def test_a_model_beside_the_recipe_is_found_via_load_config(tmp_path, monkeypatch):
    monkeypatch.delenv(RECIPE_FOLDER, raising=False)
    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    package(tmp_path / "project", "besidepkg")
    recipe = tmp_path / "project" / "my.yaml"
    raw = read_recipe("hinton-digits")
    raw["teacher"] = {**raw["teacher"], "model": "besidepkg.nets:Net", "options": {}}
    recipe.write_text(yaml.safe_dump(raw))
    with pytest.raises(DistillError, match="cannot import 'besidepkg.nets'"):
        build_model("besidepkg.nets:Net", (8,), 3)
    path = list(sys.path)
    load_config(str(recipe))
    assert build_model("besidepkg.nets:Net", (8,), 3, hidden=5)[1].out_features == 5
    assert sys.path == path


def test_a_model_in_the_current_folder_is_found_and_errors_inside_it_are_its_own(tmp_path, monkeypatch):
    monkeypatch.delenv(RECIPE_FOLDER, raising=False)
    monkeypatch.chdir(tmp_path)
    package(tmp_path, "herepkg")
    assert build_model("herepkg.nets:Net", (8,), 3)[1].in_features == 8
    (tmp_path / "herepkg" / "broken.py").write_text("import no_such_dependency_here\n")
    with pytest.raises(DistillError, match="no_such_dependency_here"):
        build_model("herepkg.broken:Net", (8,), 3)

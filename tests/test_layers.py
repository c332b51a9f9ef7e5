"""The package's layers: every module imports, and imports only point down (no module reaches back up).

Layers, lowest first; a module may import from its own layer's package and from lower layers only. The
protocols are independent rooms: one protocol package never imports another.
"""
import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import distill

ROOT = Path(distill.__file__).parent
LAYERS = [
    {"errors"},
    {"model_options"},  # the option ranges every model family shares: config and models check them
    {"losses"},  # pure formulas
    {"methods"},  # one object per distillation method over the losses; config reads their defaults
    {"config", "devices"},  # devices: where tensors live, a leaf every layer from io up needs (export, training)
    {"models"},
    {"io"},
    {"data"},
    {"core"},
    {"tasks"},
    {"protocols"},
    {"cli", "__init__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
MODULES = sorted(info.name for info in pkgutil.walk_packages(distill.__path__, "distill."))


def module_path(name: str) -> Path:
    parts = name.split(".")[1:]
    package = ROOT.joinpath(*parts)
    return package / "__init__.py" if package.is_dir() else package.with_suffix(".py")


def distill_imports(name: str) -> set[str]:
    """The distill modules `name` imports (absolute imports, anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(module_path(name).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "distill":
            for alias in node.names:  # `from distill.models import cnn` imports the module distill.models.cnn
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "distill")
    return found


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_layer_is_known():
    assert {layer(name) for name in MODULES} <= set(RANK) | {"recipes"}


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)


@pytest.mark.parametrize("name", MODULES)
def test_imports_point_down(name):
    own = layer(name)
    for target in distill_imports(name):
        other = layer(target)
        assert other == own or RANK[other] < RANK[own], f"{name} imports {target}: {own} may not import {other}"
        if own == other == "protocols" and name.count(".") >= 3 and target.count(".") >= 3:
            assert name.split(".")[2] == target.split(".")[2], f"{name} imports another protocol: {target}"


def test_no_import_cycle_between_modules():
    graph = {name: {target for target in distill_imports(name) if target in MODULES} for name in MODULES}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in graph[node]:
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*path, node, target])
            if target not in state:
                visit(target, [*path, node])
        state[node] = "done"

    for name in MODULES:
        if name not in state:
            visit(name, [])


def test_no_module_over_400_lines():
    long = {name: n for name in MODULES if (n := len(module_path(name).read_text().splitlines())) > 400}
    assert not long

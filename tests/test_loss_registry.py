"""Every registered distillation objective: a documented pure function (formula and paper) and its module form."""
import inspect
import re

import pytest
from torch import nn

from distill.losses import LOSSES


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_docstring_gives_formula_and_paper(name):
    function, _ = LOSSES[name]
    doc = function.__doc__ or ""
    assert "=" in doc.splitlines()[0], f"{name}: the first docstring line should be the formula"
    assert re.search(r"\b(19|20)\d\d\b", doc), f"{name}: the docstring should cite the paper (authors, year)"


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_module_form_wraps_the_function(name):
    function, module = LOSSES[name]
    assert issubclass(module, nn.Module)
    assert f"`{function.__name__}`" in (module.__doc__ or "")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_one_argument_order_with_keyword_only_settings(name):
    """(student, teacher[, targets], *, settings): a swapped call or a weight in a tensor's place cannot run."""
    function, _ = LOSSES[name]
    parameters = list(inspect.signature(function).parameters.values())
    positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional[0].startswith("student") and positional[1].startswith("teacher"), positional
    assert positional[2:] in ([], ["targets"]), positional
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters if p.name not in positional)

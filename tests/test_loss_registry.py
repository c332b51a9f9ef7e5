"""Every registered distillation objective: a documented pure function (formula and paper) and its module form."""
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

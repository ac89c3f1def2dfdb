"""The examples in the model's and golden package's docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "model.lfsr",
    "model.binarize",
    "model.pack",
    "model.xnor_acc",
    "model.nn.quant",
    "model.nn.wrn",
    "golden",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0

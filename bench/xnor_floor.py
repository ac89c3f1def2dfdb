# amaranth: UnusedElaboratable=no
"""``python -m bench.xnor_floor``: where the XNOR datapath's LUTs go, and how low plain
RTL for its parts gets.

The 32-lane xnor-only :class:`hw.xnor_acc.XnorAccumulator`, with SPEC 6's per-lane mask,
and :class:`hw.xnor_full.FullBeatXnorAccumulator` without it (every beat full, a
compressor placed by hand on LUT6 and CARRY4, see :mod:`hw.compress`), are synthesised
by YoWASP Yosys ``synth_xilinx -family xc7`` (elaborated for the Arty A7) next to
plain-RTL reference designs of their parts, each written the obvious way and left to
Yosys and ABC to map:

- ``masked``: SPEC 6's beat sum ``2*popcount(~(a ^ w) & valid) - popcount(valid)`` into a
  beat register and the accumulator (the block's function, without its compressor tree);
- ``unmasked``: the same with no valid mask (``2*popcount(~(a ^ w)) - lanes``): what a
  datapath that needs every beat full (FINN's rule) would cost;
- ``popcount``: the unmasked XNOR popcount alone, registered;
- ``accumulator``: the signed accumulator alone, fed by a registered beat.

Each reference has the block's widths (``beat_bits``, ``acc_width``) and registers, and
is checked cycle by cycle against NumPy in ``tests/bench/test_xnor_floor.py``. The
references are for comparison only; nothing in ``hw/`` uses them. Prints a table and
writes ``bench/results/xnor_floor.json``; a run takes about a minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from amaranth import Elaboratable, Module, Mux, Signal, Value, signed
from amaranth.back import verilog
from amaranth_boards.arty_a7 import ArtyA7_35Platform

from hw.synth import ToolError, use_yowasp, xc7_utilization
from hw.xnor_acc import XnorAccumulator
from hw.xnor_full import FullBeatXnorAccumulator
from spec import DatapathSpec, Mode

from ._report import RESULTS_DIR, folder_name, parse_args, save, table

LANES = 32

#: Reference parts, in table order.
PARTS = ("masked", "unmasked", "popcount", "accumulator")

#: The goal of issue 3: at most two LUT6 per lane (half a binary MAC per LUT per cycle).
GOAL_LUT_PER_LANE = 2.0


def _popcount(bits: Value) -> Value:
    return sum(bits[j] for j in range(len(bits)))


class Reference(Elaboratable):
    """One plain-RTL part of an xnor-only datapath with ``lanes`` lanes (see the module
    docstring for ``part``). Ports: ``a``, ``w``, ``valid`` (``lanes`` bits each),
    ``first``, ``beat_in`` (the accumulator part's input) and ``o``: the accumulator,
    or the registered popcount for ``part="popcount"``.

    Raises
    ------
    ValueError
        ``part`` is not one of :data:`PARTS`.
    """

    def __init__(self, part: str, *, lanes: int = LANES) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
        # Built only for its widths (hence the linter line at the top of this file).
        block = XnorAccumulator(DatapathSpec(lanes=lanes), modes=(Mode.XNOR,))
        self.part, self.lanes = part, lanes
        self.beat_bits, self.acc_width = block.beat_bits, block.acc_width
        self.a, self.w, self.valid = Signal(lanes), Signal(lanes), Signal(lanes)
        self.first = Signal()
        self.beat_in = Signal(signed(self.beat_bits))
        width = lanes.bit_length() if part == "popcount" else self.acc_width
        self.o = Signal(signed(width) if part != "popcount" else width)

    @property
    def ports(self) -> list[Signal]:
        """The ports the part uses, for Verilog conversion."""
        used = {
            "masked": [self.a, self.w, self.valid, self.first],
            "unmasked": [self.a, self.w, self.first],
            "popcount": [self.a, self.w],
            "accumulator": [self.beat_in, self.first],
        }[self.part]
        return [*used, self.o]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        match = ~(self.a ^ self.w)
        if self.part == "popcount":
            m.d.sync += self.o.eq(_popcount(match))
            return m
        beat = Signal(signed(self.beat_bits))
        if self.part == "masked":
            m.d.sync += beat.eq(2 * _popcount(match & self.valid) - _popcount(self.valid))
        elif self.part == "unmasked":
            m.d.sync += beat.eq(2 * _popcount(match) - self.lanes)
        else:
            m.d.sync += beat.eq(self.beat_in)
        first = Signal()
        m.d.sync += [first.eq(self.first), self.o.eq(Mux(first, 0, self.o) + beat)]
        return m


def _block_verilog(masked: bool) -> Callable[[], str]:
    def convert() -> str:
        spec = DatapathSpec(lanes=LANES)
        block = (
            XnorAccumulator(spec, modes=(Mode.XNOR,)) if masked else FullBeatXnorAccumulator(spec)
        )
        return verilog.convert(block, name="top", platform=ArtyA7_35Platform())

    return convert


def _reference_verilog(part: str) -> Callable[[], str]:
    def convert() -> str:
        ref = Reference(part)
        return verilog.convert(ref, name="top", ports=ref.ports)

    return convert


#: Design name -> Verilog source, in table order.
DESIGNS: dict[str, Callable[[], str]] = {
    "XnorAccumulator[xnor]": _block_verilog(masked=True),
    "FullBeatXnorAccumulator": _block_verilog(masked=False),
    **{f"reference:{part}": _reference_verilog(part) for part in PARTS},
}


def measure(name: str, workdir: Path) -> dict[str, object]:
    """``synth_xilinx`` one design in ``workdir``; its row of the table."""
    use_yowasp()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.v").write_text(DESIGNS[name]())
    util = xc7_utilization(workdir, "top.v", "top")
    return {
        "design": name,
        "lut": util["lut"],
        "ff": util["ff"],
        "carry4": util["carry4"],
        "srl": util["srl"],
        "lut_per_lane": round(util["lut"] / LANES, 2),
        "mac_per_lut": round(LANES / util["lut"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.xnor_floor", description=__doc__)
    parser.add_argument(
        "--out", type=Path, help="JSON path (default bench/results/xnor_floor.json)"
    )
    parser.add_argument("--keep", type=Path, help="keep the work folders (logs, netlists) here")
    args = parse_args(parser, argv, "xnor_floor")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sbq-xnor-floor-") as tmp:
        root = args.keep or Path(tmp)
        for i, name in enumerate(DESIGNS, start=1):
            t0 = time.perf_counter()
            print(f"[{i}/{len(DESIGNS)}] {name}: synth_xilinx ...", file=sys.stderr)
            try:
                rows.append(measure(name, root / folder_name(name)))
            except ToolError as exc:
                print(f"error: {name}: {exc}", file=sys.stderr)
                return 1
            print(f"      done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(table(rows, ["design", "lut", "ff", "carry4", "srl", "lut_per_lane", "mac_per_lut"]))
    print(f"goal: <= {GOAL_LUT_PER_LANE:g} LUT per lane (<= {GOAL_LUT_PER_LANE * LANES:.0f} LUT)")
    out = save(
        "xnor_floor",
        rows,
        args.out or RESULTS_DIR / "xnor_floor.json",
        lanes=LANES,
        goal_lut_per_lane=GOAL_LUT_PER_LANE,
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

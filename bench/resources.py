"""``python -m bench.resources``: LUTs, FFs, block RAM, DSPs and ECP5 Fmax of each block.

Each block is elaborated alone at lanes = 32, act_bits = 8, converted to Verilog, then
synthesised by YoWASP Yosys ``synth_xilinx -family xc7`` (elaborated for the Arty A7, so
that the Xilinx primitives a block places there are counted; an estimate, no timing)
and, with a register on every port so that every path is timed
(:class:`hw.synth.RegisteredPorts`), by ``synth_ecp5`` + nextpnr-ecp5 out of context at
150 MHz (200 MHz for the shared random source, :data:`GOALS_MHZ`) over three placement
seeds (Fmax: the median, with every seed's figure kept).
Prints a table and writes ``bench/results/resources.json``; a full run takes about 10 minutes.

The same file holds ``calibration``: ``synth_xilinx`` LUT/FF/BRAM counts of the store
path (:class:`hw.store.BinarizeAndStore`) and the datapath (:class:`hw.xnor_acc.
XnorAccumulator`, all modes) at the configurations in :data:`CALIBRATION`, which the
estimator's FPGA cost model is fitted to (``--calibration-only`` redoes just those).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth_boards.arty_a7 import ArtyA7_35Platform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.act_sram import ActivationSRAM
from hw.binarizer import StochasticBinarizer
from hw.lfsr import LfsrBank
from hw.shared_lfsr import SharedLfsrBank
from hw.store import BinarizeAndStore
from hw.synth import (
    RegisteredPorts,
    ToolError,
    ecp5_fmax,
    median,
    use_yowasp,
    xc7_utilization,
)
from hw.xnor_acc import XnorAccumulator
from hw.xnor_full import FullBeatXnorAccumulator
from spec import DatapathSpec, Mode

from ._report import RESULTS_DIR, folder_name, parse_args, save, table

LANES, ACT_BITS, FREQ_MHZ = 32, 8, 150.0
#: Blocks with a goal of their own (the shared-source binarizer's is 200 MHz), placed
#: and routed against it: nextpnr stops improving a design once it meets its target.
GOALS_MHZ = {"SharedLfsrBank": 200.0, "StochasticBinarizer[shared": 200.0}


def goal_mhz(block: str) -> float:
    """The ECP5 Fmax goal (and nextpnr's target) of ``block``."""
    return next((g for k, g in GOALS_MHZ.items() if block.startswith(k)), FREQ_MHZ)


def _shared(lanes: int) -> Callable[[], wiring.Component]:
    return lambda: StochasticBinarizer(lanes=lanes, act_bits=ACT_BITS, seed=1, source="shared")


#: Block name -> (lanes, constructor). The SRAM is 32 Kib: 1024 words of 32 bits. The
#: shared-source binarizer (``docs/formats.md`` section 3b) also at 64 and 128 lanes, to
#: show that its cost per lane does not grow.
BLOCKS: dict[str, tuple[int, Callable[[], wiring.Component]]] = {
    "LfsrBank": (LANES, lambda: LfsrBank(lanes=LANES, act_bits=ACT_BITS, seed=1)),
    "StochasticBinarizer": (
        LANES,
        lambda: StochasticBinarizer(lanes=LANES, act_bits=ACT_BITS, seed=1),
    ),
    "SharedLfsrBank": (LANES, lambda: SharedLfsrBank(lanes=LANES, act_bits=ACT_BITS, seed=1)),
    "StochasticBinarizer[shared]": (LANES, _shared(LANES)),
    "StochasticBinarizer[shared,64]": (64, _shared(64)),
    "StochasticBinarizer[shared,128]": (128, _shared(128)),
    "ActivationSRAM": (LANES, lambda: ActivationSRAM(lanes=LANES, word_bits=32, depth=1024)),
    "XnorAccumulator[xnor]": (
        LANES,
        lambda: XnorAccumulator(DatapathSpec(lanes=LANES, act_bits=ACT_BITS), modes=(Mode.XNOR,)),
    ),
    "XnorAccumulator[all]": (
        LANES,
        lambda: XnorAccumulator(DatapathSpec(lanes=LANES, act_bits=ACT_BITS)),
    ),
    # Every beat full: no per-lane mask, carry-chain compressor (primitives on xc7).
    "FullBeatXnorAccumulator": (
        LANES,
        lambda: FullBeatXnorAccumulator(DatapathSpec(lanes=LANES, act_bits=ACT_BITS)),
    ),
    "BinarizeAndStore": (LANES, lambda: BinarizeAndStore(lanes=LANES, act_bits=ACT_BITS, seed=1)),
    # The 2-cycle read: the block RAM's output register (DP16KD OUTREG on ECP5).
    "ActivationSRAM[read_latency=2]": (
        LANES,
        lambda: ActivationSRAM(lanes=LANES, word_bits=32, depth=1024, read_latency=2),
    ),
    "BinarizeAndStore[read_latency=2]": (
        LANES,
        lambda: BinarizeAndStore(lanes=LANES, act_bits=ACT_BITS, seed=1, read_latency=2),
    ),
}


#: (lanes, act_bits, word_bits, depth) of the estimator's calibration points.
CALIBRATION = (
    (8, 8, 32, 1024),
    (32, 8, 32, 1024),
    (32, 4, 32, 1024),
    (16, 2, 16, 2048),
    (64, 8, 64, 1024),
)


def datapath_blocks(
    lanes: int, act_bits: int, word_bits: int, depth: int
) -> dict[str, Callable[[], wiring.Component]]:
    """The two blocks the estimator prices for one datapath configuration."""
    return {
        "store": lambda: BinarizeAndStore(
            lanes=lanes, act_bits=act_bits, seed=1, word_bits=word_bits, depth=depth
        ),
        "datapath": lambda: XnorAccumulator(DatapathSpec(lanes=lanes, act_bits=act_bits)),
    }


def utilization(make: Callable[[], wiring.Component], workdir: Path) -> dict[str, int]:
    """``synth_xilinx`` cell counts of one block, elaborated for the Arty A7 (so blocks
    that place Xilinx primitives there do) and synthesised in ``workdir``."""
    use_yowasp()
    workdir.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(make(), name="top", platform=ArtyA7_35Platform())
    (workdir / "top.v").write_text(text)
    return xc7_utilization(workdir, "top.v", "top")


def calibration_rows(
    configs: tuple[tuple[int, int, int, int], ...], root: Path
) -> list[dict[str, int | str]]:
    """LUT, FF and BRAM of each block of :func:`datapath_blocks` per configuration."""
    rows: list[dict[str, int | str]] = []
    for i, (lanes, act_bits, word_bits, depth) in enumerate(configs, start=1):
        for block, make in datapath_blocks(lanes, act_bits, word_bits, depth).items():
            print(
                f"[{i}/{len(configs)}] {block} lanes={lanes} act_bits={act_bits} "
                f"word_bits={word_bits} depth={depth}: synth_xilinx ...",
                file=sys.stderr,
            )
            util = utilization(make, root / f"cal{i}_{block}")
            rows.append(
                {
                    "block": block,
                    "lanes": lanes,
                    "act_bits": act_bits,
                    "word_bits": word_bits,
                    "depth": depth,
                    "lut": util["lut"],
                    "ff": util["ff"],
                    "bram": util["bram"],
                }
            )
    return rows


def measure(
    name: str, lanes: int, make: Callable[[], wiring.Component], workdir: Path
) -> dict[str, object]:
    """Synthesise one block of ``lanes`` lanes in ``workdir``; its row of the table.

    A shared-source binarizer's LUTs are split in two: its comparators' carry-chain
    positions (one LUT each, the phase shifter's XOR of the output's taps folded in:
    ``lanes * act_bits``) and the rest (the LFSR's state, step and seed load, the
    stream's handshake).
    """
    util = utilization(make, workdir)
    timed = RegisteredPorts(make())
    # Elaborated for the ULX3S's ECP5, so blocks that use vendor primitives there do.
    text = verilog.convert(timed, name="timed", ports=timed.ports, platform=ULX3S_85F_Platform())
    (workdir / "timed.v").write_text(text)
    fmax = ecp5_fmax(workdir, "timed.v", "timed", freq_mhz=goal_mhz(name))
    row: dict[str, object] = {
        "block": name,
        "lanes": lanes,
        "act_bits": ACT_BITS,
        "lut": util["lut"],
        "ff": util["ff"],
        "bram": util["bram"],
        "dsp": util["dsp"],
        "lutram": util["lutram"],
        "carry4": util["carry4"],
        "lut_per_lane": round(util["lut"] / lanes, 2),
        "ff_per_lane": round(util["ff"] / lanes, 2),
        "fmax_ecp5_mhz": median(fmax),
        "fmax_goal_mhz": goal_mhz(name),
        "fmax_ecp5_mhz_seeds": [round(f, 1) for f in fmax],
    }
    if name.startswith("StochasticBinarizer[shared"):
        chain = lanes * ACT_BITS
        row["lut_comparators"] = chain
        row["lut_source"] = util["lut"] - chain
    return row


def _previous(path: Path) -> dict:
    """The results file already at ``path``, or ``{}`` if there is none readable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.resources", description=__doc__)
    parser.add_argument(
        "--block",
        action="append",
        choices=sorted(BLOCKS),
        help="measure only this block (repeatable; default all); the file's rows of the "
        "other blocks are kept",
    )
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/resources.json)")
    parser.add_argument("--keep", type=Path, help="keep the work folders (logs, netlists) here")
    parser.add_argument(
        "--calibration-only",
        action="store_true",
        help="redo only the estimator's calibration points, keeping the file's other rows "
        "(with --block, the calibration rows already in the file are kept instead)",
    )
    args = parse_args(parser, argv, "resources")
    use_yowasp()
    path = args.out or RESULTS_DIR / "resources.json"
    rows: list[dict[str, object]] = []
    if args.calibration_only:
        rows = _previous(path).get("rows")
        if rows is None:
            parser.error(f"--calibration-only keeps the rows of {path}: none readable there")
    with tempfile.TemporaryDirectory(prefix="sbq-resources-") as tmp:
        root = args.keep or Path(tmp)
        names = [] if args.calibration_only else args.block or list(BLOCKS)
        for i, name in enumerate(names, start=1):
            t0 = time.perf_counter()
            print(
                f"[{i}/{len(names)}] {name}: synth_xilinx, synth_ecp5, nextpnr x3 ...",
                file=sys.stderr,
            )
            try:
                rows.append(measure(name, *BLOCKS[name], root / folder_name(name)))
            except ToolError as exc:
                print(f"error: {name}: {exc}", file=sys.stderr)
                return 1
            print(f"      done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        if args.block and not args.calibration_only:
            calibration = _previous(path).get("calibration", [])
        else:
            try:
                calibration = calibration_rows(CALIBRATION, root)
            except ToolError as exc:
                print(f"error: calibration: {exc}", file=sys.stderr)
                return 1
    if args.block and not args.calibration_only:
        fresh = {r["block"]: r for r in rows}
        kept = {r["block"]: r for r in _previous(path).get("rows", []) if r["block"] in BLOCKS}
        rows = [fresh.get(n) or kept[n] for n in BLOCKS if n in fresh or n in kept]
    if names:
        columns = [
            "block",
            "lanes",
            "lut",
            "ff",
            "bram",
            "dsp",
            "lut_per_lane",
            "ff_per_lane",
            "fmax_ecp5_mhz",
        ]
        print(table(rows, columns))
        slow = [r["block"] for r in rows if r["fmax_ecp5_mhz"] < goal_mhz(str(r["block"]))]
        print(
            f"ECP5 Fmax goal {FREQ_MHZ:.0f} MHz, 200 MHz for the shared source (median of "
            "3 seeds): "
            + (f"missed by {', '.join(map(str, slow))}" if slow else "met by every block")
        )
    print(
        table(
            calibration, ["block", "lanes", "act_bits", "word_bits", "depth", "lut", "ff", "bram"]
        )
    )
    out = save("resources", rows, path, freq_constraint_mhz=FREQ_MHZ, calibration=calibration)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

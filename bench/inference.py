"""``python -m bench.inference``: the inference engine (``hw/engine``) running a whole
WRN-20-1, at several sizes of its add/subtract array, from cosimulation and synthesis.

For each ``--lanes`` (default 8, 16 and 32: arrays of 64, 256 and 1,024 cells):

- **cycles per image** from a Verilator cosimulation of the whole engine on CIFAR-10
  test images (drawn at random with seed 0, as ``--test-subset`` draws them: ``--images``,
  20 by default, at the middle lanes and ``--other-images``, 3, at the others; about
  4.5 s of simulation per image at 16 lanes and 9 s at 8, in a ``-O1`` build), both
  streams unstalled, every logit compared with :func:`model.infer.run` (one mismatch
  fails the bench); the schedule's count (:meth:`spec.engine.EngineSpec.cycles`) beside it;
- **utilization** (the network's add/subtracts over ``lanes**2`` times the cycles) and
  **images/s** at 100 MHz (the Arty's clock) and at the ECP5 post-route Fmax;
- **Yosys** ``synth_xilinx -family xc7`` LUT/FF/RAMB36/DSP of the engine alone (an
  estimate, no Vivado here) against the A7-35T's limits for this project (LUT <= 80 %,
  RAMB36 <= 45, DSP <= 90);
- **ECP5**: ``synth_ecp5`` and nextpnr-ecp5 out of context with every port registered
  (:class:`hw.synth.RegisteredPorts`), the median over ``--seeds`` (at the default
  lanes only, unless ``--fmax-all``: one seed of the default build takes about ten
  minutes here);
- the **estimator's** cycles, RAMB36 and DSP for the same configuration (its stream
  width set to the engine's) and how far they are from the measured ones.

Prints a table, writes ``bench/results/inference.json``. The cocotb test it runs is in
this file. A full run takes about 35 minutes on two cores, most of it synthesis.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from amaranth.back import verilog

from estimator.engine import engine_estimate
from golden.network import CIFAR_NETWORK
from hw.engine import Engine
from hw.engine.engine import stream_bits
from hw.synth import RegisteredPorts, ToolError, ecp5_fmax, median, use_yowasp
from model import infer
from model.intnet import load
from model.nn.data import DatasetError
from model.nn.data import load as load_dataset
from sim.tb.config import Build
from sim.tb.toolchain import BUILD_ROOT, LONG_RUN_OPT, missing, run
from sim.test_engine import EngineTB
from spec.boards import FPGAS
from spec.engine import EngineSpec

from ._report import parse_args, save, table
from .resources import utilization

BLOCK = "engine"
DEFAULT_LANES = (8, 16, 32)
#: This project's limits on the Arty A7-35T beside the UART link.
BOARD = FPGAS["arty_a7_35"]
LIMITS = {"lut": 0.8 * BOARD.lut6, "bram": 45, "dsp": BOARD.dsp}
CLOCK_MHZ = 100.0
ECP5_TARGET_MHZ = 100.0


@cocotb.test()
async def images(dut: Any) -> None:
    """The bench's images through the engine, unstalled; counts cycles and mismatches."""
    tb = EngineTB(dut, "images", stall=0.0)
    await tb.reset()
    with np.load(tb.build.options["images"]) as z:
        pictures, want = z["images"], z["logits"]
    spec = load(Path(tb.build.options["network"])).spec
    start = time.perf_counter()
    got, cycles = await tb.classify(pictures, spec)
    tb.record(
        images=len(pictures),
        mismatches=sum(g != w for g, w in zip(got, want.tolist(), strict=True)),
        min_cycles=min(cycles),
        max_cycles=max(cycles),
        microseconds=round((time.perf_counter() - start) * 1e6),
    )


def cosimulate(network: Path, lanes: int, stimuli: Path) -> dict[str, int]:
    """Verilator: the engine of ``network`` at ``lanes`` on the images in ``stimuli``."""
    digest = hashlib.sha256(network.read_bytes()).hexdigest()[:8]
    build = Build(
        {"net": f"{network.stem}_{digest}", "lanes": lanes},
        options={"images": str(stimuli), "network": str(network.resolve())},
    )
    _, counts = run(
        block=BLOCK,
        sim="verilator",
        build=build,
        make_dut=lambda: Engine(load(network), EngineSpec(lanes=lanes)),
        module="bench.inference",  # not __name__, which is __main__ under `python -m`
        opt=LONG_RUN_OPT,
    )
    return counts["images"]


def fmax(network: Path, lanes: int, workdir: Path, seeds: tuple[int, ...]) -> list[float]:
    """ECP5 post-route Fmax per seed of the engine with registered ports."""
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    use_yowasp()
    workdir.mkdir(parents=True, exist_ok=True)
    timed = RegisteredPorts(Engine(load(network), EngineSpec(lanes=lanes)))
    text = verilog.convert(timed, name="timed", ports=timed.ports, platform=ULX3S_85F_Platform())
    (workdir / "timed.v").write_text(text)
    return ecp5_fmax(workdir, "timed.v", "timed", freq_mhz=ECP5_TARGET_MHZ, seeds=seeds)


def measure(args: argparse.Namespace, lanes: int, main_point: bool) -> dict[str, Any]:
    """One row: cosimulation, synthesis, Fmax and the estimator at ``lanes``."""
    net = load(args.network)
    stimuli, n = stimuli_file(args, args.images if main_point else args.other_images)
    schedule = EngineSpec(lanes=lanes).cycles(net.spec)
    say = lambda what: print(f"  lanes {lanes}: {what} ...", file=sys.stderr, flush=True)  # noqa: E731
    say(f"Verilator, {n} images")
    sim = cosimulate(args.network, lanes, stimuli)
    if sim["mismatches"] or sim["images"] != n:
        raise RuntimeError(f"lanes {lanes}: {sim['mismatches']} of {n} images differ")
    cycles = sim["max_cycles"]
    say("Yosys synth_xilinx")
    work = BUILD_ROOT / BLOCK / "bench" / f"lanes{lanes}"
    util = utilization(lambda: Engine(net, EngineSpec(lanes=lanes)), work / "xc7")
    row: dict[str, Any] = {
        "lanes": lanes,
        "cells": lanes * lanes,
        "images": n,
        "mismatches": sim["mismatches"],
        "cycles": cycles,
        "cycles_min": sim["min_cycles"],
        "schedule": schedule,
        "utilization": round(EngineSpec(lanes=lanes).useful_macs(net.spec) / lanes**2 / cycles, 4),
        "images_per_s_100mhz": round(CLOCK_MHZ * 1e6 / cycles, 1),
        "lut": util["lut"],
        "lut_pct": round(100 * util["lut"] / BOARD.lut6, 1),
        "ff": util["ff"],
        "bram36": util["bram"],
        "dsp": util["dsp"],
        "fits_a7_35t": util["lut"] <= LIMITS["lut"]
        and util["bram"] <= LIMITS["bram"]
        and util["dsp"] <= LIMITS["dsp"],
    }
    if main_point or args.fmax_all:
        say(f"ECP5 nextpnr, seeds {list(args.seeds)}")
        try:
            seeds = fmax(args.network, lanes, work / "ecp5", tuple(args.seeds))
            row["fmax_ecp5_mhz"] = median(seeds)
            row["fmax_ecp5_mhz_seeds"] = [round(f, 1) for f in seeds]
            row["images_per_s_fmax"] = round(row["fmax_ecp5_mhz"] * 1e6 / cycles, 1)
        except ToolError as e:
            print(f"  lanes {lanes}: ECP5 failed ({e})", file=sys.stderr)
    est = engine_estimate(
        net.spec, lanes, stream_bits=stream_bits(net), clock_mhz=CLOCK_MHZ, board=BOARD
    )
    row["estimator"] = {k: est[k] for k in ("cycles_per_image", "bram36", "dsp")}
    row["estimator_error_pct"] = {
        "cycles": round(100 * (est["cycles_per_image"] - cycles) / cycles, 2),
        "bram36": round(100 * (est["bram36"] - util["bram"]) / max(util["bram"], 1), 2),
        "dsp": round(100 * (est["dsp"] - util["dsp"]) / max(util["dsp"], 1), 2),
    }
    return row


def stimuli_file(args: argparse.Namespace, count: int) -> tuple[Path, int]:
    """``count`` test images and their logits by :func:`model.infer.run`, in a file the
    cocotb test reads."""
    net = load(args.network)
    s = net.spec
    if (s.in_channels, s.image_size) != (3, 32):
        raise ValueError(f"{args.network} is not a CIFAR-10 network (3 x 32 x 32 input)")
    data = load_dataset("cifar10", args.data_dir).subset(0, count)
    pictures = data.test_x.numpy()
    path = BUILD_ROOT / BLOCK / "bench" / f"images{count}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=pictures, logits=infer.run(net, pictures))
    return path, len(pictures)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.inference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--network", type=Path, default=CIFAR_NETWORK,
                        help="integer network file (default: the committed WRN-20-1)")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="folder with cifar-10-batches-py (default data)")  # fmt: skip
    parser.add_argument("--images", type=int, default=20,
                        help="test images at the middle lanes (default 20)")  # fmt: skip
    parser.add_argument("--other-images", type=int, default=3,
                        help="test images at the other lanes (default 3)")  # fmt: skip
    parser.add_argument("--lanes", type=int, nargs="+", default=list(DEFAULT_LANES),
                        help="array sizes to measure (default 8 16 32)")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[1],
                        help="nextpnr placement seeds (default 1)")  # fmt: skip
    parser.add_argument("--fmax-all", action="store_true",
                        help="ECP5 Fmax at every lanes, not only the middle one")  # fmt: skip
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/inference.json)")
    args = parse_args(parser, argv, "inference")
    if min(args.images, args.other_images) < 1:
        parser.error("--images and --other-images must be positive")
    for lanes in args.lanes:
        try:
            EngineSpec(lanes=lanes)
        except ValueError as e:
            parser.error(f"--lanes: {e}")
    reason = missing("verilator")
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    try:
        stimuli_file(args, 1)
    except (ValueError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = []
    middle = args.lanes[len(args.lanes) // 2]
    for lanes in args.lanes:
        try:
            rows.append(measure(args, lanes, lanes == middle))
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    columns = ["lanes", "cells", "images", "cycles", "schedule", "utilization",
               "images_per_s_100mhz", "fmax_ecp5_mhz", "images_per_s_fmax", "lut", "lut_pct",
               "ff", "bram36", "dsp", "fits_a7_35t"]  # fmt: skip
    print(table(rows, columns))
    for r in rows:
        e = r["estimator_error_pct"]
        print(f"estimator at {r['lanes']} lanes: cycles {e['cycles']:+} %, RAMB36 "
              f"{e['bram36']:+} %, DSP {e['dsp']:+} %")  # fmt: skip
    path = save(
        "inference",
        rows,
        args.out,
        network=str(args.network),
        clock_mhz=CLOCK_MHZ,
        limits=LIMITS,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

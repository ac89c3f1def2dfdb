"""``python -m bench.sim_speed``: simulated clock cycles per second, Icarus and Verilator,
on the XNOR datapath at 32 lanes (:class:`hw.xnor_acc.XnorAccumulator`, every mode).

Two measurements per simulator, each over ``--cycles`` cycles (100,000 by default) in
the same build the cosimulation uses (``sim_build/xnor_acc/<sim>/...``):

- ``clock only``: the clock runs with a constant beat offered and ``o.ready`` high, no
  Python per cycle; the simulator's own speed on this design.
- ``testbench``: the cosimulation's driver, monitor and scoreboard at full throughput,
  random dot products of 1 to 12 beats in every mode, every sum checked against
  :func:`model.xnor_acc.dot`; what a cosimulation test gets.

Verilator's design C++ is built at -O0, as for the cosimulation
(:data:`sim.tb.toolchain.VERILATOR_MAKE`): at -O2 one of this design's files was still
compiling after 14 minutes here. Wall time is measured inside the simulation, around
the cycles only; ``run_wall_s`` is the whole run (Verilog, the build when it is not
current, start-up, stimuli and both measurements). Prints a table; writes
``bench/results/sim_speed.json``. This file is also the cocotb test module it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles

from sim.tb.config import Build
from sim.tb.stream import STALLS
from sim.tb.toolchain import SIMULATORS, VERILATOR_MAKE, missing, run
from sim.test_xnor_acc import BLOCK, XnorTB, make_dut, random_dot

from ._report import parse_args, save, table

#: The cosimulation's 32-lane Verilator build (sim/test_xnor_acc.py), so both share it.
DUT = {
    "lanes": 32,
    "act_bits": 8,
    "acc_bits": 32,
    "max_beats": 4096,
    "modes": ["xnor", "and", "code"],
}


@cocotb.test()
async def clock_only(dut: Any) -> None:
    tb = XnorTB(dut, "clock_only")
    cycles = tb.build.options["cycles"]
    await tb.reset()
    payloads, modes = tb.payloads([random_dot(tb, 1)])
    dut.i__payload.value = payloads[0]
    dut.mode.value = modes[0]
    dut.i__valid.value = 1
    dut.o__ready.value = 1
    start = time.perf_counter()
    await ClockCycles(dut.clk, cycles)
    seconds = time.perf_counter() - start
    tb.record(cycles=cycles, microseconds=round(seconds * 1e6))


@cocotb.test()
async def testbench(dut: Any) -> None:
    tb = XnorTB(dut, "testbench")
    cycles = tb.build.options["cycles"]
    dots, beats = [], 0
    while beats < cycles:
        dots.append(random_dot(tb, min(cycles - beats, tb.rng.randint(1, 12))))
        beats += len(dots[-1].w)
    await tb.reset()
    tb.start()
    first = tb.cycle()
    start = time.perf_counter()
    sent = await tb.run(dots, STALLS["none"])
    seconds = time.perf_counter() - start
    assert sent == cycles and tb.scoreboard.checked == len(dots)
    tb.record(
        cycles=tb.cycle() - first,
        beats=sent,
        sums=len(dots),
        microseconds=round(seconds * 1e6),
    )


def measure(sim: str, cycles: int) -> list[dict[str, Any]]:
    """Both measurements on ``sim``, in the cosimulation's build."""
    start = time.perf_counter()
    _, counts = run(
        block=BLOCK,
        sim=sim,
        build=Build(DUT, options={"cycles": cycles}),
        make_dut=lambda: make_dut(DUT),
        module="bench.sim_speed",  # not __name__, which is __main__ under `python -m`
        facts=lambda d: {"latency": d.latency},
    )
    total = time.perf_counter() - start
    rows = []
    for test in ("clock_only", "testbench"):
        c = counts[test]
        seconds = c["microseconds"] / 1e6
        rows.append(
            {
                "simulator": sim,
                "measure": test.replace("_", " "),
                "cycles": c["cycles"],
                "seconds": round(seconds, 2),
                "cycles_per_s": round(c["cycles"] / seconds),
                "sums_checked": c.get("sums", 0),
            }
        )
    rows[0]["run_wall_s"] = round(total, 1)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.sim_speed", description=__doc__)
    parser.add_argument("--cycles", type=int, default=100_000, help="cycles (default 1e5)")
    parser.add_argument(
        "--sim", choices=SIMULATORS, action="append", help="simulator (default: both)"
    )
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/sim_speed.json)")
    args = parse_args(parser, argv, "sim_speed")
    if args.cycles < 1:
        parser.error("--cycles must be positive")
    rows, skipped = [], {}
    for sim in args.sim or SIMULATORS:
        reason = missing(sim)
        if reason:
            skipped[sim] = reason
            print(f"skipping {sim}: {reason}", file=sys.stderr)
            continue
        print(f"  {sim}: building and running {args.cycles} cycles twice...", file=sys.stderr)
        rows += measure(sim, args.cycles)
    if not rows:
        print("no simulator available", file=sys.stderr)
        return 1
    columns = ["simulator", "measure", "cycles", "seconds", "cycles_per_s", "sums_checked"]
    print(table(rows, [*columns, "run_wall_s"]))
    path = save(
        "sim_speed",
        rows,
        args.out,
        design="XnorAccumulator lanes=32 act_bits=8, all modes",
        verilator_design_cxx=VERILATOR_MAKE["OPT_FAST"],
        skipped=skipped,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

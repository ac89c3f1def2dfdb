"""``python -m sim.board``: a virtual board behind a pseudo-terminal.

Runs the board's top (:class:`hw.top.SbqTop`: the UART, the link, the command handler
and, with ``--network``, the inference engine with that network baked in; the board
top without its I/O buffers) in Verilator, and joins its serial pins to a
pseudo-terminal whose path it prints (and writes to ``--pty-file``). Whatever talks to
the board's UART talks to it unchanged, byte for byte the same protocol, bits
included: ``python -m host.classify --port <path>`` or ``Device(SerialTransport(path))``.

The line runs at ``--baud`` with four clocks per bit (the slowest the UART takes), so
the simulation spends its cycles on the design, not on idle bit times; a pty has no
baud rate, so the host's setting does not matter. Each byte costs 40 simulated
cycles; the engine's own cycles per image are what they are on the board.

It stops when the host closes the pty (after it first wrote to it) and on Ctrl-C.
Verilator builds the design once per network and engine size (a minute or two);
later runs start in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tty
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import FallingEdge, Timer

from fileio import write_atomic
from hw.link import HostLink
from hw.top import SbqTop
from model.intnet import load
from spec import DeviceSpec, LinkSpec
from spec.engine import EngineSpec

from .tb.config import PERIOD_NS, Build
from .tb.stream import TB
from .tb.toolchain import LONG_RUN_OPT, missing, run

BLOCK = "board"
#: Clocks per UART bit: the least the UART takes.
CLOCKS_PER_BIT = 4
#: Datapath lanes of the board top as ``python -m hw.build --board arty_a7`` builds it:
#: without a network, and beside one.
BOARD_LANES = {"arty_a7": (32, 8)}
#: Cycles between two looks at the pty when the host is quiet.
POLL_CYCLES = 64


def parts(options: dict[str, Any]) -> dict[str, Any]:
    """The top's arguments for ``options`` (``network`` path or "", ``engine_lanes``,
    ``baud``, ``lanes``), checked.

    Raises
    ------
    ValueError
        A network file that cannot be read, lanes or a baud the design refuses.
    """
    engine = EngineSpec(lanes=options["engine_lanes"])
    network = load(Path(options["network"])) if options["network"] else None
    info = network.engine_info(engine) if network is not None else None
    link = LinkSpec(baud=options["baud"])
    device = DeviceSpec.of(lanes=options["lanes"], link=link, engine=info)
    clk_hz = CLOCKS_PER_BIT * options["baud"]
    HostLink.check(link, clk_hz=clk_hz)
    return {"device": device, "clk_hz": clk_hz, "network": network, "engine": engine}


def make_top(options: dict[str, Any]) -> SbqTop:
    """The top of ``options`` (:func:`parts`)."""
    p = parts(options)
    return SbqTop(p["device"], clk_hz=p["clk_hz"], network=p["network"], engine=p["engine"])


class BoardTB(TB):
    def idle(self) -> None:
        self.dut.rx.value = 1


def _clocks(n: int) -> Timer:
    """``n`` clock periods of simulated time. A timer, not a count of clock edges: the
    simulator runs the design alone until it expires, where counting edges would call
    into Python on every clock."""
    return Timer(n * PERIOD_NS, unit="ns")


async def _send(dut: Any, byte: int) -> None:
    """One 8N1 byte on ``rx``."""
    for bit in (0, *((byte >> k) & 1 for k in range(8)), 1):
        dut.rx.value = bit
        await _clocks(CLOCKS_PER_BIT)


async def _transmit(dut: Any, master: int) -> None:
    """Every byte the board sends on ``tx``, to the pty."""
    while True:
        await FallingEdge(dut.tx)
        await _clocks(CLOCKS_PER_BIT // 2)  # the middle of the start bit
        byte = 0
        for k in range(8):
            await _clocks(CLOCKS_PER_BIT)
            byte |= int(dut.tx.value) << k
        await _clocks(CLOCKS_PER_BIT)  # the stop bit
        os.write(master, bytes([byte]))


@cocotb.test()
async def serve(dut: Any) -> None:
    """The pty bridge: host bytes to ``rx`` bit by bit, ``tx`` bits back as bytes."""
    tb = BoardTB(dut, "serve")
    await tb.reset()
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    if tb.build.options.get("pty_file"):
        write_atomic(Path(tb.build.options["pty_file"]), path.encode())
    print(f"virtual board on {path} (python -m host.classify --port {path} ...)", flush=True)
    os.set_blocking(master, False)
    cocotb.start_soon(_transmit(dut, master))
    sent = 0
    while True:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            data = b""
        except OSError:  # EIO: every holder of the pty's other end closed it
            break
        if data and slave >= 0:  # a host has it open: from now on its close ends the run
            os.close(slave)
            slave = -1
        for byte in data:
            await _send(dut, byte)
        sent += len(data)
        if not data:
            await _clocks(POLL_CYCLES)
    os.close(master)
    tb.record(bytes_from_host=sent, cycles=tb.cycle())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.board",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--board", choices=sorted(BOARD_LANES), default="arty_a7",
                        help="the board whose top to run (default arty_a7)")  # fmt: skip
    parser.add_argument("--network", type=Path, help="integer network file: add the engine")
    parser.add_argument("--engine-lanes", type=int, default=16, help="default 16")
    parser.add_argument("--baud", type=int, default=1_000_000,
                        help="simulated line rate (default 1000000; 4 clocks per bit)")  # fmt: skip
    parser.add_argument("--pty-file", type=Path, help="also write the pty's path here")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "network": str(args.network.resolve()) if args.network else "",
        "engine_lanes": args.engine_lanes,
        "baud": args.baud,
        "lanes": BOARD_LANES[args.board][args.network is not None],
    }
    try:
        parts(options)
    except (TypeError, ValueError) as e:
        parser.error(str(e))
    reason = missing("verilator")
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(args.network.read_bytes()).hexdigest()[:8] if args.network else "none"
    build = Build(
        {"board": args.board, "net": digest, "lanes": args.engine_lanes, "baud": args.baud},
        options={**options, "pty_file": str(args.pty_file) if args.pty_file else ""},
    )
    print(f"building the {args.board} top for Verilator (once per design) ...", file=sys.stderr)
    try:
        _, counts = run(block=BLOCK, sim="verilator", build=build, opt=LONG_RUN_OPT,
                        make_dut=lambda: make_top(options), module="sim.board")  # fmt: skip
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)", file=sys.stderr)
        return 0
    except (RuntimeError, SystemExit) as e:
        print(f"error: the simulation failed ({e})", file=sys.stderr)
        return 1
    got = counts.get("serve", {})
    print(f"host closed the pty: stopped after {got.get('cycles', 0):,} cycles, "
          f"{got.get('bytes_from_host', 0):,} bytes from the host", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

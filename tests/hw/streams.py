"""Stream testbench helpers for the Amaranth simulator: a producer and a consumer that
stall ``valid`` and ``ready`` at random, and a runner that checks both finished.

Payloads are handled as raw integers (``payload.as_value()``), built with
:func:`lanes_to_int` from per-lane values, so every block's test speaks the bit order of
SPEC section 5 (lane ``j`` in bits ``j*width ...``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from amaranth.hdl import Value
from amaranth.sim import Simulator

Testbench = Callable[[Any], Coroutine[Any, Any, None]]


def lanes_to_int(values: Iterable[int], width: int) -> int:
    """Lane ``j``'s value in bits ``j*width .. (j+1)*width - 1``."""
    out = 0
    for j, v in enumerate(values):
        assert 0 <= int(v) < 1 << width, (j, v, width)
        out |= int(v) << (j * width)
    return out


def int_to_lanes(x: int, width: int, lanes: int) -> list[int]:
    """Inverse of :func:`lanes_to_int`."""
    mask = (1 << width) - 1
    return [(x >> (j * width)) & mask for j in range(lanes)]


def raw(v: Any) -> Value:
    """The plain value under a payload view (or the value itself)."""
    return v.as_value() if hasattr(v, "as_value") else v


async def produce(
    ctx: Any, port: Any, payloads: Sequence[int], rng: random.Random, stall: float
) -> int:
    """Send ``payloads`` on stream ``port``, idling ``valid`` with probability ``stall``
    before each beat. Returns the number of beats the DUT accepted."""
    sent = 0
    for p in payloads:
        ctx.set(port.valid, 0)
        while rng.random() < stall:
            await ctx.tick()
        ctx.set(raw(port.payload), p)
        ctx.set(port.valid, 1)
        await ctx.tick().until(port.ready)
        sent += 1
    ctx.set(port.valid, 0)
    return sent


async def consume(ctx: Any, port: Any, n: int, rng: random.Random, stall: float) -> list[int]:
    """Take ``n`` beats from stream ``port``, dropping ``ready`` with probability ``stall``
    each cycle. Returns the raw payloads in order."""
    out: list[int] = []
    while len(out) < n:
        ready = rng.random() >= stall
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, raw(port.payload))
        if ready and valid:
            out.append(payload)
    ctx.set(port.ready, 0)
    return out


def run(
    dut: Any,
    *testbenches: Testbench,
    monitors: tuple[Testbench, ...] = (),
    deadline_cycles: int,
    chunk: int = 2000,
) -> None:
    """Simulate ``dut`` with a clock until every testbench returns.

    ``monitors`` are background testbenches (watching pulses, say) that need not
    finish. The simulation stops within ``chunk`` cycles of the last testbench
    finishing. Raises ``AssertionError`` if that takes more than ``deadline_cycles``
    cycles (a hang or a lost beat), so no test can pass by never finishing its checks.
    """
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    finished: list[int] = []

    def wrap(tb: Testbench) -> Testbench:
        async def inner(ctx: Any) -> None:
            await tb(ctx)
            finished.append(1)

        return inner

    for tb in testbenches:
        sim.add_testbench(wrap(tb))
    for mon in monitors:
        sim.add_testbench(mon, background=True)
    cycles = 0
    while len(finished) < len(testbenches) and cycles < deadline_cycles:
        cycles = min(cycles + chunk, deadline_cycles)
        sim.run_until(cycles * 1e-8)
    assert len(finished) == len(testbenches), (
        f"only {len(finished)} of {len(testbenches)} testbenches finished "
        f"within {deadline_cycles} cycles"
    )

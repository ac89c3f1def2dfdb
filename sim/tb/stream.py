"""cocotb side: the testbench base, one stream driver, one stream monitor, a scoreboard.

Timing discipline, the same for every agent so that Icarus and Verilator agree: inputs
are written just after a rising edge, handshakes are sampled in the ``ReadOnly`` phase
before the next edge (when every combinational output has settled), and a beat is
taken at that edge. Cycle numbers (:meth:`TB.cycle`) count edges, so the driver's
stamp of a beat and a control pulse written in the same cycle compare equal.

Amaranth names a stream port ``o`` as ``o__valid``, ``o__ready`` and ``o__payload`` in
Verilog; the payload is one vector (see :mod:`sim.tb.lanes`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.queue import Queue
from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, with_timeout
from cocotb.types import LogicArray

from .config import PERIOD_NS, SEED_ENV, Config, derive_seed, record_counts

#: Stall profiles, ``(p_idle, p_backpressure)``: the probability that a driver idles
#: ``valid`` for a cycle before a beat (repeatedly), and that a monitor holds ``ready``
#: low in a cycle. Backpressure and idle variants are these parameters, not copies.
STALLS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "both": (0.3, 0.3),
    "backpressure": (0.0, 0.6),
    "idle": (0.6, 0.0),
}


def read(handle: Any) -> int:
    """A signal's value as an unsigned int (cocotb 2: ``LogicArray`` or ``Logic``);
    ``ValueError`` naming the signal if any bit is X or Z."""
    v = handle.value
    if isinstance(v, LogicArray):
        if not v.is_resolvable:
            raise ValueError(f"{handle._name} is {v}, not a number")
        return v.to_unsigned()
    if not v.is_resolvable:
        raise ValueError(f"{handle._name} is {v}, not 0 or 1")
    return int(v)


class Beat(NamedTuple):
    """One handshake: the cycle it happened in and the raw payload."""

    cycle: int
    payload: int


class Expect(NamedTuple):
    """An expected payload; only the bits set in ``mask`` are compared."""

    value: int
    mask: int = -1


class TB:
    """Clock, reset, cycle numbers, configuration and random generators of one cocotb
    test. Subclasses set their inputs' idle values in :meth:`idle`.

    Parameters
    ----------
    dut :
        The cocotb handle of the toplevel.
    test : str
        The cocotb test's name: its counts are recorded under it and its random
        generators are seeded from it and the build's seed.
    """

    def __init__(self, dut: Any, test: str) -> None:
        self.dut = dut
        self.test = test
        self.config = Config.from_env()
        self.build = self.config.build
        self.params = self.build.dut
        self.seed = derive_seed(self.config.seed, test)
        self.rng = random.Random(self.seed)
        self.np_rng = np.random.default_rng(self.seed)
        self.log = dut._log
        self.log.info(
            "%s %s [%s] on %s: seed %d (replay with %s=%d)",
            self.config.block,
            test,
            self.build.id,
            self.config.sim,
            self.seed,
            SEED_ENV,
            self.config.base_seed,
        )
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())

    def cycle(self) -> int:
        """The current clock cycle, simulation time over the period: a value written
        just after an edge and the handshake sampled before the next one share it."""
        return int(get_sim_time("ns")) // PERIOD_NS

    async def clocks(self, n: int = 1) -> None:
        for _ in range(n):
            await RisingEdge(self.dut.clk)

    def idle(self) -> None:
        """Drive every input to its idle value."""

    async def reset(self, cycles: int = 2) -> None:
        """Synchronous reset for ``cycles`` edges with idle inputs; returns just after
        an edge, reset released for the next one."""
        self.idle()
        self.dut.rst.value = 1
        await self.clocks(cycles)
        self.dut.rst.value = 0

    async def pulse(self, signal: Any, value: int = 1) -> int:
        """Hold ``signal`` at ``value`` for one cycle; returns that cycle's number."""
        signal.value = value
        cycle = self.cycle()
        await RisingEdge(self.dut.clk)
        signal.value = 0
        return cycle

    async def sample(self, signal: Any) -> int:
        """``signal``'s settled value in this cycle; returns just after the next edge."""
        await ReadOnly()
        value = read(signal)
        await RisingEdge(self.dut.clk)
        return value

    def record(self, **counts: int) -> None:
        """Record this test's transaction counts for the pytest function."""
        self.log.info("%s checked %s", self.test, counts)
        record_counts(Path.cwd(), self.test, **counts)


class StreamDriver:
    """Sends beats on stream ``name``; before each beat ``valid`` idles for a cycle
    with probability ``stall`` (repeatedly). ``stamps`` holds the cycle each beat was
    taken in."""

    def __init__(self, tb: TB, name: str, stall: float = 0.0) -> None:
        self.tb = tb
        self.clk = tb.dut.clk
        self.valid = getattr(tb.dut, f"{name}__valid")
        self.ready = getattr(tb.dut, f"{name}__ready")
        self.payload = getattr(tb.dut, f"{name}__payload")
        self.stall = stall
        self.rng = random.Random(derive_seed(tb.seed, name, "driver"))
        self.stamps: list[int] = []

    def idle(self) -> None:
        self.valid.value = 0
        self.payload.value = 0

    async def send(self, payloads: Iterable[int], **sideband: Sequence[int]) -> int:
        """Send ``payloads`` in order; returns how many were taken. Each ``sideband``
        names a DUT input that travels with the beat (e.g. ``mode=[...]``, one value
        per beat). Call it just after an edge; it returns just after one."""
        side = [(getattr(self.tb.dut, name), values) for name, values in sideband.items()]
        sent = 0
        for k, p in enumerate(payloads):
            while self.stall and self.rng.random() < self.stall:
                self.valid.value = 0
                await RisingEdge(self.clk)
            self.payload.value = p
            for handle, values in side:
                handle.value = values[k]
            self.valid.value = 1
            while True:
                await ReadOnly()
                taken = self.ready.value == 1
                cycle = self.tb.cycle()
                await RisingEdge(self.clk)
                if taken:
                    break
            self.stamps.append(cycle)
            sent += 1
        self.valid.value = 0
        return sent


class StreamMonitor:
    """Takes beats from stream ``name`` into ``queue``: ``ready`` is low in a cycle with
    probability ``stall``, and stays low once ``limit`` beats were taken (None: no
    limit). Run it with :meth:`start`; the handshakes go into the queue as
    :class:`Beat`."""

    def __init__(self, tb: TB, name: str, stall: float = 0.0, limit: int | None = None) -> None:
        self.tb = tb
        self.clk = tb.dut.clk
        self.valid = getattr(tb.dut, f"{name}__valid")
        self.ready = getattr(tb.dut, f"{name}__ready")
        self.payload = getattr(tb.dut, f"{name}__payload")
        self.stall = stall
        self.limit = limit
        self.rng = random.Random(derive_seed(tb.seed, name, "monitor"))
        self.queue: Queue[Beat] = Queue()
        self.taken = 0
        self._task: Any = None

    def idle(self) -> None:
        self.ready.value = 0

    def start(self) -> StreamMonitor:
        """Start taking beats into a fresh, empty ``queue`` (call it just after an
        edge)."""
        self.queue = Queue()
        self._task = cocotb.start_soon(self._run())
        return self

    def stop(self) -> None:
        """Stop taking beats (call it just after an edge)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ready.value = 0

    async def _run(self) -> None:
        while True:
            ready = (self.limit is None or self.taken < self.limit) and (
                not self.stall or self.rng.random() >= self.stall
            )
            self.ready.value = int(ready)
            await ReadOnly()
            if ready and self.valid.value == 1:
                self.taken += 1
                self.queue.put_nowait(Beat(self.tb.cycle(), read(self.payload)))
            await RisingEdge(self.clk)


Reference = Callable[[int, Beat], Expect]


class Scoreboard:
    """Compares the beats of a monitor's queue, in order, with a reference.

    ``reference(index, beat)`` gives the :class:`Expect` of the ``index``-th beat (it
    may look at the beat's cycle, e.g. to find which seed was loaded); ``describe``
    explains a mismatch (e.g. :func:`lane_diff`). The first mismatch fails the test
    with the beat's index, cycle, and the expected and received payloads.
    """

    def __init__(
        self,
        tb: TB,
        name: str,
        monitor: StreamMonitor,
        reference: Reference,
        describe: Callable[[int, int, int], str] | None = None,
    ) -> None:
        self.tb = tb
        self.name = name
        self.monitor = monitor
        self.reference = reference
        self.describe = describe
        self.checked = 0

    async def check(self, n: int, within: int) -> None:
        """Compare the next ``n`` beats, failing unless they all arrive within ``within``
        cycles; returns just after an edge."""
        target = self.checked + n

        async def compare() -> None:
            while self.checked < target:
                beat = await self.monitor.queue.get()
                exp = self.reference(self.checked, beat)
                if (beat.payload ^ exp.value) & exp.mask:
                    masked = "" if exp.mask == -1 else f" (bits {exp.mask:#x} compared)"
                    detail = (
                        self.describe(beat.payload, exp.value, exp.mask) if self.describe else ""
                    )
                    raise AssertionError(
                        f"{self.name}: beat {self.checked} (cycle {beat.cycle}) is "
                        f"{beat.payload:#x}, expected {exp.value:#x}{masked}"
                        f"{'; ' + detail if detail else ''}"
                    )
                self.checked += 1

        try:
            await with_timeout(compare(), within * PERIOD_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(
                f"{self.name}: {self.checked} of {target} beats arrived within {within} cycles"
            ) from None
        await RisingEdge(self.tb.dut.clk)


def lane_diff(width: int, lanes: int, shown: int = 6) -> Callable[[int, int, int], str]:
    """A ``describe`` for :class:`Scoreboard` listing the lanes (``width`` bits each)
    that differ."""
    lane_mask = (1 << width) - 1

    def describe(got: int, expected: int, mask: int) -> str:
        bad = [j for j in range(lanes) if ((got ^ expected) & mask) >> (j * width) & lane_mask]

        def lane(x: int, j: int) -> int:
            return x >> (j * width) & lane_mask

        text = ", ".join(
            f"lane {j}: {lane(got, j):#x} != {lane(expected, j):#x}" for j in bad[:shown]
        )
        return f"{len(bad)} lanes differ ({text}{', ...' if len(bad) > shown else ''})"

    return describe


def beats_budget(beats: int, stall: tuple[float, float] = (0.0, 0.0), extra: int = 64) -> int:
    """Cycles that ``beats`` beats need at most, with generous slack, under ``stall``."""
    idle, back = stall
    per_beat = 1 / (1 - idle) + 1 / (1 - back)
    return int(4 * beats * per_beat) + extra

"""Cosimulation of :class:`hw.lfsr.LfsrBank` and :class:`hw.shared_lfsr.SharedLfsrBank`
against the golden codes and :func:`model.lfsr.codes`: ``ready`` stalls, and run-time
seed loads (zero seeds included) in the middle of the stream."""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any

import cocotb
import pytest
from cocotb.triggers import ReadOnly, RisingEdge

import golden
from hw.lfsr import LfsrBank
from hw.shared_lfsr import SharedLfsrBank
from model.lfsr import codes as source_codes
from spec import BinarizerSpec

from .tb import lanes as pl
from .tb.config import Build
from .tb.stream import (
    STALLS,
    TB,
    Beat,
    Expect,
    Scoreboard,
    StreamMonitor,
    beats_budget,
    lane_diff,
    read,
)
from .tb.toolchain import cosim, parametrize

BLOCK = "lfsr"
#: Both sources' cases: their names differ (a shared seed has 16 hex digits).
GOLDEN = {c.name: c for block in ("lfsr", "shared_lfsr") for c in golden.cases(block)}


def _golden(lanes: int, act_bits: int, source: str = "lanes") -> tuple[str, ...]:
    return tuple(
        name
        for name, c in GOLDEN.items()
        if (c.meta["lanes"], c.meta["act_bits"], c.meta["spec"]["BinarizerSpec"]["source"])
        == (lanes, act_bits, source)
    )


def make_dut(params: dict[str, Any]) -> LfsrBank | SharedLfsrBank:
    """The bank ``params`` describe: ``source`` (default ``"lanes"``) picks the class."""
    rest = {k: v for k, v in params.items() if k != "source"}
    return SharedLfsrBank(**rest) if params.get("source") == "shared" else LfsrBank(**rest)


#: Icarus is slow on the bank's flat XOR networks (every state and code bit is a masked
#: reduction of the lane's whole state, re-evaluated net by net each cycle): about 2,000
#: cycles/s at 8 lanes, 330 at 32, 170 for the 32-lane binarizer (measured here, Icarus
#: 11). So Icarus runs its 10,000 random beats at 4 lanes and the wide builds mostly
#: replay golden cases; Verilator runs everything at 32 lanes.
BUILDS = {
    "icarus": [
        Build({"lanes": 4, "act_bits": 8, "seed": 1}, random_beats=10_000),
        Build({"lanes": 8, "act_bits": 4, "seed": 1}, golden=_golden(8, 4), random_beats=300),
        Build({"lanes": 32, "act_bits": 1, "seed": 1}, golden=_golden(32, 1)),
        Build({"lanes": 32, "act_bits": 8, "seed": 1, "source": "shared"},
              golden=_golden(32, 8, "shared"), random_beats=500),
    ],
    "verilator": [
        Build({"lanes": 32, "act_bits": 8, "seed": 1}, golden=_golden(32, 8), random_beats=10_000),
        Build({"lanes": 32, "act_bits": 8, "seed": 1, "source": "shared"},
              golden=_golden(32, 8, "shared"), random_beats=10_000),
    ],
}  # fmt: skip


class LfsrTB(TB):
    """The bank's testbench: ``o`` taken by a :class:`StreamMonitor`, seed loads."""

    def __init__(self, dut: Any, test: str) -> None:
        super().__init__(dut, test)
        self.lanes = self.params["lanes"]
        self.act_bits = self.params["act_bits"]
        self.spec = BinarizerSpec(lanes=self.lanes, act_bits=self.act_bits,
                                  seed=self.params["seed"],
                                  source=self.params.get("source", "lanes"))  # fmt: skip
        self.loads = 0

    def idle(self) -> None:
        self.dut.o__ready.value = 0
        self.dut.seed.value = 0
        self.dut.load.value = 0

    def monitor(self, stall: float = 0.0, limit: int | None = None) -> StreamMonitor:
        return StreamMonitor(self, "o", stall, limit).start()

    async def load(self, seed: int, reference: LfsrReference | None = None) -> None:
        """Load ``seed`` at run time and check the handshake: ``busy`` with ``o.valid``
        low for exactly ``lanes`` cycles (a per-lane bank) or ``1 + warmup`` (the shared
        one), or, for seed 0, none (one cycle on the shared bank) and ``seed_error``
        set. ``reference`` learns the load cycle."""
        self.dut.seed.value = seed
        cycle = await self.pulse(self.dut.load)
        if reference is not None and seed:
            reference.load(cycle, seed)
        busy = 0
        while True:
            await ReadOnly()
            if not read(self.dut.busy):
                break
            assert not read(self.dut.o__valid), f"o.valid high in loading cycle {busy}"
            busy += 1
            await RisingEdge(self.dut.clk)
        if self.spec.source == "lanes":
            want = self.lanes if seed else 0
        else:
            want = 1 + (self.spec.shared.warmup if seed else 0)
        assert busy == want, f"busy for {busy} cycles loading {seed:#x}"
        assert read(self.dut.seed_error) == (seed == 0), f"seed_error wrong after {seed:#x}"
        await RisingEdge(self.dut.clk)
        self.loads += 1


class LfsrReference:
    """Expected ``o`` payloads: lane ``j`` of the ``k``-th beat after a seed takes
    effect is element ``k*lanes + j`` of :func:`model.lfsr.codes` for that seed.
    A load in cycle ``c`` governs the beats taken after ``c``."""

    def __init__(self, spec: BinarizerSpec) -> None:
        self.spec, self.lanes, self.act_bits = spec, spec.lanes, spec.act_bits
        seed = spec.seed
        self.cycles = [-1]  # load cycle of each segment
        self.seeds = [seed]
        self.taken = [0]
        self.cache: list[list[int]] = [[]]
        self.current = 0  # segment of the latest beat: segments never go back

    def load(self, cycle: int, seed: int) -> None:
        self.cycles.append(cycle)
        self.seeds.append(seed)
        self.taken.append(0)
        self.cache.append([])

    def __call__(self, index: int, beat: Beat) -> Expect:
        s = bisect.bisect_left(self.cycles, beat.cycle) - 1
        assert s >= self.current, f"beat of cycle {beat.cycle} before a load it followed"
        self.current = s
        k = self.taken[s]
        self.taken[s] += 1
        if k >= len(self.cache[s]):  # extend by doubling: the model is fast in bulk
            n = max(64, 2 * k)
            spec = dataclasses.replace(self.spec, seed=self.seeds[s])
            codes = source_codes(spec, n * self.lanes)
            self.cache[s] = pl.pack([(codes.reshape(n, self.lanes), self.act_bits)])
        return Expect(self.cache[s][k])


@cocotb.test()
async def golden_vectors(dut: Any) -> None:
    """Each golden case from reset (its seed loaded at run time unless it is the reset
    seed), ``ready`` stalled 30% of cycles; a partial last beat is compared on its
    valid lanes."""
    tb = LfsrTB(dut, "golden_vectors")
    beats = 0
    for name in tb.build.golden:
        case = GOLDEN[name]
        codes = case.arrays["codes"]
        await tb.reset()
        if case.meta["seed"] != tb.params["seed"]:
            await tb.load(case.meta["seed"])
        payloads = pl.pack([(pl.rows(codes, tb.lanes), tb.act_bits)])
        tail = codes.size - (len(payloads) - 1) * tb.lanes
        expected = [Expect(p) for p in payloads]
        expected[-1] = Expect(payloads[-1], (1 << (tail * tb.act_bits)) - 1)
        stall = STALLS["both"][1]
        mon = tb.monitor(stall, limit=len(payloads))
        sb = Scoreboard(
            tb, name, mon, lambda i, _b, e=expected: e[i], lane_diff(tb.act_bits, tb.lanes)
        )
        await sb.check(len(payloads), beats_budget(len(payloads), (0, stall)))
        mon.stop()
        assert sb.checked == len(payloads)
        beats += sb.checked
    tb.record(cases=len(tb.build.golden), beats=beats)


@cocotb.test()
async def random_stimuli(dut: Any) -> None:
    """``random_beats`` beats in segments, each under another stall profile, with a
    run-time load of a random seed (every fifth zero, which must change nothing)
    between segments while the monitor keeps taking beats."""
    tb = LfsrTB(dut, "random_stimuli")
    total = tb.build.random_beats
    await tb.reset()
    ref = LfsrReference(tb.spec)
    mon = tb.monitor()
    sb = Scoreboard(tb, "o", mon, ref, lane_diff(tb.act_bits, tb.lanes))
    profiles = list(STALLS.values())
    zero_loads = 0
    while sb.checked < total:
        n = min(total - sb.checked, tb.rng.randint(max(1, total // 24), max(1, total // 8)))
        mon.stall = profiles[tb.loads % len(profiles)][1]
        mon.limit = sb.checked + n  # raised before a load: a beat may go in its cycle
        if sb.checked:
            seed = 0 if tb.loads % 5 == 4 else tb.rng.randrange(1, 1 << tb.spec.seed_bits)
            zero_loads += seed == 0
            await tb.load(seed, ref)
        await sb.check(n, beats_budget(n, (0, mon.stall)) + tb.lanes)
    mon.stop()
    assert sb.checked == total == mon.taken
    assert total < 2000 or tb.loads - zero_loads >= 3, "too few seed loads to mean anything"
    tb.record(beats=sb.checked, loads=tb.loads, zero_loads=zero_loads)


@pytest.mark.parametrize(("sim", "build"), parametrize(BUILDS))
def test_lfsr(sim: str, build: Build) -> None:
    counts = cosim(
        block=BLOCK, sim=sim, build=build, make_dut=lambda: make_dut(build.dut), module=__name__
    )
    beats = sum(-(-GOLDEN[n].arrays["codes"].size // build.dut["lanes"]) for n in build.golden)
    assert counts["golden_vectors"] == {"cases": len(build.golden), "beats": beats}
    assert counts["random_stimuli"]["beats"] == build.random_beats
    assert len(build.golden) + build.random_beats > 0, "a build that checks nothing"

"""Cosimulation of :class:`hw.xnor_acc.XnorAccumulator` against the golden sums and
:func:`model.xnor_acc.dot` with the beat framing of :func:`model.xnor_acc.split_beats`:
random modes, lengths and stalls, garbage in invalid lanes and in the ignored operand
bits of xnor/and beats, arbitrary lane masks, dot products that change mode from beat
to beat, the longest dot products at full magnitude, the latency and throughput the
block states, and its sticky ``error`` flag."""

from __future__ import annotations

from typing import Any, NamedTuple

import cocotb
import numpy as np
import pytest

import golden
from hw.xnor_acc import XnorAccumulator
from model.xnor_acc import as_mode, dot, split_beats
from spec import DatapathSpec, Mode

from .tb import lanes as pl
from .tb.config import Build
from .tb.stream import (
    STALLS,
    TB,
    Beat,
    Expect,
    Scoreboard,
    StreamDriver,
    StreamMonitor,
    beats_budget,
)
from .tb.toolchain import cosim, parametrize

BLOCK = "xnor_acc"
GOLDEN = {c.name: c for c in golden.cases(BLOCK)}


def spec_of(dut: dict[str, Any]) -> DatapathSpec:
    return DatapathSpec(
        lanes=dut["lanes"],
        act_bits=dut["act_bits"],
        acc_bits=dut["acc_bits"],
        max_beats=dut["max_beats"],
    )


def make_dut(dut: dict[str, Any]) -> XnorAccumulator:
    return XnorAccumulator(spec_of(dut), modes=[as_mode(m) for m in dut["modes"]])


def _fits(case: golden.GoldenCase, dut: dict[str, Any]) -> bool:
    """A golden case runs on a build with its lane count and mode, wide enough operands,
    and room for its length and sums."""
    spec, meta = spec_of(dut), case.meta
    return (
        meta["lanes"] == spec.lanes
        and meta["mode"] in dut["modes"]
        and (meta["mode"] != "code" or meta["act_bits"] <= spec.act_bits)
        and case.arrays["weights"].shape[-1] <= spec.max_elements
        and int(np.abs(case.arrays["sums"]).max()) <= spec.acc_max
    )


def _build(
    random_beats: int,
    modes: tuple[str, ...] = ("xnor", "and", "code"),
    extremes: bool = False,
    **spec: int,
) -> Build:
    s = DatapathSpec(**spec)
    dut = {
        "lanes": s.lanes,
        "act_bits": s.act_bits,
        "acc_bits": s.acc_bits,
        "max_beats": s.max_beats,
        "modes": list(modes),
    }
    names = tuple(n for n, c in GOLDEN.items() if _fits(c, dut))
    return Build(dut, names, random_beats, {"extremes": extremes})


BUILDS = {
    "icarus": [
        _build(10_000, extremes=True, lanes=8, act_bits=8, acc_bits=16, max_beats=16),
        _build(1_000, ("xnor", "and"), lanes=1, act_bits=1, acc_bits=8, max_beats=127),
        _build(300, ("code",), lanes=1, act_bits=8),
        _build(300, lanes=32, act_bits=8),
    ],
    "verilator": [_build(10_000, extremes=True, lanes=32, act_bits=8)],
}


class DotProduct(NamedTuple):
    """One dot product as beats: per beat the mode, and ``(beats, lanes)`` arrays of
    weights, operands and valid flags; ``total`` is the expected sum."""

    modes: list[int]
    w: np.ndarray
    a: np.ndarray
    valid: np.ndarray
    total: int


class XnorTB(TB):
    def __init__(self, dut: Any, test: str) -> None:
        super().__init__(dut, test)
        self.spec = spec_of(self.params)
        self.lanes = self.spec.lanes
        self.modes = [as_mode(m) for m in self.params["modes"]]
        self.driver = StreamDriver(self, "i")
        self.monitor = StreamMonitor(self, "o")
        self.acc_mask = (1 << self.spec.acc_bits) - 1

    def idle(self) -> None:
        self.driver.idle()
        self.monitor.idle()
        self.dut.mode.value = 0

    def payloads(self, dots: list[DotProduct]) -> tuple[list[int], list[int]]:
        """The ``i`` payloads and ``mode`` values of ``dots``, back to back."""
        w = np.concatenate([d.w for d in dots])
        a = np.concatenate([d.a for d in dots])
        valid = np.concatenate([d.valid for d in dots])
        first = np.concatenate([np.eye(1, len(d.w), 0, dtype=np.int64).T for d in dots])
        last = np.concatenate([pl.last_flags(len(d.w)) for d in dots])
        fields = [(w, 1), (a, self.spec.act_bits), (valid, 1), (first, 1), (last, 1)]
        return pl.pack(fields), [m for d in dots for m in d.modes]

    def expect(self, dots: list[DotProduct]) -> list[Expect]:
        return [Expect(d.total & self.acc_mask) for d in dots]

    def describe(self, got: int, expected: int, mask: int) -> str:
        def signed(x: int) -> int:
            return x - (1 << self.spec.acc_bits) if x >> (self.spec.acc_bits - 1) else x

        return f"sum {signed(got)}, expected {signed(expected)}"

    async def run(self, dots: list[DotProduct], stall: tuple[float, float]) -> int:
        """Send ``dots`` and check their sums in order; returns the beats sent."""
        payloads, modes = self.payloads(dots)
        expected = self.expect(dots)
        base = self.scoreboard.checked
        self.driver.stall, self.monitor.stall = stall
        send = cocotb.start_soon(self.driver.send(payloads, mode=modes))
        assert base == len(self.expected)
        self.expected += expected
        await self.scoreboard.check(len(dots), beats_budget(len(payloads), stall) + 16)
        assert await send == len(payloads)
        return len(payloads)

    def start(self) -> None:
        """Start taking sums, compared in order with what :meth:`run` expects."""
        self.expected: list[Expect] = []
        self.monitor.start()
        self.scoreboard = Scoreboard(
            self, "o", self.monitor, lambda k, _b: self.expected[k], self.describe
        )


def from_golden(tb: XnorTB, case: golden.GoldenCase) -> list[DotProduct]:
    """A golden case's dot products framed by :func:`model.xnor_acc.split_beats`."""
    mode = as_mode(case.meta["mode"]).value
    w, a, valid = split_beats(case.arrays["weights"], case.arrays["acts"], tb.lanes)
    out = []
    for k, total in enumerate(case.arrays["sums"]):
        bits = [[m >> j & 1 for j in range(tb.lanes)] for m in w[k]]
        masks = [[m >> j & 1 for j in range(tb.lanes)] for m in valid[k]]
        out.append(
            DotProduct(
                [mode] * len(bits),
                np.array(bits, dtype=np.int64),
                a[k],
                np.array(masks, dtype=np.int64),
                int(total),
            )
        )
    return out


def random_dot(tb: XnorTB, beats: int) -> DotProduct:
    """A random dot product of ``beats`` beats: mostly one mode framed by
    :func:`~model.xnor_acc.split_beats` with a random length, else random lane masks
    (one in five) and per-beat modes (one in ten). Invalid lanes carry random ``w`` and
    ``a``, xnor/and operands random upper bits: the block must ignore both. The sum is
    :func:`~model.xnor_acc.dot` over the elements each beat's mode and mask select."""
    rng, np_rng, lanes, spec = tb.rng, tb.np_rng, tb.lanes, tb.spec
    top = (1 << spec.act_bits) - 1
    mode = rng.choice(tb.modes)
    modes = [mode] * beats
    if len(tb.modes) > 1 and rng.random() < 0.1:
        modes = [rng.choice(tb.modes) for _ in range(beats)]
    w = np_rng.integers(0, 2, size=(beats, lanes))
    a = pl.codes_with_edges(np_rng, (beats, lanes), spec.act_bits)
    if rng.random() < 0.2:
        valid = np_rng.integers(0, 2, size=(beats, lanes))
    else:
        length = (beats - 1) * lanes + rng.randint(1, lanes)
        _, _, packed = split_beats(w.reshape(-1)[:length], a.reshape(-1)[:length], lanes)
        valid = np.array([[m >> j & 1 for j in range(lanes)] for m in packed])
    total = 0
    for m in set(modes):
        rows = np.array(modes) == m
        sel = (valid == 1) & rows[:, None]
        if sel.any():
            acts = a[sel] if m is Mode.CODE else a[sel] & 1
            total += int(dot(w[sel][None], acts[None], m, spec)[0])
    assert abs(total) <= top * lanes * beats
    return DotProduct([m.value for m in modes], w, a, valid, total)


def extreme_dots(tb: XnorTB) -> list[DotProduct]:
    """The longest dot product at the largest magnitude, both signs, in each built mode."""
    spec, lanes, n = tb.spec, tb.lanes, tb.spec.max_beats
    top = (1 << spec.act_bits) - 1
    ones = np.ones((n, lanes), dtype=np.int64)
    out = []
    for m in tb.modes:
        a = ones * (top if m is Mode.CODE else 1)
        for w in (ones, ones * 0):
            total = int(dot(w.reshape(1, -1), a.reshape(1, -1), m, spec)[0])
            out.append(DotProduct([m.value] * n, w, a, ones, total))
    return out


@cocotb.test()
async def golden_vectors(dut: Any) -> None:
    """Every golden case that fits the build, both streams stalled 30%."""
    tb = XnorTB(dut, "golden_vectors")
    await tb.reset()
    tb.start()
    beats = sums = 0
    for name in tb.build.golden:
        dots = from_golden(tb, GOLDEN[name])
        beats += await tb.run(dots, STALLS["both"])
        sums += len(dots)
    assert tb.scoreboard.checked == sums
    assert await tb.sample(dut.error) == 0, "error flag set by legal beats"
    tb.record(cases=len(tb.build.golden), beats=beats, sums=sums)


@cocotb.test()
async def random_stimuli(dut: Any) -> None:
    """``random_beats`` beats of random dot products in segments, each under another
    stall profile, starting with the longest ones at full magnitude when they fit."""
    tb = XnorTB(dut, "random_stimuli")
    total = tb.build.random_beats
    await tb.reset()
    tb.start()
    profiles = list(STALLS.values())
    beats = segments = extremes = extreme_beats = 0
    if tb.build.options.get("extremes"):
        dots = extreme_dots(tb)
        extreme_beats = await tb.run(dots, profiles[0])
        extremes = len(dots)
    longest = min(tb.spec.max_beats, 12)
    while beats < total:
        budget = min(total - beats, tb.rng.randint(200, 800))
        dots = []
        while budget:
            n = min(budget, tb.rng.choice([1, 1, 2, 3, tb.rng.randint(1, longest)]))
            dots.append(random_dot(tb, n))
            budget -= n
        beats += await tb.run(dots, profiles[segments % len(profiles)])
        segments += 1
    assert beats == total
    assert await tb.sample(dut.error) == 0, "error flag set by legal beats"
    tb.record(
        beats=beats,
        sums=tb.scoreboard.checked,
        segments=segments,
        extremes=extremes,
        extreme_beats=extreme_beats,
    )


@cocotb.test()
async def latency_and_throughput(dut: Any) -> None:
    """No stalls, one-beat dot products: a beat in every cycle, a sum out in every
    cycle, each exactly ``latency`` cycles (the block's own figure) after its beat."""
    tb = XnorTB(dut, "latency_and_throughput")
    latency = tb.build.options["latency"]
    await tb.reset()
    tb.start()
    seen: list[int] = []

    def reference(k: int, beat: Beat) -> Expect:
        seen.append(beat.cycle)
        return tb.expected[k]

    tb.scoreboard.reference = reference
    dots = [random_dot(tb, 1) for _ in range(64)]
    await tb.run(dots, STALLS["none"])
    stamps = tb.driver.stamps
    assert stamps == list(range(stamps[0], stamps[0] + 64)), "the input stalled"
    assert [c - s for c, s in zip(seen, stamps, strict=True)] == [latency] * 64, (
        f"latencies {sorted({c - s for c, s in zip(seen, stamps, strict=True)})}, "
        f"expected {latency}"
    )
    tb.record(sums=len(seen))


@cocotb.test()
async def error_flag(dut: Any) -> None:
    """A beat with mode 3 (or a mode not built) sets ``error``, which stays set until
    reset; legal beats never set it."""
    tb = XnorTB(dut, "error_flag")
    bad = sorted({3} | {m.value for m in Mode} - {m.value for m in tb.modes})
    for mode in bad:
        await tb.reset()
        tb.start()
        await tb.run([random_dot(tb, 1)], STALLS["none"])
        assert await tb.sample(dut.error) == 0, "error set by a legal beat"
        payloads, _ = tb.payloads([random_dot(tb, 1)])
        assert await tb.driver.send(payloads, mode=[mode]) == 1
        flags = [await tb.sample(dut.error) for _ in range(8)]
        assert flags == [1] * 8, f"error after a mode-{mode} beat: {flags} (must stay set)"
        tb.monitor.stop()
    await tb.reset()
    assert await tb.sample(dut.error) == 0, "reset did not clear error"
    tb.record(illegal_modes=len(bad))


def _facts(dut: XnorAccumulator) -> dict[str, Any]:
    return {"latency": dut.latency}


@pytest.mark.parametrize(("sim", "build"), parametrize(BUILDS))
def test_xnor_acc(sim: str, build: Build) -> None:
    counts = cosim(
        block=BLOCK,
        sim=sim,
        build=build,
        make_dut=lambda: make_dut(build.dut),
        facts=_facts,
        module=__name__,
    )
    lanes = build.dut["lanes"]
    beats = sum(
        -(-GOLDEN[n].arrays["weights"].shape[-1] // lanes) * len(GOLDEN[n].arrays["sums"])
        for n in build.golden
    )
    sums = sum(len(GOLDEN[n].arrays["sums"]) for n in build.golden)
    assert counts["golden_vectors"] == {"cases": len(build.golden), "beats": beats, "sums": sums}
    assert counts["random_stimuli"]["beats"] == build.random_beats
    assert counts["latency_and_throughput"] == {"sums": 64}
    assert counts["error_flag"]["illegal_modes"] >= 1

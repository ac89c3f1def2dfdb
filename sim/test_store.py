"""Cosimulation of the store path, :class:`hw.store.BinarizeAndStore` (codes ->
binarizer -> packed SRAM), against the golden stored words and
``model.pack.pack_bits(model.binarize.binarize(codes))``: tensors of random lengths
with ``valid`` stalls, the LFSR running on across tensors and rounds, run-time seed
loads between rounds, overflow past ``depth``, address reads and stalled replays."""

from __future__ import annotations

from typing import Any

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ReadOnly, RisingEdge

import golden
from hw.store import BinarizeAndStore
from model.binarize import binarize
from model.pack import pack_bits
from spec import BinarizerSpec

from .tb import lanes as pl
from .tb.config import Build
from .tb.sram import SramReader, tensor_lengths
from .tb.stream import STALLS, TB, StreamDriver, read
from .tb.toolchain import cosim, parametrize

BLOCK = "store"
GOLDEN = {c.name: c for c in golden.cases(BLOCK)}


def _build(
    lanes: int,
    act_bits: int,
    word_bits: int,
    depth: int,
    random_beats: int,
    det: bool = False,
    platform: str | None = None,
    source: str = "shared",
) -> Build:
    """A build on random ``source`` (the store path's default, the shared LFSR, or
    ``"lanes"``); ``platform="ecp5"`` elaborates the SRAM with its 2-cycle read on
    DP16KD block RAM (``sim/hdl/dp16kd.v`` models it)."""
    key = (lanes, act_bits, word_bits, source)
    names = (
        ()
        if det
        else tuple(
            n
            for n, c in GOLDEN.items()
            if (c.meta["lanes"], c.meta["act_bits"], c.meta["word_bits"], c.meta["source"]) == key
        )
    )
    dut = {"lanes": lanes, "act_bits": act_bits, "seed": 0x5EED, "deterministic": det,
           "source": source}  # fmt: skip
    dut |= {"word_bits": word_bits, "depth": depth}
    if platform:
        dut["read_latency"] = 2
    options = {"platform": platform} if platform else {}
    return Build(dut, names, random_beats, options)


#: Icarus's 10,000 random beats run at 4 lanes (see sim/test_lfsr.py for why).
BUILDS = {
    "icarus": [
        _build(4, 8, 32, 64, 10_000),
        _build(1, 4, 8, 64, 500),
        _build(8, 8, 32, 64, 300),
        _build(8, 8, 32, 64, 300, source="lanes"),
        _build(8, 4, 16, 64, 1_000, det=True),
        _build(8, 8, 32, 64, 1_000, platform="ecp5"),
    ],
    "verilator": [_build(32, 8, 32, 256, 10_000)],
}


class StoreTB(TB):
    def __init__(self, dut: Any, test: str) -> None:
        super().__init__(dut, test)
        self.lanes = self.params["lanes"]
        self.act_bits = self.params["act_bits"]
        self.word_bits = self.params["word_bits"]
        self.depth = self.params["depth"]
        self.det = self.params["deterministic"]
        self.source = self.params["source"]
        self.driver = StreamDriver(self, "i")
        self.sram = SramReader(self, self.word_bits, self.params.get("read_latency", 1))

    def idle(self) -> None:
        self.driver.idle()
        self.sram.idle()
        self.dut.seed.value = 0
        self.dut.load.value = 0

    async def load(self, seed: int) -> None:
        """Load ``seed`` between tensors; ``loading`` must end and ``seed_error`` tell
        whether the seed was refused (zero)."""
        self.dut.seed.value = seed
        await self.pulse(self.dut.load)
        spec = BinarizerSpec(source=self.source)
        busy = self.lanes if self.source == "lanes" else 1 + spec.shared.warmup
        for _ in range(busy + 2):
            await ReadOnly()
            loading, error = read(self.dut.loading), read(self.dut.seed_error)
            await RisingEdge(self.dut.clk)
            if not loading:
                break
        assert not loading, "loading still high"
        assert error == (seed == 0), f"seed_error {error} after loading {seed:#x}"

    def payloads(self, rows: np.ndarray) -> list[int]:
        return pl.pack([(rows, self.act_bits), (pl.last_flags(len(rows)), 1)])

    async def store(self, tensors: list[np.ndarray], stall: float) -> tuple[int, np.ndarray]:
        """Stream ``tensors`` (code arrays), each padded to whole beats with code 0 and
        ending with ``last``. Returns the beats sent and the padded code stream the
        LFSR lanes saw, in order."""
        rows = [pl.rows(t, self.lanes) for t in tensors]
        payloads = [p for r in rows for p in self.payloads(r)]
        self.driver.stall = stall
        assert await self.driver.send(payloads) == len(payloads)
        return len(payloads), np.concatenate(rows).reshape(-1)

    def expected_words(
        self, tensors: list[np.ndarray], stream: np.ndarray, seed: int, offset: int
    ) -> np.ndarray:
        """The model's words for ``tensors``, given the padded code stream since the
        last seed load (``stream``) whose final part, from element ``offset``, they are."""
        bits = binarize(stream, seed=seed, lanes=self.lanes, act_bits=self.act_bits,
                        deterministic=self.det, source=self.source)[offset:]  # fmt: skip
        words, at = [], 0
        for t in tensors:
            words.append(pack_bits(bits[at : at + t.size], self.word_bits))
            at += -(-t.size // self.lanes) * self.lanes
        assert at == bits.size
        return np.concatenate(words)


@cocotb.test()
async def golden_vectors(dut: Any) -> None:
    """Each golden case from reset, its seed loaded at run time: codes in with
    ``valid`` stalled 30%, then every stored word read by address and replayed with
    ``ready`` stalled 30%."""
    tb = StoreTB(dut, "golden_vectors")
    beats = words = 0
    for name in tb.build.golden:
        case = GOLDEN[name]
        expected = [int(w) for w in case.arrays["words"]]
        await tb.reset()
        if case.meta["seed"] != tb.params["seed"]:
            await tb.load(case.meta["seed"])
        idle, back = STALLS["both"]
        sent, _ = await tb.store([case.arrays["codes"]], idle)
        await tb.sram.wait_count(len(expected), within=8)
        await tb.sram.check(expected, False, tb.rng, back)
        beats += sent
        words += len(expected)
    tb.record(cases=len(tb.build.golden), beats=beats, words=words, reads=tb.sram.reads)


@cocotb.test()
async def random_stimuli(dut: Any) -> None:
    """Rounds of random tensors (every sixth overflowing ``depth``), each under
    another stall profile, checked by 32 address reads and a replay, then ``clear``;
    a stochastic build loads a new seed (every fourth zero) before every third round,
    else the LFSR runs on. ``random_beats`` beats in all."""
    tb = StoreTB(dut, "random_stimuli")
    total = tb.build.random_beats
    await tb.reset()
    seed = tb.params["seed"]
    stream = np.zeros(0, dtype=np.int64)  # padded codes since the last effective load
    profiles = list(STALLS.values())
    beats = rounds = overflows = loads = 0
    while beats < total:
        if rounds % 3 == 1 and not tb.det:
            width = BinarizerSpec(source=tb.source).seed_bits
            new = 0 if loads % 4 == 3 else tb.rng.randrange(1, 1 << width)
            await tb.load(new)
            loads += 1
            if new:
                seed, stream = new, stream[:0]
        overflow = rounds % 6 == 5
        lengths = tensor_lengths(tb.rng, tb.lanes, tb.word_bits, tb.depth, total - beats, overflow)
        tensors = [pl.codes_with_edges(tb.np_rng, (n,), tb.act_bits) for n in lengths]
        idle, back = profiles[rounds % len(profiles)]
        sent, codes = await tb.store(tensors, idle)
        offset = stream.size
        stream = np.concatenate([stream, codes])
        words = tb.expected_words(tensors, stream, seed, offset)
        kept = [int(w) for w in words[: tb.depth]]
        await tb.sram.wait_count(len(kept), within=8)
        await tb.sram.check(kept, words.size > tb.depth, tb.rng, back, reads=32)
        await tb.sram.clear()
        beats += sent
        rounds += 1
        overflows += words.size > tb.depth
    assert beats == total
    assert total < 2000 or overflows >= 1, "no round overflowed"
    assert tb.det or total < 2000 or loads >= 2, "too few seed loads"
    tb.record(
        beats=beats,
        rounds=rounds,
        overflows=overflows,
        loads=loads,
        reads=tb.sram.reads,
        replayed=tb.sram.replayed,
    )


@pytest.mark.parametrize(("sim", "build"), parametrize(BUILDS))
def test_store(sim: str, build: Build) -> None:
    counts = cosim(
        block=BLOCK,
        sim=sim,
        build=build,
        make_dut=lambda: BinarizeAndStore(**build.dut),
        module=__name__,
    )
    lanes = build.dut["lanes"]
    beats = sum(-(-GOLDEN[n].arrays["codes"].size // lanes) for n in build.golden)
    words = sum(GOLDEN[n].arrays["words"].size for n in build.golden)
    assert counts["golden_vectors"] == {
        "cases": len(build.golden),
        "beats": beats,
        "words": words,
        "reads": words,
    }
    assert counts["random_stimuli"]["beats"] == build.random_beats

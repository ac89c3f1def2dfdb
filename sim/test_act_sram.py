"""Cosimulation of :class:`hw.act_sram.ActivationSRAM` against the golden packed words
(``pack`` and ``store`` cases) and :func:`model.pack.pack_bits`: tensors of random
lengths streamed with ``valid`` stalls, address reads, replays with ``ready`` stalls,
overflow past ``depth``, and ``clear``."""

from __future__ import annotations

from typing import Any

import cocotb
import numpy as np
import pytest

import golden
from hw.act_sram import ActivationSRAM
from model.pack import pack_bits, unpack_bits

from .tb import lanes as pl
from .tb.config import Build
from .tb.sram import SramReader, tensor_lengths
from .tb.stream import STALLS, TB, StreamDriver
from .tb.toolchain import cosim, parametrize

BLOCK = "act_sram"
GOLDEN = {f"pack/{c.name}": c for c in golden.cases("pack")} | {
    f"store/{c.name}": c for c in golden.cases("store")
}


def golden_bits(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(bits, words)`` of a golden case: a ``pack`` case's stream, or the stored
    words of a ``store`` case with the bit stream recovered from them."""
    case = GOLDEN[name]
    words = case.arrays["words"]
    if name.startswith("pack/"):
        return case.arrays["bits"], words
    n = case.arrays["codes"].size
    return unpack_bits(words, n=n, word_bits=case.meta["word_bits"]), words


def _build(
    lanes: int,
    word_bits: int,
    depth: int,
    random_beats: int,
    read_latency: int = 1,
    platform: str | None = None,
) -> Build:
    """A build; ``platform="ecp5"`` (with ``read_latency=2``) puts the words in DP16KD
    block RAM (``sim/hdl/dp16kd.v`` models it)."""
    names = tuple(n for n, c in GOLDEN.items() if c.meta["word_bits"] == word_bits)
    dut = {"lanes": lanes, "word_bits": word_bits, "depth": depth}
    if read_latency != 1:
        dut["read_latency"] = read_latency
    options = {"platform": platform} if platform else {}
    return Build(dut, names, random_beats, options)


BUILDS = {
    "icarus": [
        _build(8, 32, 64, 10_000),
        _build(1, 8, 64, 1_000),
        _build(16, 16, 48, 1_000),
        _build(8, 32, 64, 2_000, read_latency=2),
        _build(8, 32, 64, 2_000, read_latency=2, platform="ecp5"),
        _build(1, 8, 2048, 1_000, read_latency=2, platform="ecp5"),
    ],
    "verilator": [_build(32, 64, 256, 10_000)],
}


class SramTB(TB):
    def __init__(self, dut: Any, test: str) -> None:
        super().__init__(dut, test)
        self.lanes = self.params["lanes"]
        self.word_bits = self.params["word_bits"]
        self.depth = self.params["depth"]
        self.driver = StreamDriver(self, "i")
        self.sram = SramReader(self, self.word_bits, self.params.get("read_latency", 1))

    def idle(self) -> None:
        self.driver.idle()
        self.sram.idle()

    def beats(self, tensors: list[np.ndarray]) -> list[int]:
        """``i`` payloads for ``tensors`` (bit arrays), each ending with ``last``."""
        out: list[int] = []
        for bits in tensors:
            data = pl.rows(bits, self.lanes)
            out += pl.pack([(data, 1), (pl.last_flags(len(data)), 1)])
        return out

    async def write(self, tensors: list[np.ndarray], stall: float) -> int:
        self.driver.stall = stall
        payloads = self.beats(tensors)
        assert await self.driver.send(payloads) == len(payloads)
        return len(payloads)


@cocotb.test()
async def golden_vectors(dut: Any) -> None:
    """Each golden stream stored (``valid`` stalled 30%), then every word read back by
    address in random order and replayed with ``ready`` stalled 30%; ``clear``
    between cases."""
    tb = SramTB(dut, "golden_vectors")
    await tb.reset()
    beats = words = 0
    for name in tb.build.golden:
        bits, expected = golden_bits(name)
        assert expected.size <= tb.depth, f"{name} needs a deeper build"
        idle, back = STALLS["both"]
        beats += await tb.write([bits], idle)
        await tb.sram.check([int(w) for w in expected], False, tb.rng, back)
        await tb.sram.clear()
        words += expected.size
    assert tb.sram.replayed == words
    tb.record(cases=len(tb.build.golden), beats=beats, words=words, reads=tb.sram.reads)


@cocotb.test()
async def random_stimuli(dut: Any) -> None:
    """Rounds of random tensors (every sixth overflowing ``depth``) under a new
    stall profile each: contents checked by 32 random address reads and a replay
    against :func:`model.pack.pack_bits`, then ``clear``; ``random_beats`` beats in
    all."""
    tb = SramTB(dut, "random_stimuli")
    total = tb.build.random_beats
    await tb.reset()
    profiles = list(STALLS.values())
    beats = rounds = overflows = 0
    while beats < total:
        overflow = rounds % 6 == 5
        lengths = tensor_lengths(tb.rng, tb.lanes, tb.word_bits, tb.depth, total - beats, overflow)
        tensors = [tb.np_rng.integers(0, 2, n).astype(np.uint8) for n in lengths]
        words = np.concatenate([pack_bits(t, tb.word_bits) for t in tensors])
        over = words.size > tb.depth
        idle, back = profiles[rounds % len(profiles)]
        beats += await tb.write(tensors, idle)
        await tb.sram.check([int(w) for w in words[: tb.depth]], over, tb.rng, back, reads=32)
        await tb.sram.clear()
        rounds += 1
        overflows += over
    assert beats == total
    assert total < 2000 or overflows >= 1, "no round overflowed"
    tb.record(
        beats=beats,
        rounds=rounds,
        overflows=overflows,
        reads=tb.sram.reads,
        replayed=tb.sram.replayed,
    )


@pytest.mark.parametrize(("sim", "build"), parametrize(BUILDS))
def test_act_sram(sim: str, build: Build) -> None:
    counts = cosim(
        block=BLOCK,
        sim=sim,
        build=build,
        make_dut=lambda: ActivationSRAM(**build.dut),
        module=__name__,
    )
    lanes = build.dut["lanes"]
    beats = sum(-(-golden_bits(n)[0].size // lanes) for n in build.golden)
    words = sum(golden_bits(n)[1].size for n in build.golden)
    assert counts["golden_vectors"] == {
        "cases": len(build.golden),
        "beats": beats,
        "words": words,
        "reads": words,
    }
    assert counts["random_stimuli"]["beats"] == build.random_beats

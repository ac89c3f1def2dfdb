# amaranth: UnusedElaboratable=no
"""BinarizeAndStore: codes in, packed words in memory equal to
pack_bits(binarize(codes)) from the model and the golden store vectors."""

from __future__ import annotations

import random

import numpy as np
import pytest

import golden
from hw.store import BinarizeAndStore
from model.binarize import binarize
from model.pack import pack_bits

from .streams import consume, lanes_to_int, produce, run

GOLDEN = golden.cases("store")


def _store_and_replay(dut: BinarizeAndStore, codes: np.ndarray, rng: random.Random) -> list[int]:
    """Stream a tensor's codes in with stalls, then replay the memory with a stalling
    consumer; returns the replayed words. Asserts every beat and word was seen."""
    lanes, act_bits = dut.spec.lanes, dut.spec.act_bits
    padded = np.zeros(-(-codes.size // lanes) * lanes, dtype=np.int64)
    padded[: codes.size] = codes
    rows = padded.reshape(-1, lanes)
    beats = [
        lanes_to_int(row, act_bits) | (int(t == len(rows) - 1) << (lanes * act_bits))
        for t, row in enumerate(rows)
    ]
    n_words = -(-codes.size // dut.packing.word_bits)
    words: list[int] = []

    async def producer(ctx):  # type: ignore[no-untyped-def]
        assert await produce(ctx, dut.i, beats, rng, stall=0.3) == len(beats)

    async def reader(ctx):  # type: ignore[no-untyped-def]
        while ctx.get(dut.count) < n_words:
            await ctx.tick()
        await ctx.tick()
        assert ctx.get(dut.overflow) == 0
        ctx.set(dut.replay, 1)
        await ctx.tick()
        ctx.set(dut.replay, 0)
        replayed = await consume(ctx, dut.o, n_words, rng, stall=0.3)
        lasts = [w >> dut.packing.word_bits for w in replayed]
        assert lasts == [0] * (n_words - 1) + [1]
        words.extend(w & ((1 << dut.packing.word_bits) - 1) for w in replayed)
        assert ctx.get(dut.count) == n_words

    run(dut, producer, reader, deadline_cycles=6 * (len(beats) + n_words) + 50)
    assert len(words) == n_words
    return words


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden(case: golden.GoldenCase) -> None:
    meta = case.meta
    dut = BinarizeAndStore(
        lanes=meta["lanes"],
        act_bits=meta["act_bits"],
        seed=meta["seed"],
        source=meta["source"],
        word_bits=meta["word_bits"],
    )
    words = _store_and_replay(dut, case.arrays["codes"], random.Random(case.name))
    assert words == case.arrays["words"].tolist()


@pytest.mark.parametrize(
    ("lanes", "act_bits", "word_bits", "deterministic", "latency", "source"),
    [
        (1, 8, 8, False, 1, "shared"),
        (8, 4, 16, False, 2, "shared"),
        (8, 8, 64, True, 1, "lanes"),
        (32, 8, 32, False, 1, "shared"),
        (32, 8, 32, False, 2, "lanes"),
    ],
)
def test_fresh_random_stimuli(
    lanes: int, act_bits: int, word_bits: int, deterministic: bool, latency: int, source: str
) -> None:
    rng = np.random.default_rng([lanes, act_bits, word_bits])
    seed = int(rng.integers(1, 1 << 64 if source == "shared" else 1 << 32, dtype=np.uint64))
    n = int(rng.integers(20, 30)) * word_bits + int(rng.integers(1, word_bits))
    codes = rng.integers(0, 1 << act_bits, size=n)
    dut = BinarizeAndStore(
        lanes=lanes,
        act_bits=act_bits,
        seed=seed,
        deterministic=deterministic,
        source=source,
        word_bits=word_bits,
        read_latency=latency,
    )
    words = _store_and_replay(dut, codes, random.Random(seed))
    bits = binarize(codes, seed=seed, lanes=lanes, act_bits=act_bits, deterministic=deterministic,
                    source=source)  # fmt: skip
    assert words == pack_bits(bits, word_bits).tolist()


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="lanes must be a power of two no larger than word_bits=8"):
        BinarizeAndStore(lanes=32, act_bits=8, seed=1, word_bits=8)
    with pytest.raises(ValueError, match="seed must be non-zero"):
        BinarizeAndStore(lanes=8, act_bits=8, seed=0)

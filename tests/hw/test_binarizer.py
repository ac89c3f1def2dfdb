# amaranth: UnusedElaboratable=no
"""StochasticBinarizer against model.binarize and the golden vectors, with stalls on
both sides."""

from __future__ import annotations

import random

import numpy as np
import pytest

import golden
from hw.binarizer import StochasticBinarizer
from model.binarize import binarize

from .streams import consume, int_to_lanes, lanes_to_int, produce, run

GOLDEN = golden.cases("binarize")


def _beats(codes: np.ndarray, lanes: int, act_bits: int) -> list[int]:
    """Codes as raw beats, the last beat padded with code 0 (whose bit is always 0)."""
    padded = np.zeros(-(-codes.size // lanes) * lanes, dtype=np.int64)
    padded[: codes.size] = codes
    return [lanes_to_int(row, act_bits) for row in padded.reshape(-1, lanes)]


def _simulate(dut: StochasticBinarizer, codes: np.ndarray, rng: random.Random) -> np.ndarray:
    """Stream ``codes`` through ``dut`` with random stalls; the bits of the first
    ``codes.size`` lanes out. Asserts every beat went in and came out."""
    lanes, act_bits = dut.spec.lanes, dut.spec.act_bits
    beats = _beats(codes, lanes, act_bits)
    got: list[int] = []
    sent: list[int] = []

    async def producer(ctx):  # type: ignore[no-untyped-def]
        sent.append(await produce(ctx, dut.i, beats, rng, stall=0.3))

    async def consumer(ctx):  # type: ignore[no-untyped-def]
        got.extend(await consume(ctx, dut.o, len(beats), rng, stall=0.3))

    run(dut, producer, consumer, deadline_cycles=8 * len(beats) + 50)
    assert sent == [len(beats)] and len(got) == len(beats)
    bits = [b for beat in got for b in int_to_lanes(beat, 1, lanes)]
    padding = bits[codes.size :]
    assert not any(padding), "a padded lane with code 0 gave a 1"
    return np.array(bits[: codes.size], dtype=np.uint8)


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden(case: golden.GoldenCase) -> None:
    meta = case.meta
    dut = StochasticBinarizer(
        lanes=meta["lanes"],
        act_bits=meta["act_bits"],
        seed=meta["seed"],
        deterministic=meta["deterministic"],
        source=meta["source"],
    )
    bits = _simulate(dut, case.arrays["codes"], random.Random(case.name))
    assert bits.size == case.arrays["bits"].size > 100
    np.testing.assert_array_equal(bits, case.arrays["bits"])


@pytest.mark.parametrize(
    ("lanes", "act_bits", "deterministic", "source"),
    [(1, 8, False, "lanes"), (8, 1, False, "lanes"), (8, 4, True, "lanes"),
     (32, 8, False, "lanes"), (32, 4, False, "lanes"), (1, 8, False, "shared"),
     (5, 3, False, "shared"), (32, 8, False, "shared"), (64, 8, False, "shared"),
     (100, 2, False, "shared")],
)  # fmt: skip
def test_fresh_random_stimuli(lanes: int, act_bits: int, deterministic: bool, source: str) -> None:
    rng = np.random.default_rng([lanes, act_bits, deterministic, source == "shared"])
    seed = int(rng.integers(1, 1 << (64 if source == "shared" else 32), dtype=np.uint64))
    n = int(rng.integers(60, 90)) * lanes + int(rng.integers(0, lanes))
    codes = rng.integers(0, 1 << act_bits, size=n)
    dut = StochasticBinarizer(
        lanes=lanes, act_bits=act_bits, seed=seed, deterministic=deterministic, source=source
    )
    bits = _simulate(dut, codes, random.Random(seed))
    expected = binarize(codes, seed=seed, lanes=lanes, act_bits=act_bits,
                        deterministic=deterministic, source=source)  # fmt: skip
    assert bits.size == n
    np.testing.assert_array_equal(bits, expected)


def test_full_throughput_and_latency() -> None:
    """With no stalls, a beat goes in every cycle and comes out one cycle later."""
    dut = StochasticBinarizer(lanes=8, act_bits=8, seed=3)
    trace: list[tuple[int, int]] = []

    async def tb(ctx):  # type: ignore[no-untyped-def]
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for cycle in range(20):
            ctx.set(dut.i.payload.as_value(), lanes_to_int([255] * 8, 8))
            _, _, i_ready, o_valid = await ctx.tick().sample(dut.i.ready, dut.o.valid)
            trace.append((i_ready, o_valid if cycle else 0))

    run(dut, tb, deadline_cycles=25)
    assert all(ready for ready, _ in trace)
    assert [valid for _, valid in trace] == [0] + [1] * 19


@pytest.mark.parametrize(("source", "new_seed"), [("lanes", 0x1234ABCD), ("shared", 2**64 - 3)])
def test_seed_load_through_binarizer(source: str, new_seed: int) -> None:
    """A seed loaded at run time gives the model's bits for that seed."""
    lanes, act_bits = 8, 8
    dut = StochasticBinarizer(lanes=lanes, act_bits=act_bits, seed=1, source=source)
    codes = np.random.default_rng(5).integers(0, 256, size=40 * lanes)

    async def loader(ctx):  # type: ignore[no-untyped-def]
        ctx.set(dut.seed, new_seed)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)

    got: list[int] = []

    async def rest(ctx):  # type: ignore[no-untyped-def]
        await ctx.tick()  # the load is seen first; the producer then waits on busy
        got.extend(await consume(ctx, dut.o, 40, random.Random(1), stall=0.2))

    async def producer(ctx):  # type: ignore[no-untyped-def]
        await ctx.tick()
        await produce(ctx, dut.i, _beats(codes, lanes, act_bits), random.Random(2), stall=0.2)

    run(dut, loader, producer, rest, deadline_cycles=300)
    bits = [b for beat in got for b in int_to_lanes(beat, 1, lanes)]
    expected = binarize(codes, seed=new_seed, lanes=lanes, act_bits=act_bits, source=source)
    assert bits == expected.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lanes": 8, "act_bits": 8, "seed": 0}, "seed must be non-zero"),
        ({"lanes": 8, "act_bits": 17, "seed": 1}, "act_bits must be in 1..16, not 17"),
        ({"lanes": 0, "act_bits": 8, "seed": 1}, "lanes must be in 1..4096, not 0"),
        ({"lanes": 5, "act_bits": 8, "seed": 1}, "lanes=5 makes lane 4 a linear combination"),
    ],
)
def test_bad_parameters(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StochasticBinarizer(**kwargs)


def test_deterministic_must_be_bool() -> None:
    with pytest.raises(TypeError, match="deterministic must be a bool"):
        StochasticBinarizer(lanes=8, act_bits=8, seed=1, deterministic=1)  # type: ignore[arg-type]

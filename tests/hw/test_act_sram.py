# amaranth: UnusedElaboratable=no
"""ActivationSRAM (hw/act_sram.py) against model/pack.py and the golden vectors.

Each stream test runs a producer testbench (random ``valid`` stalls) and a consumer
testbench (random ``ready`` stalls) side by side; every test asserts how many beats and
words it checked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import golden
from hw.act_sram import ActivationSRAM
from model.pack import pack_bits, unpack_bits

from .streams import consume, lanes_to_int, produce, run

LANES = (1, 8, 32)
#: Read latencies of the SRAM: SPEC 5's one cycle, and two (block RAM output register).
LATENCIES = (1, 2)
STALL = 0.3  # probability of an idle cycle before each beat / of dropping ready


def to_beats(bits: Sequence[int], lanes: int) -> list[int]:
    """Raw ``i`` payloads for one tensor: ``lanes`` bits per beat (the last beat padded
    with zeros), ``last`` (the field after ``data``) set on the final beat."""
    bits = [int(b) for b in bits]
    assert bits, "a tensor needs at least one beat to carry `last`"
    bits += [0] * (-len(bits) % lanes)
    beats = [lanes_to_int(bits[t : t + lanes], 1) for t in range(0, len(bits), lanes)]
    beats[-1] |= 1 << lanes
    return beats


def split_word(raw_payload: int, word_bits: int) -> tuple[int, int]:
    """``(data, last)`` of a raw ``o`` payload."""
    return raw_payload & ((1 << word_bits) - 1), raw_payload >> word_bits


async def pulse(ctx: Any, sig: Any) -> None:
    ctx.set(sig, 1)
    await ctx.tick()
    ctx.set(sig, 0)


async def read_by_address(ctx: Any, dut: ActivationSRAM, addrs: Sequence[int]) -> list[int]:
    """Read ``addrs`` back to back, one per cycle, checking the latency: ``rd_data``
    changes only at clock edges, and shows an address's word ``read_latency`` edges
    after the address was set."""
    out: list[int] = []
    lag = dut.read_latency - 1
    for i in range(len(addrs) + lag):
        before = ctx.get(dut.rd_data)
        if i < len(addrs):
            ctx.set(dut.rd_addr, addrs[i])
        if out:
            assert ctx.get(dut.rd_data) == before == out[-1], "rd_data changed before the edge"
        await ctx.tick()
        if i >= lag:
            out.append(ctx.get(dut.rd_data))
    return out


async def replay_consumer(
    ctx: Any, dut: ActivationSRAM, n: int, rng: random.Random, got: list[tuple[int, int]]
) -> None:
    """Take ``n`` replayed words with random ``ready`` stalls into ``got``; then, ready
    held high, check that nothing more comes and ``busy`` has dropped."""
    for p in await consume(ctx, dut.o, n, rng, STALL):
        got.append(split_word(p, dut.spec.word_bits))
    ctx.set(dut.o.ready, 1)
    for _ in range(8):
        assert not ctx.get(dut.o.valid), "a word beyond count was replayed"
        assert not ctx.get(dut.busy), "busy stayed high after the final word"
        await ctx.tick()
    ctx.set(dut.o.ready, 0)


def store_and_check(
    dut: ActivationSRAM, tensors: Sequence[Sequence[int]], expected: np.ndarray, seed: int
) -> None:
    """Stream ``tensors`` (lists of bits, one ``last`` each) into ``dut``, then check the
    ``expected`` words by address (random order, then in order) and by replay."""
    expected = [int(w) for w in expected]
    n = len(expected)
    assert n, "nothing to check"
    beats = [b for t in tensors for b in to_beats(t, dut.lanes)]
    rng_p, rng_c = random.Random(seed), random.Random(seed + 1)
    got: list[tuple[int, int]] = []
    by_addr: list[int] = []
    done = {"sent": 0, "replays": 0}

    async def producer(ctx: Any) -> None:
        done["sent"] = await produce(ctx, dut.i, beats, rng_p, STALL)
        await ctx.tick()
        assert ctx.get(dut.count) == n
        assert not ctx.get(dut.overflow)
        order = rng_p.sample(range(n), n) + list(range(n))
        by_addr.extend(await read_by_address(ctx, dut, order))
        assert by_addr == [expected[a] for a in order]
        await pulse(ctx, dut.replay)
        assert ctx.get(dut.busy)
        await ctx.tick().until(~dut.busy)
        done["replays"] += 1
        # Address reads work again after the replay.
        assert await read_by_address(ctx, dut, [n - 1, 0]) == [expected[n - 1], expected[0]]

    async def consumer(ctx: Any) -> None:
        await replay_consumer(ctx, dut, n, rng_c, got)

    run(dut, producer, consumer, deadline_cycles=4 * (len(beats) + 3 * n) + 200)
    assert done == {"sent": len(beats), "replays": 1}
    assert len(by_addr) == 2 * n
    assert [w for w, _ in got] == expected
    assert [last for _, last in got] == [0] * (n - 1) + [1]


def _pack_params() -> list[Any]:
    return [
        pytest.param(case, lanes, id=f"{case.name}-lanes{lanes}")
        for case in golden.cases("pack")
        for lanes in LANES
        if lanes <= case.meta["word_bits"]
    ]


@pytest.mark.parametrize("latency", LATENCIES)
@pytest.mark.parametrize(("case", "lanes"), _pack_params())
def test_golden_pack(case: golden.GoldenCase, lanes: int, latency: int) -> None:
    word_bits = case.meta["word_bits"]
    bits, words = case.arrays["bits"], case.arrays["words"]
    assert bits.size == case.meta["n"] and words.size == -(-bits.size // word_bits)
    dut = ActivationSRAM(lanes=lanes, word_bits=word_bits, read_latency=latency)
    store_and_check(dut, [bits], words, seed=lanes * 1000 + bits.size)


@pytest.mark.parametrize("latency", LATENCIES)
@pytest.mark.parametrize("case", golden.cases("store"), ids=lambda c: c.name)
def test_golden_store(case: golden.GoldenCase, latency: int) -> None:
    # The stored words of the binarizer->SRAM path, streamed at the case's lane count.
    # The bit stream is recovered from the words (the codes need the binarizer).
    word_bits, lanes = case.meta["word_bits"], case.meta["lanes"]
    words = case.arrays["words"]
    bits = unpack_bits(words, n=case.arrays["codes"].size, word_bits=word_bits)
    assert pack_bits(bits, word_bits).tolist() == words.tolist()
    dut = ActivationSRAM(lanes=lanes, word_bits=word_bits, read_latency=latency)
    store_and_check(dut, [bits], words, seed=lanes + word_bits)


@pytest.mark.parametrize("latency", LATENCIES)
@pytest.mark.parametrize(
    ("lanes", "word_bits"),
    [(1, 8), (8, 8), (1, 32), (8, 32), (32, 32), (8, 64), (32, 64)],
)
def test_random_tensors(lanes: int, word_bits: int, latency: int) -> None:
    rng = np.random.default_rng(lanes * 100 + word_bits)
    # A ragged length, an exact number of words, and whole beats but not whole words.
    lengths = [
        int(rng.integers(1, 5 * word_bits)),
        3 * word_bits,
        2 * word_bits + lanes * int(rng.integers(0, word_bits // lanes)) + lanes,
    ]
    tensors = [rng.integers(0, 2, n).astype(np.uint8) for n in lengths]
    expected = np.concatenate([pack_bits(t, word_bits) for t in tensors])
    dut = ActivationSRAM(lanes=lanes, word_bits=word_bits, depth=64, read_latency=latency)
    store_and_check(dut, tensors, expected, seed=lanes + word_bits)


def test_back_to_back_tensors_start_new_words() -> None:
    # 13 bits then 6 bits: without `last` they would share word 0.
    a = [1] * 13
    b = [1, 0, 1, 1, 0, 1]
    dut = ActivationSRAM(lanes=1, word_bits=16, depth=8)
    store_and_check(dut, [a, b], [0x1FFF, 0b101101], seed=7)


@pytest.mark.parametrize("depth", [3, 4])
def test_overflow_is_sticky_and_writes_nothing(depth: int) -> None:
    lanes, word_bits = 8, 32
    per_word = word_bits // lanes
    rng = random.Random(depth)
    words = [rng.getrandbits(word_bits) for _ in range(depth + 3)]
    beats = [
        lanes_to_int([(w >> (b * lanes)) & 0xFF], lanes) for w in words for b in range(per_word)
    ]
    beats[-1] |= 1 << lanes  # last
    fit, extra = beats[: depth * per_word], beats[depth * per_word :]
    dut = ActivationSRAM(lanes=lanes, word_bits=word_bits, depth=depth)
    checked = {"beats": 0, "reads": 0, "replayed": 0}

    async def producer(ctx: Any) -> None:
        checked["beats"] += await produce(ctx, dut.i, fit, rng, STALL)
        await ctx.tick()
        assert (ctx.get(dut.count), ctx.get(dut.overflow)) == (depth, 0)
        # All but the final beat of the next word: nothing is written yet.
        checked["beats"] += await produce(ctx, dut.i, extra[: per_word - 1], rng, STALL)
        await ctx.tick()
        assert (ctx.get(dut.count), ctx.get(dut.overflow)) == (depth, 0)
        checked["beats"] += await produce(ctx, dut.i, extra[per_word - 1 :], rng, 0.0)
        for _ in range(3):
            await ctx.tick()
            assert (ctx.get(dut.count), ctx.get(dut.overflow)) == (depth, 1)
        got = await read_by_address(ctx, dut, list(range(depth)))
        assert got == words[:depth], "a stored word changed (wrap?)"
        checked["reads"] += len(got)
        await pulse(ctx, dut.replay)
        await ctx.tick().until(~dut.busy)
        assert ctx.get(dut.overflow), "overflow is not sticky"
        await pulse(ctx, dut.clear)
        assert (ctx.get(dut.count), ctx.get(dut.overflow)) == (0, 0)
        # After clear the memory takes words again, from address 0.
        checked["beats"] += await produce(ctx, dut.i, to_beats([0, 1, 1], lanes), rng, STALL)
        await ctx.tick()
        assert (ctx.get(dut.count), ctx.get(dut.overflow)) == (1, 0)
        assert await read_by_address(ctx, dut, [0, 1]) == [0b110, words[1]]

    async def consumer(ctx: Any) -> None:
        got: list[tuple[int, int]] = []
        await replay_consumer(ctx, dut, depth, random.Random(depth + 1), got)
        assert got == [(w, int(k == depth - 1)) for k, w in enumerate(words[:depth])]
        checked["replayed"] += len(got)

    run(dut, producer, consumer, deadline_cycles=1000)
    assert checked == {"beats": len(beats) + 1, "reads": depth, "replayed": depth}


def test_clear_drops_partial_word() -> None:
    lanes, word_bits = 8, 32
    dut = ActivationSRAM(lanes=lanes, word_bits=word_bits, depth=4)
    checked = {"beats": 0, "reads": 0}

    async def producer(ctx: Any) -> None:
        # Three beats of ones, then clear mid-word: they must not leak into the next word,
        # which is shorter (two beats), so a stale third slot would show.
        checked["beats"] += await produce(ctx, dut.i, [0xFF] * 3, random.Random(1), STALL)
        await pulse(ctx, dut.clear)
        beats = to_beats([1] + [0] * 7 + [1], lanes)  # bits 0 and 8
        checked["beats"] += await produce(ctx, dut.i, beats, random.Random(2), STALL)
        await ctx.tick()
        assert ctx.get(dut.count) == 1
        got = await read_by_address(ctx, dut, [0])
        assert got == [0x101]
        checked["reads"] += len(got)

    run(dut, producer, deadline_cycles=200)
    assert checked == {"beats": 5, "reads": 1}


@pytest.mark.parametrize("latency", LATENCIES)
def test_replay_one_word_per_cycle(latency: int) -> None:
    n, word_bits = 10, 16
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2, n * word_bits - 5).astype(np.uint8)
    expected = pack_bits(bits, word_bits).tolist()
    dut = ActivationSRAM(lanes=16, word_bits=word_bits, depth=16, read_latency=latency)
    trace: list[tuple[int, int, int]] = []  # (cycle after the pulse, data, last) per word

    async def tb(ctx: Any) -> None:
        assert await produce(ctx, dut.i, to_beats(bits, 16), random.Random(0), 0.0) == n
        await ctx.tick()
        ctx.set(dut.o.ready, 1)
        await pulse(ctx, dut.replay)
        for cycle in range(1, n + 4):
            # A second pulse while busy is ignored.
            ctx.set(dut.replay, cycle == 3)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload.as_value())
            if valid:
                trace.append((cycle, *split_word(payload, word_bits)))
        ctx.set(dut.replay, 0)
        for _ in range(4):
            assert not ctx.get(dut.o.valid) and not ctx.get(dut.busy)
            await ctx.tick()

    run(dut, tb, deadline_cycles=200)
    # The pulse is sampled at edge 0; the first word is valid for the consumer at edge
    # latency + 1, then one word per edge.
    first = latency + 1
    assert trace == [(first + k, w, int(k == n - 1)) for k, w in enumerate(expected)]


def test_replay_of_nothing() -> None:
    dut = ActivationSRAM(lanes=8, word_bits=8, depth=4)
    cycles = {"watched": 0}

    async def tb(ctx: Any) -> None:
        ctx.set(dut.o.ready, 1)
        await pulse(ctx, dut.replay)
        for _ in range(8):
            assert not ctx.get(dut.busy) and not ctx.get(dut.o.valid)
            cycles["watched"] += 1
            await ctx.tick()

    run(dut, tb, deadline_cycles=50)
    assert cycles["watched"] == 8


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"lanes": 12},
            ValueError,
            r"^lanes must be a power of two no larger than word_bits=32, not 12$",
        ),
        (
            {"lanes": 64, "word_bits": 32},
            ValueError,
            r"^lanes must be a power of two no larger than word_bits=32, not 64$",
        ),
        (
            {"lanes": 0},
            ValueError,
            r"^lanes must be a power of two no larger than word_bits=32, not 0$",
        ),
        ({"lanes": 8.0}, TypeError, r"^lanes must be an integer, not 8\.0$"),
        ({"lanes": 8, "word_bits": 12}, ValueError, r"^word_bits must be one of 8, 16, 32, 64"),
        ({"lanes": 8, "depth": 0}, ValueError, r"^depth must be in 1\.\.16777216, not 0$"),
        ({"lanes": 8, "read_latency": 3}, ValueError, r"^read_latency must be 1 or 2, not 3$"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ActivationSRAM(**kwargs)

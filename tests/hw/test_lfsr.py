# amaranth: UnusedElaboratable=no
"""LfsrBank against model.lfsr.random_codes, and both banks against their golden
vectors."""

from __future__ import annotations

import random

import numpy as np
import pytest

import golden
from hw.lfsr import LfsrBank
from hw.shared_lfsr import SharedLfsrBank
from model.lfsr import random_codes

from .streams import consume, int_to_lanes, run

GOLDEN = golden.cases("lfsr") + golden.cases("shared_lfsr")


def _codes(raw: list[int], act_bits: int, lanes: int) -> list[int]:
    return [c for beat in raw for c in int_to_lanes(beat, act_bits, lanes)]


@pytest.mark.parametrize("case", GOLDEN, ids=[c.name for c in GOLDEN])
def test_golden(case: golden.GoldenCase) -> None:
    """Either bank (the case's spec names its source), ``ready`` stalled 30 %."""
    meta, expected = case.meta, case.arrays["codes"]
    lanes, act_bits = meta["lanes"], meta["act_bits"]
    shared = meta["spec"]["BinarizerSpec"]["source"] == "shared"
    dut = (SharedLfsrBank if shared else LfsrBank)(lanes=lanes, act_bits=act_bits,
                                                   seed=meta["seed"])  # fmt: skip
    beats = -(-expected.size // lanes)
    got: list[int] = []

    async def consumer(ctx):  # type: ignore[no-untyped-def]
        got.extend(await consume(ctx, dut.o, beats, random.Random(case.name), stall=0.3))

    run(dut, consumer, deadline_cycles=4 * beats + 20)
    assert len(got) == beats
    assert _codes(got, act_bits, lanes)[: expected.size] == expected.tolist()


@pytest.mark.parametrize(("lanes", "act_bits"), [(1, 8), (8, 4), (32, 8)])
def test_runtime_seed_load(lanes: int, act_bits: int) -> None:
    """Codes, then a load of a new seed mid-stream, then the new seed's codes from beat 0;
    a zero seed is flagged and changes nothing."""
    dut = LfsrBank(lanes=lanes, act_bits=act_bits, seed=1)
    rng = random.Random(lanes)
    new_seed = rng.randrange(1, 1 << 32)
    beats = 40
    log: dict[str, list[int]] = {}

    async def tb(ctx):  # type: ignore[no-untyped-def]
        log["before"] = await consume(ctx, dut.o, beats, rng, stall=0.2)
        ctx.set(dut.seed, 0)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        await ctx.tick()
        assert ctx.get(dut.seed_error) == 1 and ctx.get(dut.busy) == 0
        log["after_zero"] = await consume(ctx, dut.o, beats, rng, stall=0.2)
        ctx.set(dut.seed, new_seed)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        busy_cycles = 0
        while ctx.get(dut.busy):
            assert ctx.get(dut.o.valid) == 0
            busy_cycles += 1
            await ctx.tick()
        log["busy"] = [busy_cycles]
        assert ctx.get(dut.seed_error) == 0
        log["new"] = await consume(ctx, dut.o, beats, rng, stall=0.2)

    run(dut, tb, deadline_cycles=12 * beats + lanes + 50)
    old = random_codes(1, lanes, act_bits, 2 * beats * lanes).tolist()
    assert _codes(log["before"] + log["after_zero"], act_bits, lanes) == old
    assert log["busy"] == [lanes]
    new = random_codes(new_seed, lanes, act_bits, beats * lanes).tolist()
    assert _codes(log["new"], act_bits, lanes) == new


def test_zero_seed_refused_at_elaboration() -> None:
    with pytest.raises(ValueError, match="seed must be non-zero"):
        LfsrBank(lanes=8, act_bits=8, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lanes": 0, "act_bits": 8, "seed": 1}, "lanes must be in 1..4096, not 0"),
        ({"lanes": 8, "act_bits": 0, "seed": 1}, "act_bits must be in 1..16, not 0"),
        ({"lanes": 8, "act_bits": 8, "seed": 1 << 32}, "seed must be in 1..4294967295"),
        ({"lanes": 3, "act_bits": 8, "seed": 1}, "lanes=3 makes lane 2 a linear combination"),
    ],
)
def test_bad_parameters(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LfsrBank(**kwargs)


def test_fresh_seeds_match_model() -> None:
    """A few random seeds at 8 lanes x 8 bits, no stalls: every beat equals the model."""
    rng = np.random.default_rng(7)
    for seed in rng.integers(1, 1 << 32, size=3):
        dut = LfsrBank(lanes=8, act_bits=8, seed=int(seed))
        got: list[int] = []

        async def consumer(ctx, dut=dut, got=got):  # type: ignore[no-untyped-def]
            got.extend(await consume(ctx, dut.o, 100, random.Random(0), stall=0.0))

        run(dut, consumer, deadline_cycles=120)
        assert _codes(got, 8, 8) == random_codes(int(seed), 8, 8, 800).tolist()

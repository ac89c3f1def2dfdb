# amaranth: UnusedElaboratable=no
"""SharedLfsrBank against model.lfsr.shared_codes, with stalls and run-time seed loads
(its golden vectors: tests/hw/test_lfsr.py)."""

from __future__ import annotations

import random

import pytest

from hw.shared_lfsr import SharedLfsrBank
from model.lfsr import shared_codes
from spec import SharedLfsrSpec

from .streams import consume, run
from .test_lfsr import _codes


@pytest.mark.parametrize(
    ("lanes", "act_bits", "source"),
    [
        (1, 8, SharedLfsrSpec()),
        (8, 4, SharedLfsrSpec(steps=5, warmup=3)),
        (32, 8, SharedLfsrSpec(warmup=0)),
        (96, 2, SharedLfsrSpec(warmup=1)),  # twelve copies of the state
    ],
)
def test_runtime_seed_load(lanes: int, act_bits: int, source: SharedLfsrSpec) -> None:
    """Codes, a zero seed (flagged after one busy cycle, nothing changes), then a new
    64-bit seed: ``busy`` for ``1 + warmup`` cycles with ``o.valid`` low, then the seed's
    codes from its beat 0."""
    dut = SharedLfsrBank(lanes=lanes, act_bits=act_bits, seed=0xACE1, source=source)
    rng = random.Random(lanes)
    new_seed = rng.randrange(1 << 32, 1 << 64)
    beats = 40
    log: dict[str, list[int]] = {}

    async def load(ctx, seed: int) -> None:  # type: ignore[no-untyped-def]
        ctx.set(dut.seed, seed)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        busy = 0
        while ctx.get(dut.busy):
            assert ctx.get(dut.o.valid) == 0
            busy += 1
            await ctx.tick()
        assert busy == 1 + (source.warmup if seed else 0) and ctx.get(dut.o.valid) == 1

    async def tb(ctx):  # type: ignore[no-untyped-def]
        log["before"] = await consume(ctx, dut.o, beats, rng, stall=0.2)
        await load(ctx, 0)
        assert ctx.get(dut.seed_error) == 1
        log["after_zero"] = await consume(ctx, dut.o, beats, rng, stall=0.2)
        await load(ctx, new_seed)
        assert ctx.get(dut.seed_error) == 0
        log["new"] = await consume(ctx, dut.o, beats, rng, stall=0.2)

    run(dut, tb, deadline_cycles=12 * beats + source.warmup + 50)
    old = shared_codes(0xACE1, lanes, act_bits, 2 * beats * lanes, source=source).tolist()
    assert _codes(log["before"] + log["after_zero"], act_bits, lanes) == old
    new = shared_codes(new_seed, lanes, act_bits, beats * lanes, source=source).tolist()
    assert _codes(log["new"], act_bits, lanes) == new


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lanes": 8, "act_bits": 8, "seed": 0}, "seed must be non-zero"),
        ({"lanes": 8, "act_bits": 8, "seed": 1 << 64}, "seed must be in 1..18446744073709551615"),
        ({"lanes": 245, "act_bits": 8, "seed": 1}, "at most 1953 outputs"),
    ],
)
def test_bad_parameters(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SharedLfsrBank(**kwargs)


def test_loads_while_beats_flow() -> None:
    """``ready`` high throughout: a beat taken in a load's cycle is the old sequence's;
    a zero seed changes nothing but a busy cycle (the state still steps for the beat
    taken in its cycle); a good seed's beat 0 follows its busy cycle and warm-up, during
    which no beat is taken and a second load is ignored."""
    lanes, act_bits, new_seed = 4, 8, 0xFEDC_BA98_7654_3210
    dut = SharedLfsrBank(lanes=lanes, act_bits=act_bits, seed=0xACE1)
    seen: list[int] = []

    async def tb(ctx):  # type: ignore[no-untyped-def]
        ctx.set(dut.o.ready, 1)
        for cycle in range(100):
            ctx.set(dut.load, cycle in (5, 17, 40))
            ctx.set(dut.seed, {5: 0, 17: new_seed}.get(cycle, 1))
            await ctx.delay(1e-9)
            if ctx.get(dut.o.valid):
                seen.append(ctx.get(dut.o.payload.as_value()))
            await ctx.tick()

    run(dut, tb, deadline_cycles=110)
    # Old beats: cycles 0-17 but 6 (the zero load's busy cycle); new beats: from cycle
    # 17 + 1 + 1 + 64 = 83 on.
    old = shared_codes(0xACE1, lanes, act_bits, 17 * lanes).tolist()
    new = shared_codes(new_seed, lanes, act_bits, (100 - 83) * lanes).tolist()
    assert _codes(seen, act_bits, lanes) == old + new

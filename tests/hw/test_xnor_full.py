# amaranth: UnusedElaboratable=no
"""FullBeatXnorAccumulator (hw/xnor_full.py) in the Amaranth simulator against
model.xnor_acc.dot, with random stalls; its Xilinx primitives are checked in
sim/test_xnor_acc_xc7.py."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hw.xnor_acc import XnorAccumulator
from hw.xnor_full import FullBeatXnorAccumulator
from model.xnor_acc import pad_to_beats
from spec import DatapathSpec, Mode

from .streams import consume, produce, run
from .test_xnor_acc import Job, beat_payloads, expected, simulate


def full_jobs(rng: np.random.Generator, lanes: int, n: int, max_beats: int) -> list[Job]:
    """``n`` xnor dot products of whole beats (1..max_beats of them)."""
    jobs = []
    for _ in range(n):
        length = lanes * int(rng.integers(1, max_beats + 1))
        jobs.append((Mode.XNOR, rng.integers(0, 2, size=length), rng.integers(0, 2, size=length)))
    return jobs


@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 5, 7, 8, 13, 31, 32, 33, 64])
def test_full_beats_against_the_model(lanes: int) -> None:
    """Every lane count (each leaves a different remainder of three and a different
    carry-chain schedule) against the model, with random stalls."""
    spec = DatapathSpec(lanes=lanes, act_bits=1, acc_bits=24, max_beats=16)
    rng = np.random.default_rng(lanes)
    jobs = full_jobs(rng, lanes, n=24, max_beats=4)
    # The extremes too: every lane matching, every lane not (the carries' edges).
    w = rng.integers(0, 2, size=4 * lanes)
    jobs += [(Mode.XNOR, w, w), (Mode.XNOR, w, 1 - w)]
    dut = FullBeatXnorAccumulator(spec)
    got, n_beats = simulate(dut, jobs, seed=lanes)
    assert got == expected(spec, jobs)
    assert len(got) == len(jobs) and n_beats >= len(jobs)
    assert (max(got), min(got)) == (4 * lanes, -4 * lanes)


def test_a_partial_beat_sets_error() -> None:
    """A beat whose last lane is not valid (a partial prefix-masked beat) sets error."""
    spec = DatapathSpec(lanes=4, act_bits=1, acc_bits=16, max_beats=8)
    dut = FullBeatXnorAccumulator(spec)
    flags: list[int] = []

    async def producer(ctx: Any) -> None:
        rng = random.Random(0)
        ctx.set(dut.mode, Mode.XNOR.value)
        await produce(ctx, dut.i, beat_payloads(spec, np.ones(8, int), np.ones(8, int)), rng, 0.0)
        await ctx.tick().repeat(2)
        flags.append(ctx.get(dut.error))
        await produce(ctx, dut.i, beat_payloads(spec, np.ones(7, int), np.ones(7, int)), rng, 0.0)
        await ctx.tick()
        flags.append(ctx.get(dut.error))

    async def consumer(ctx: Any) -> None:
        sums.extend(await consume(ctx, dut.o, 2, random.Random(1), 0.0))

    sums: list[int] = []
    run(dut, producer, consumer, deadline_cycles=100)
    assert flags == [0, 1]
    assert sums[0] == 8


def test_bad_spec_and_the_masked_ports() -> None:
    with pytest.raises(TypeError, match=r"^spec must be a DatapathSpec, not 3$"):
        FullBeatXnorAccumulator(3)  # type: ignore[arg-type]
    full, masked = FullBeatXnorAccumulator(), XnorAccumulator(modes=(Mode.XNOR,))
    assert full.signature == masked.signature and full.modes == (Mode.XNOR,)
    Fragment.get(full, None)
    Fragment.get(masked, None)


@pytest.mark.parametrize("lanes", [4, 32])
def test_padded_dot_products_of_any_length(lanes: int) -> None:
    """docs/formats.md section 6: a dot product of any length, padded to whole beats by
    ``model.xnor_acc.pad_to_beats`` and run unmasked, less the padding, is the masked
    datapath's (SPEC 6) sum."""
    spec = DatapathSpec(lanes=lanes, act_bits=1, acc_bits=24, max_beats=16)
    rng = np.random.default_rng(lanes)
    lengths = [1, lanes - 1, lanes, lanes + 1, 3 * lanes - 2, *rng.integers(1, 8 * lanes, 12)]
    jobs: list[Job] = []
    pads = []
    truth = []
    for n in lengths:
        w, a = rng.integers(0, 2, int(n)), rng.integers(0, 2, int(n))
        truth.append((Mode.XNOR, w, a))
        w_pad, a_pad, pad = pad_to_beats(w, a, lanes)
        assert len(w_pad) % lanes == 0 and pad == len(w_pad) - n
        jobs.append((Mode.XNOR, w_pad, a_pad))
        pads.append(pad)
    got, _ = simulate(FullBeatXnorAccumulator(spec), jobs, seed=lanes)
    assert [g - p for g, p in zip(got, pads, strict=True)] == expected(spec, truth)
    assert any(pads) and not all(pads)

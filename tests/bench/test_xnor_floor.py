# amaranth: UnusedElaboratable=no
"""bench.xnor_floor: its reference designs compute what they claim (so the LUTs they
cost are the cost of that function), and a row is measured from a real synthesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import xnor_floor
from bench.xnor_floor import PARTS, Reference
from tests.hw.streams import run

CYCLES = 400


def _expected(part: str, lanes: int, stim: dict[str, np.ndarray]) -> list[int]:
    """What ``o`` holds after each clock edge, from NumPy: the popcount of that cycle's
    inputs, or the accumulator over the beats of the cycles before it."""
    match = ~(stim["a"] ^ stim["w"]) & 1
    if part == "popcount":
        return [int(x) for x in match.sum(axis=1)]
    if part == "masked":
        beats = 2 * (match & stim["valid"]).sum(axis=1) - stim["valid"].sum(axis=1)
    elif part == "unmasked":
        beats = 2 * match.sum(axis=1) - lanes
    else:
        beats = stim["beat_in"]
    out, acc, first_r, beat_r = [], 0, 0, 0
    for t in range(len(beats)):
        acc = (0 if first_r else acc) + beat_r
        out.append(acc)
        first_r, beat_r = int(stim["first"][t]), int(beats[t])
    return out


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("lanes", [1, 8, 32])
def test_reference_matches_numpy(part: str, lanes: int) -> None:
    rng = np.random.default_rng(lanes * 10 + PARTS.index(part))
    dut = Reference(part, lanes=lanes)
    a = rng.integers(0, 2, (CYCLES, lanes))
    stim = {
        "a": a,
        "w": a ^ (rng.random((CYCLES, lanes)) < 0.1),  # mostly matches: sums grow
        "valid": rng.integers(0, 2, (CYCLES, lanes)),
        "first": rng.random(CYCLES) < 0.1,
        "beat_in": rng.integers(-(2 ** (dut.beat_bits - 1)), 2 ** (dut.beat_bits - 1), CYCLES),
    }
    want = _expected(part, lanes, stim)
    got: list[int] = []

    def pack(bits: np.ndarray) -> int:
        return int(sum(int(b) << j for j, b in enumerate(bits)))

    async def bench(ctx: Any) -> None:
        for t in range(CYCLES):
            for name in ("a", "w", "valid"):
                ctx.set(getattr(dut, name), pack(stim[name][t]))
            ctx.set(dut.first, int(stim["first"][t]))
            ctx.set(dut.beat_in, int(stim["beat_in"][t]))
            await ctx.tick()
            got.append(ctx.get(dut.o))

    run(dut, bench, deadline_cycles=CYCLES + 10)
    assert len(got) == CYCLES
    assert got == want
    # The accumulating parts reach sums no single beat can: their output is not just a beat.
    if part != "popcount":
        assert max(abs(x) for x in got) > lanes


def test_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="part must be one of masked, unmasked"):
        Reference("xor")


def test_row_from_synthesis(tmp_path: Path) -> None:
    row = xnor_floor.measure("reference:accumulator", tmp_path / "acc")
    # A 19-bit signed accumulator costs about a LUT per bit on the carry chain.
    assert 10 <= row["lut"] <= 40 and row["carry4"] >= 4
    assert row["lut_per_lane"] == round(row["lut"] / xnor_floor.LANES, 2)


def test_committed_results_have_every_design() -> None:
    doc = json.loads((xnor_floor.RESULTS_DIR / "xnor_floor.json").read_text())
    assert [r["design"] for r in doc["rows"]] == list(xnor_floor.DESIGNS)

# amaranth: UnusedElaboratable=no
"""hw.bram.BlockRAM: read latency and enable in the Amaranth simulator; the ECP5 build's
DP16KD tiling (its behaviour is cosimulated in sim/ against sim/hdl/dp16kd.v)."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from amaranth.back import verilog
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.bram import BlockRAM, dp16kd_mode
from hw.synth import use_yowasp

from .streams import run


@pytest.mark.parametrize("latency", [1, 2])
def test_read_latency_and_enable(latency: int) -> None:
    depth, width = 16, 12
    dut = BlockRAM(width=width, depth=depth, read_latency=latency)
    rng = random.Random(latency)
    words = [rng.randrange(1 << width) for _ in range(depth)]
    checked = {"reads": 0}

    async def tb(ctx: Any) -> None:
        for a, w in enumerate(words):
            ctx.set(dut.w_addr, a)
            ctx.set(dut.w_data, w)
            ctx.set(dut.w_en, 1)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        ctx.set(dut.r_en, 1)
        addrs = [rng.randrange(depth) for _ in range(40)]
        seen = []
        for a in [*addrs, *[0] * latency]:
            ctx.set(dut.r_addr, a)
            await ctx.tick()
            seen.append(ctx.get(dut.r_data))
        assert seen[latency - 1 : latency - 1 + len(addrs)] == [words[a] for a in addrs]
        checked["reads"] += len(addrs)
        # r_en low holds every stage: the data stays, then resumes where it stopped.
        ctx.set(dut.r_addr, 3)
        await ctx.tick()
        ctx.set(dut.r_en, 0)
        held = ctx.get(dut.r_data)
        for a in (5, 6, 7):
            ctx.set(dut.r_addr, a)
            await ctx.tick()
            assert ctx.get(dut.r_data) == held
        ctx.set(dut.r_en, 1)
        await ctx.tick()
        # Latency 2: the word read before the stall comes out of the held inner stage.
        assert ctx.get(dut.r_data) == (words[3] if latency == 2 else words[7])

    run(dut, tb, deadline_cycles=200)
    assert checked["reads"] == 40


@pytest.mark.parametrize(
    ("depth", "mode"),
    [(1, (18, 4)), (1024, (18, 4)), (1025, (9, 3)), (4096, (4, 2)), (16384, (1, 0))],
)
def test_dp16kd_mode(depth: int, mode: tuple[int, int]) -> None:
    assert dp16kd_mode(depth) == mode


def _ecp5_instances(**kwargs: int) -> list[str]:
    use_yowasp()  # verilog.convert runs Yosys
    text = verilog.convert(BlockRAM(**kwargs), name="top", platform=ULX3S_85F_Platform())
    return re.findall(r"DATA_WIDTH_A\(32'd(\d+)\)", text)


@pytest.mark.parametrize(
    ("width", "depth", "widths"),
    [(32, 1024, ["18", "18"]), (8, 2048, ["9"]), (64, 512, ["18"] * 4), (8, 4096, ["4", "4"])],
)
def test_ecp5_tiles_dp16kd_columns(width: int, depth: int, widths: list[str]) -> None:
    assert _ecp5_instances(width=width, depth=depth, read_latency=2) == widths


def test_ecp5_uses_dp16kd_only_for_latency_2_and_one_row() -> None:
    assert _ecp5_instances(width=32, depth=1024, read_latency=1) == []
    assert _ecp5_instances(width=8, depth=32768, read_latency=2) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0, "depth": 4}, "width must be a positive integer, not 0"),
        ({"width": 8, "depth": 4, "read_latency": 3}, "read_latency must be 1 or 2, not 3"),
    ],
)
def test_bad_parameters(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BlockRAM(**kwargs)


def test_dp16kd_depth_limit() -> None:
    with pytest.raises(ValueError, match="depth must be at most 16384"):
        dp16kd_mode(16385)

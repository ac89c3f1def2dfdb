# amaranth: UnusedElaboratable=no
"""The inference engine (hw/engine/) in the Amaranth simulator: the add/subtract array
and the requantization unit against plain Python, and the whole engine on the golden
WRN-8-1 digits network, every pass's output compared with the integer reference's
(golden/intnet, made by model.infer) and the logits equal, with random stalls."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from amaranth.sim import Simulator

import golden
from golden.network import NETWORK
from hw.engine import Engine, MacArray, RequantUnit
from model.intnet import IntNetwork, load
from spec import requantize
from spec.engine import EngineSpec

from .streams import run

# --- the blocks ---------------------------------------------------------------------------


def test_mac_array_adds_and_subtracts_codes() -> None:
    lanes, rng = 4, random.Random(1)
    dut = MacArray(lanes=lanes, code_bits=8, acc_bits=16)
    steps = [([rng.randrange(256) for _ in range(lanes)], rng.randrange(1 << 16),
              rng.random() < 0.25, rng.random() < 0.8) for _ in range(200)]  # fmt: skip
    seen: list[list[int]] = []

    async def bench(ctx: Any) -> None:
        for codes, weights, first, en in steps:
            for p, c in enumerate(codes):
                ctx.set(dut.codes[p], c)
            ctx.set(dut.weights, weights)
            ctx.set(dut.first, first)
            ctx.set(dut.en, en)
            await ctx.tick()
            seen.append([ctx.get(dut.acc[q]) for q in range(lanes)])

    run(dut, bench, deadline_cycles=300)
    acc = [0] * lanes
    for (codes, weights, first, en), got in zip(steps, seen, strict=True):
        if en:
            for q in range(lanes):
                step = sum(c if weights >> (q * lanes + p) & 1 else -c for p, c in enumerate(codes))
                acc[q] = (0 if first else acc[q]) + step
        if en or got != [0] * lanes:
            assert got == acc


def test_requant_unit_is_the_formats_rule() -> None:
    lanes, rng = 4, random.Random(2)
    dut = RequantUnit(lanes=lanes, x_bits=24, mult_bits=16, add_bits=40, shift_bits=6, y_bits=24)
    cases = []
    for _ in range(300):
        x = [rng.randrange(-(1 << 23), 1 << 23) for _ in range(lanes)]
        mult = [rng.randrange(-(1 << 15), 1 << 15) for _ in range(lanes)]
        add = [rng.randrange(-(1 << 39), 1 << 39) for _ in range(lanes)]
        cases.append(
            (x, mult, add, rng.randrange(0, 40), rng.random() < 0.5, rng.choice([15, 255]))
        )

    async def bench(ctx: Any) -> None:
        for x, mult, add, shift, clamp, hi in cases:
            for j in range(lanes):
                ctx.set(dut.x[j], x[j])
                ctx.set(dut.mult[j], mult[j])
                ctx.set(dut.add[j], add[j])
            ctx.set(dut.shift, shift)
            ctx.set(dut.clamp, clamp)
            ctx.set(dut.hi, hi)
            await ctx.delay(1e-9)
            for j in range(lanes):
                want = requantize(x[j], mult[j], add[j], shift, 0 if clamp else None,
                                  hi if clamp else None)  # fmt: skip
                if clamp or -(1 << 23) <= want < 1 << 23:
                    assert ctx.get(dut.y[j]) == want, (x[j], mult[j], add[j], shift, clamp)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


# --- the whole engine ----------------------------------------------------------------------

CASE = {c.name: c for c in golden.cases("intnet")}["wrn8_1_digits"]


def _layer_of(engine: Engine, index: int) -> str:
    """The golden array a pass's output should equal."""
    p = engine.program[index]
    if p.kind == "requant":
        return p.name.removesuffix(".in") + ".codes"
    if p.post == "stem":
        return "stem.out"
    if p.post == "codes":
        return p.name.replace("conv1", "conv2") + ".codes"
    if p.post in ("add", "pool_add"):
        return p.name.removesuffix(".conv2") + ".out"
    return ""


def simulate(net: IntNetwork, cases: list[int], *, check_layers: bool, seed: int) -> tuple:
    """Run the golden case's images ``cases`` through an :class:`Engine` of ``net``;
    returns the logits per image, the cycles per image, the layers compared, the DUT."""
    images = CASE.arrays["images"][cases]
    dut = Engine(net, EngineSpec(lanes=8))
    rng = random.Random(seed)
    logits: list[list[int]] = []
    cycles: list[int] = []
    checked: list[str] = []
    lanes, s = 8, net.spec

    def word_values(ctx: Any, mem: Any, addr: int) -> list[int]:
        value = ctx.get(mem.data[addr])
        return [int(value[j]) for j in range(lanes)]

    def compare(ctx: Any, image: int, index: int, buffers: dict) -> None:
        name = _layer_of(dut, index)
        if not name:
            return
        want = CASE.arrays[name][image]  # NHWC
        h, channels = want.shape[0], want.shape[-1]
        groups = -(-channels // lanes)
        p = dut.program[index]
        if p.kind == "requant":
            mem = dut.memories["c"][0]
        elif p.post == "codes":
            mem = dut.memories["c"][1]
        else:
            mem = dut.memories["x"][buffers["cur"]]
        got = np.zeros((h, h, groups * lanes), np.int64)
        for pixel in range(h * h):
            for g in range(groups):
                got[pixel // h, pixel % h, g * lanes : (g + 1) * lanes] = word_values(
                    ctx, mem, pixel * groups + g
                )
        assert (got[..., :channels] == want).all(), f"image {image}: {name} differs"
        checked.append(name)

    async def bench(ctx: Any) -> None:
        for image, img in zip(cases, images, strict=True):
            buffers = {"cur": 0}
            start = None
            for n, v in enumerate(img.transpose(1, 2, 0).ravel()):
                while rng.random() < 0.3:
                    ctx.set(dut.pixels.valid, 0)
                    await ctx.tick()
                ctx.set(dut.pixels.payload, int(v))
                ctx.set(dut.pixels.valid, 1)
                await ctx.tick().until(dut.pixels.ready)
                if n == 0:
                    start = 0
            ctx.set(dut.pixels.valid, 0)
            got: list[int] = []
            count = 0
            while len(got) < s.num_classes:
                ready = rng.random() < 0.6
                ctx.set(dut.logits.ready, ready)
                _, _, valid, payload, done, index = await ctx.tick().sample(
                    dut.logits.valid, dut.logits.payload, dut.done_pass, dut.pass_index
                )
                count += 1
                if done:
                    p = dut.program[index]
                    if p.kind == "conv" and p.post in ("stem", "add", "pool_add"):
                        buffers["cur"] = 1 - buffers["cur"]
                    if check_layers:
                        compare(ctx, image, index, buffers)
                if valid and ready:
                    got.append(payload)
            ctx.set(dut.logits.ready, 0)
            assert start is not None
            logits.append(got)
            cycles.append(count)
            await ctx.tick().repeat(3)
            assert not ctx.get(dut.busy)

    run(dut, bench, deadline_cycles=40_000 * len(images))
    return logits, cycles, checked, dut


def test_engine_computes_the_golden_network_layer_by_layer() -> None:
    net = load(NETWORK)
    # a digit and the all-white edge image
    logits, cycles, checked, dut = simulate(net, [0, 5], check_layers=True, seed=3)
    assert logits == [list(CASE.arrays["logits"][0]), list(CASE.arrays["logits"][5])]
    # Every pass whose output lands in a buffer was compared, for both images.
    layers = {_layer_of(dut, i) for i in range(len(dut.program))} - {""}
    assert set(checked) == layers and len(checked) == 2 * len(layers)
    # The schedule's count is the busy time less per-output overhead (stalls on the
    # logits included): between 1x and 1.5x of it.
    assert all(dut.cycles <= c <= 1.5 * dut.cycles for c in cycles), (cycles, dut.cycles)


def test_one_flipped_weight_bit_changes_the_answer() -> None:
    """The comparison is sharp: the engine of a network with one weight bit flipped (in
    the head, where it must show) no longer matches the golden logits."""
    net = load(NETWORK)
    net.bits["head"] = net.bits["head"].copy()
    net.bits["head"][0, 0] ^= 1
    logits, _, _, _ = simulate(net, [0], check_layers=False, seed=4)
    assert logits[0] != list(CASE.arrays["logits"][0])


def test_engine_refuses_a_network_its_lanes_do_not_divide() -> None:
    with pytest.raises(ValueError, match=r"lanes=32 must divide every stage's channels"):
        Engine(load(NETWORK), EngineSpec(lanes=32))

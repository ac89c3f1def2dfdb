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

import golden
from golden.network import NETWORK
from hw.engine import Engine, MacArray, RequantUnit
from model import infer
from model.intnet import IntNetwork, Requant, load
from spec import NO_STOP, IntNetSpec, requantize
from spec.engine import PEEK_LATENCY, EngineSpec

from .streams import run

# --- the blocks ---------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", [1, 4, 6])
def test_mac_array_adds_and_subtracts_codes(lanes: int) -> None:
    """One step a cycle, its sums :attr:`MacArray.latency` cycles later."""
    rng = random.Random(lanes)
    dut = MacArray(lanes=lanes, code_bits=8, acc_bits=16)
    steps = [([rng.randrange(256) for _ in range(lanes)], rng.randrange(1 << lanes * lanes),
              rng.random() < 0.25, rng.random() < 0.8) for _ in range(200)]  # fmt: skip
    seen: list[list[int]] = []

    async def bench(ctx: Any) -> None:
        for codes, weights, first, en in [*steps, *[([0] * lanes, 0, 0, 0)] * dut.latency]:
            for p, c in enumerate(codes):
                ctx.set(dut.codes[p], c)
            ctx.set(dut.weights, weights)
            ctx.set(dut.first, first)
            ctx.set(dut.en, en)
            await ctx.tick()
            seen.append([ctx.get(dut.acc[q]) for q in range(lanes)])

    run(dut, bench, deadline_cycles=300)
    acc = [0] * lanes
    for (codes, weights, first, en), got in zip(steps, seen[dut.latency - 1 :], strict=False):
        if en:
            for q in range(lanes):
                step = sum(c if weights >> (q * lanes + p) & 1 else -c for p, c in enumerate(codes))
                acc[q] = (0 if first else acc[q]) + step
            assert got == acc


def test_requant_unit_is_the_formats_rule() -> None:
    """One input a cycle, ``y = shortcut + rule(x)`` or the clamped rule
    :attr:`RequantUnit.latency` cycles later, with its tag; shift and clamp held for a
    batch, as for a pass."""
    lanes, rng, y_bits = 4, random.Random(2), 24
    dut = RequantUnit(lanes=lanes, x_bits=24, mult_bits=16, add_bits=40, shift_bits=6,
                      y_bits=y_bits, tag_bits=8)  # fmt: skip
    batches = []
    for _ in range(12):
        setting = (rng.randrange(0, 40), rng.random() < 0.5, rng.choice([15, 255]))
        cases = []
        for _ in range(25):
            x = [rng.randrange(-(1 << 23), 1 << 23) for _ in range(lanes)]
            mult = [rng.randrange(-(1 << 15), 1 << 15) for _ in range(lanes)]
            add = [rng.randrange(-(1 << 39), 1 << 39) for _ in range(lanes)]
            shortcut = [rng.randrange(-(1 << 20), 1 << 20) for _ in range(lanes)]
            cases.append((x, mult, add, shortcut, rng.random() < 0.8))
        batches.append((setting, cases))
    checked = []

    async def bench(ctx: Any) -> None:
        for (shift, clamp, hi), cases in batches:
            ctx.set(dut.shift, shift)
            ctx.set(dut.clamp, clamp)
            ctx.set(dut.hi, hi)
            seen = []
            drained = [*cases, *[cases[0]] * dut.latency]  # then nothing valid
            for k, (x, mult, add, shortcut, valid) in enumerate(drained):
                for j in range(lanes):
                    ctx.set(dut.x[j], x[j])
                    ctx.set(dut.mult[j], mult[j])
                    ctx.set(dut.add[j], add[j])
                    ctx.set(dut.shortcut[j], shortcut[j])
                ctx.set(dut.valid, valid and k < len(cases))
                ctx.set(dut.tag, k)
                *_, y, y_valid, tag = await ctx.tick().sample(dut.y, dut.y_valid, dut.y_tag)
                seen.append(([int(y[j]) for j in range(lanes)], y_valid, tag))
            for k, (x, mult, add, shortcut, valid) in enumerate(cases):
                y, y_valid, tag = seen[k + dut.latency]
                assert (y_valid, tag) == (valid, k)
                for j in range(lanes):
                    rule = requantize(x[j], mult[j], add[j], shift, 0 if clamp else None,
                                      hi if clamp else None)  # fmt: skip
                    want = rule if clamp else shortcut[j] + rule
                    if clamp or -(1 << (y_bits - 1)) <= want < 1 << (y_bits - 1):
                        assert y[j] == want, (x[j], mult[j], add[j], shift, clamp)
                        checked.append(want)

    run(dut, bench, deadline_cycles=1000)
    assert len(checked) > 300


# --- the whole engine ----------------------------------------------------------------------

CASE = {c.name: c for c in golden.cases("intnet")}["wrn8_1_digits"]


def random_network(seed: int) -> IntNetwork:
    """WRN-8-1 on 3-channel 8x8 images with random weights and rules (scaled so that
    codes spread over their range), a zero point below 128: what the digits network
    (one channel) leaves untried."""
    rng = np.random.default_rng(seed)
    s = IntNetSpec(width=1, blocks=1, in_channels=3, num_classes=10, image_size=8)
    bits = {c.name: rng.integers(0, 2, (c.cout, c.fan_in), dtype=np.uint8) for c in s.convs()}

    def rule(n: int, scale: int, shift: int, offset: int) -> Requant:
        mult = rng.integers(scale // 2, scale, n) * rng.choice([-1, 1], n)
        return Requant(mult, rng.integers(-offset, offset, n) + (offset << 2), shift)

    requant = {"stem.in": rule(3, 1 << 14, 14, 1 << 12), "logits": rule(10, 1 << 10, 8, 1)}
    for conv in s.convs()[1:]:
        requant[f"{conv.name}.in"] = rule(conv.cin, 1 << 12, 16, 1 << 12)
    for name in s.block_names():
        requant[f"{name}.add"] = rule(1, 1 << 12, 12, 1 << 8)
    net = IntNetwork(s, bits, requant, 77, rng.integers(-300, 300, 16))
    net.check()
    return net


def expected(net: IntNetwork, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer of ``images`` by :func:`model.infer.run` (the reference)."""
    logits, layers = infer.run(net, images, trace=True)
    return {**layers, "logits": logits, "images": images}


def simulate(
    net: IntNetwork,
    arrays: dict,
    *,
    check_layers: bool,
    seed: int,
    stall: float = 0.3,
    lanes: int = 8,
) -> tuple:
    """Run ``arrays["images"]`` through an :class:`Engine` of ``net``, with ``stall`` the
    chance of a stalled cycle on either stream, every pass's output compared with
    ``arrays`` (``check_layers``); returns the logits per image, the cycles per image
    (first pixel taken to last logit taken), the layers compared, the DUT."""
    images = arrays["images"]
    dut = Engine(net, EngineSpec(lanes=lanes))
    rng = random.Random(seed)
    logits: list[list[int]] = []
    cycles: list[int] = []
    checked: list[str] = []
    s = net.spec

    def compare(ctx: Any, image: int, index: int) -> None:
        name = dut.program[index].layer
        if not name:
            return
        want = arrays[name][image]  # NHWC
        h, channels = want.shape[0], want.shape[-1]
        groups = -(-channels // lanes)
        p = dut.program[index]
        mem = dut.memories[p.dst[0]][int(p.dst[1])]
        got = np.zeros((h, h, groups * lanes), np.int64)
        for pixel in range(h * h):
            for g in range(groups):
                value = ctx.get(mem.word(pixel * groups + g))
                got[pixel // h, pixel % h, g * lanes : (g + 1) * lanes] = [
                    int(value[j]) for j in range(lanes)
                ]
        assert (got[..., :channels] == want).all(), f"image {image}: {name} differs"
        assert (got[..., channels:] == 0).all(), f"image {image}: {name}: padding not zero"
        checked.append(name)

    async def bench(ctx: Any) -> None:
        for image, img in enumerate(images):
            count = None
            for v in img.transpose(1, 2, 0).ravel():
                while rng.random() < stall:
                    ctx.set(dut.pixels.valid, 0)
                    await ctx.tick()
                    count = None if count is None else count + 1
                ctx.set(dut.pixels.payload, int(v))
                ctx.set(dut.pixels.valid, 1)
                while True:
                    *_, ready = await ctx.tick().sample(dut.pixels.ready)
                    count = None if count is None else count + 1
                    if ready:
                        break
                count = 1 if count is None else count
            ctx.set(dut.pixels.valid, 0)
            got: list[int] = []
            while len(got) < s.num_classes:
                ready = rng.random() >= stall
                ctx.set(dut.logits.ready, ready)
                _, _, valid, payload, done, index = await ctx.tick().sample(
                    dut.logits.valid, dut.logits.payload, dut.done_pass, dut.pass_index
                )
                count += 1
                if done and check_layers:
                    compare(ctx, image, index)
                if valid and ready:
                    got.append(payload)
            ctx.set(dut.logits.ready, 0)
            logits.append(got)
            cycles.append(count)
            await ctx.tick().repeat(3)
            assert not ctx.get(dut.busy)

    run(dut, bench, deadline_cycles=(2 * dut.cycles + 1000) * len(images))
    return logits, cycles, checked, dut


def golden_case(images: list[int]) -> dict[str, np.ndarray]:
    return {k: v[images] for k, v in CASE.arrays.items() if k != "labels"}


@pytest.mark.parametrize(("network", "lanes"), [("digits", 8), ("digits", 32), ("random", 16)])
def test_engine_computes_the_network_layer_by_layer(network: str, lanes: int) -> None:
    """At 8 lanes the stages fill whole groups; at 32 every one is zero-padded; the
    random network has three input channels and a zero point under 128."""
    if network == "digits":  # a digit and the all-white edge image
        net, arrays = load(NETWORK), golden_case([0, 5])
    else:
        net = random_network(1)
        images = np.random.default_rng(2).integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
        arrays = expected(net, images)
    logits, _, checked, dut = simulate(net, arrays, check_layers=True, seed=3, lanes=lanes)
    assert logits == arrays["logits"].tolist()
    # Every pass whose output lands in a buffer was compared, for both images.
    layers = {p.layer for p in dut.program} - {""}
    assert set(checked) == layers and len(checked) == 2 * len(layers)


def test_unstalled_cycles_are_the_schedules() -> None:
    """The schedule the estimator and the bench quote (:meth:`EngineSpec.cycles`) is
    the engine's count to the cycle when neither stream stalls."""
    net = load(NETWORK)
    arrays = golden_case([1, 2])
    logits, cycles, _, dut = simulate(net, arrays, check_layers=False, seed=5, stall=0.0)
    assert logits == arrays["logits"].tolist()
    assert cycles == [dut.cycles, dut.cycles]


def test_one_flipped_weight_bit_changes_the_answer() -> None:
    """The comparison is sharp: the engine of a network with one weight bit flipped (in
    the head, where it must show) no longer matches the golden logits."""
    net = load(NETWORK)
    net.bits["head"] = net.bits["head"].copy()
    net.bits["head"][0, 0] ^= 1
    arrays = golden_case([0])
    logits, _, _, _ = simulate(net, arrays, check_layers=False, seed=4)
    assert logits != arrays["logits"].tolist()


def test_engine_stops_after_a_pass_shows_its_output_and_resumes() -> None:
    """A stop after a pass leaves its output readable word by word and lane by lane
    (``peek``), equal to the reference's layer; ``resume`` runs on to the next stop and
    at last to the right logits; ``drop_image`` abandons a stopped image, and the stop
    holds for the next one."""
    net, lanes = load(NETWORK), 8
    arrays = golden_case([3])
    dut = Engine(net, EngineSpec(lanes=lanes))
    layers = EngineSpec(lanes=lanes).layers(net.spec)
    names = ["stem.out", "blocks.1.conv2.codes", "blocks.2.out", "head.codes"]
    image = arrays["images"][0].transpose(1, 2, 0).ravel()
    seen: dict[str, np.ndarray] = {}
    logits: list[int] = []

    async def wait_stopped(ctx: Any) -> None:
        while not ctx.get(dut.stopped):
            await ctx.tick()
        assert not ctx.get(dut.busy)

    async def load_image(ctx: Any) -> None:
        for v in image:
            ctx.set(dut.pixels.payload, int(v))
            ctx.set(dut.pixels.valid, 1)
            while not (await ctx.tick().sample(dut.pixels.ready))[-1]:
                pass
        ctx.set(dut.pixels.valid, 0)

    async def read(ctx: Any, name: str) -> np.ndarray:
        words = layers[name][1]
        values = np.zeros((words, lanes), np.int64)
        for w in range(words):
            for j in range(lanes):
                ctx.set(dut.peek_addr, w)
                ctx.set(dut.peek_lane, j)
                await ctx.tick().repeat(PEEK_LATENCY)
                values[w, j] = ctx.get(dut.peek)
        return values

    async def bench(ctx: Any) -> None:
        ctx.set(dut.stop_at, layers[names[0]][0])
        await load_image(ctx)
        await wait_stopped(ctx)
        ctx.set(dut.drop_image, 1)  # abandoned: the same stop on the next image
        await ctx.tick()
        ctx.set(dut.drop_image, 0)
        await load_image(ctx)
        for k, name in enumerate(names):
            await wait_stopped(ctx)
            await ctx.tick().repeat(3)
            assert ctx.get(dut.stopped) and not ctx.get(dut.logits.valid)
            seen[name] = await read(ctx, name)
            ctx.set(dut.stop_at, layers[names[k + 1]][0] if k + 1 < len(names) else NO_STOP)
            ctx.set(dut.resume, 1)
            await ctx.tick()
            ctx.set(dut.resume, 0)
        ctx.set(dut.logits.ready, 1)
        while len(logits) < net.spec.num_classes:
            _, _, valid, payload = await ctx.tick().sample(dut.logits.valid, dut.logits.payload)
            if valid:
                logits.append(payload)

    run(dut, bench, deadline_cycles=4 * dut.cycles + 200_000)
    assert logits == arrays["logits"][0].tolist()
    for name in names:
        want = arrays[name][0]  # HWC
        h, channels = want.shape[0], want.shape[-1]
        groups = -(-channels // lanes)
        got = seen[name].reshape(h, h, groups * lanes)
        assert (got[..., :channels] == want).all(), name
        assert (got[..., channels:] == 0).all(), name

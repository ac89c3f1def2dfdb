# amaranth: UnusedElaboratable=no
"""Each command component of hw/commands/ on its own, in the Amaranth simulator.

A small harness plays the dispatcher (start, fields, tail with random gaps, the answer
taken with random stalls) and simple models play the blocks a command drives (memories
with a one-cycle read, the result FIFO, the LFSR bank's busy line, the store and
datapath streams). Every answer is compared with :class:`model.device.DeviceModel`
where the model has the state, and the blocks' side (writes, beats, pulses) with what
``docs/protocol.md`` says the command does. The whole handler is fuzzed in test_top.py.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.network import NETWORK
from hw.commands import COMMANDS, CommandHandler, Reply
from hw.commands.base import fields_layout
from hw.commands.clear_status import ClearStatus
from hw.commands.gather import CodeGather
from hw.commands.handler import ENGINE_COMMANDS
from hw.commands.identify import Identify
from hw.commands.load_weights import LoadWeights
from hw.commands.read_results import ReadResults
from hw.commands.read_status import ReadStatus
from hw.commands.read_words import ReadWords
from hw.commands.run_dot import RunDot
from hw.commands.set_seed import SetSeed
from hw.commands.store_codes import StoreCodes
from model.device import DeviceModel
from model.intnet import load as load_network
from model.pack import unpack_bits
from spec import REQUESTS, DeviceSpec, LinkSpec, Mode, Opcode, Status, StatusFlag, StoreFlag

from .streams import raw, run

DEVICE = DeviceSpec.of(lanes=8, depth=16, result_depth=4, link=LinkSpec(max_payload=64))
WIDE = DeviceSpec.of(lanes=2, act_bits=12, word_bits=16, depth=8, link=LinkSpec(max_payload=64))


class Answer:
    """What the harness saw: the answer and how many tail bytes the command took."""

    def __init__(self) -> None:
        self.status = self.length = -1
        self.data = bytearray()
        self.taken = 0
        self.done = False


def exchange(
    dut: Any,
    values: dict[str, int],
    tail: bytes,
    rng: random.Random,
    *monitors: Any,
    stall: float = 0.3,
) -> Answer:
    """Start ``dut`` on a frame of ``values`` and ``tail`` as the dispatcher does and
    take its answer; ``monitors`` play the blocks it drives."""
    got = Answer()
    fields = fields_layout(REQUESTS[dut.opcode]).const(values).as_bits()

    async def feed(ctx: Any) -> None:
        ctx.set(raw(dut.fields), fields)
        ctx.set(dut.tail, len(tail))
        ctx.set(dut.rx_done, not tail)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for k, byte in enumerate(tail):
            while rng.random() < stall:
                await ctx.tick()
            ctx.set(dut.i.payload.data, byte)
            ctx.set(dut.i.payload.last, k == len(tail) - 1)
            ctx.set(dut.i.valid, 1)
            while True:
                _, _, ready, answering = await ctx.tick().sample(dut.i.ready, dut.o.valid)
                if ready:
                    got.taken += 1
                    break
                if answering or got.done:  # a refusal: the dispatcher drains the rest
                    ctx.set(dut.i.valid, 0)
                    return
            ctx.set(dut.i.valid, 0)
        ctx.set(dut.rx_done, 1)

    async def take(ctx: Any) -> None:
        while True:
            ready = rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and ready:
                assert got.status in (-1, p.status) and got.length in (-1, p.length)
                got.status, got.length = p.status, p.length
                if p.length:
                    got.data.append(p.data)
                if p.last:
                    got.done = True
                    break
        ctx.set(dut.o.ready, 0)

    async def quiet(ctx: Any) -> None:  # nothing more after the answer
        for _ in range(20):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid

    async def both(ctx: Any) -> None:
        await take(ctx)
        await quiet(ctx)

    run(dut, feed, both, monitors=monitors, deadline_cycles=50 * (len(tail) + 40))
    assert got.length == len(got.data)
    return got


def model_answer(device: DeviceSpec, op: Opcode, values: dict[str, int], tail: bytes,
                 setup: Any = None) -> tuple[int, bytes]:  # fmt: skip
    model = DeviceModel(device)
    if setup:
        setup(model)
    status, body = model.handle(op, REQUESTS[op].pack(values, tail))
    return int(status), body


def pulses(signal: Any, seen: list[int]) -> Any:
    """A monitor that appends the cycle of every pulse on ``signal``."""

    async def watch(ctx: Any) -> None:
        cycle = 0
        async for _, _, value in ctx.tick().sample(signal):
            cycle += 1
            if value:
                seen.append(cycle)

    return watch


# --- the shared parts -------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 5, 9])
def test_reply_sends_its_bytes_and_holds_them(length: int) -> None:
    dut = Reply(9)
    rng = random.Random(length)
    payload = bytes(rng.randrange(256) for _ in range(9))
    beats: list[tuple[int, int, int, int]] = []

    async def bench(ctx: Any) -> None:
        ctx.set(dut.status, 3)
        ctx.set(dut.length, length)
        ctx.set(dut.payload, int.from_bytes(payload, "little"))
        ctx.set(dut.send, 1)
        await ctx.tick()
        ctx.set(dut.send, 0)
        ctx.set(dut.payload, 0)  # captured: later changes do not matter
        while True:
            ready = rng.random() < 0.6
            ctx.set(dut.o.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and ready:
                beats.append((p.status, p.length, p.data, p.last))
                if p.last:
                    break
        assert not ctx.get(dut.busy)

    run(dut, bench, deadline_cycles=200)
    assert [b[:2] for b in beats] == [(3, length)] * max(length, 1)
    assert [b[3] for b in beats] == [0] * (max(length, 1) - 1) + [1]
    if length:
        assert bytes(b[2] for b in beats) == payload[:length]


@pytest.mark.parametrize("device", [DEVICE, WIDE], ids=["bytes", "two-byte-codes"])
def test_code_gather_builds_beats_of_lanes_codes(device: DeviceSpec) -> None:
    dut = CodeGather(device)
    rng = random.Random(5)
    size = device.code_bytes  # codes carry bits above act_bits, to be dropped
    codes = [rng.randrange(1 << (8 * size)) for _ in range(5 * device.lanes - 1)]
    tail = b"".join(c.to_bytes(size, "little") for c in codes)
    beats: list[tuple[list[int], int]] = []

    async def feed(ctx: Any) -> None:
        for k, byte in enumerate(tail):
            while rng.random() < 0.3:
                await ctx.tick()
            ctx.set(dut.i.payload.data, byte)
            ctx.set(dut.i.payload.last, k == len(tail) - 1)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def take(ctx: Any) -> None:
        while len(beats) < 5:
            ready = rng.random() < 0.5
            ctx.set(dut.o.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and ready:
                beats.append(([int(c) for c in p.codes], p.last))

    run(dut, feed, take, deadline_cycles=2000)
    mask = (1 << device.act_bits) - 1
    for t, (lanes, last) in enumerate(beats):
        want = [c & mask for c in codes[t * device.lanes : (t + 1) * device.lanes]]
        assert lanes[: len(want)] == want
        assert last == (t == 4)


# --- one test per command ------------------------------------------------------------------


def test_identify_answers_the_device() -> None:
    got = exchange(Identify(DEVICE), {}, b"", random.Random(1))
    assert (got.status, bytes(got.data)) == model_answer(DEVICE, Opcode.IDENTIFY, {}, b"")


@pytest.mark.parametrize("seed", [0, 1, 0xDEADBEEF])
def test_set_seed_loads_then_answers_or_refuses_zero(seed: int) -> None:
    dut = SetSeed(DEVICE)
    loads: list[int] = []
    flags: list[int] = []
    busy_for = 5

    async def bank(ctx: Any) -> None:  # busy for a while, from the cycle after `load`
        left = 0
        async for _, _, load, value in ctx.tick().sample(dut.load, dut.seed):
            if load:
                loads.append(value)
                left = busy_for
            ctx.set(dut.loading, left > 0)
            left = max(left - 1, 0)

    got = exchange(
        dut, {"seed": seed}, b"", random.Random(seed), bank, pulses(dut.raise_flag, flags)
    )
    assert (got.status, bytes(got.data)) == model_answer(
        DEVICE, Opcode.SET_SEED, {"seed": seed}, b""
    )
    assert loads == ([] if seed == 0 else [seed])
    assert len(flags) == (1 if seed == 0 else 0) and SetSeed.FLAG is StatusFlag.SEED_ERROR


@pytest.mark.parametrize(
    ("flags", "beats", "extra"),
    [(StoreFlag.CLEAR | StoreFlag.LAST, 3, 0), (0, 0, 0), (StoreFlag.LAST, 2, 3)],
    ids=["clear-last", "empty", "partial-beat"],
)
def test_store_codes_streams_beats_then_answers_count(flags: int, beats: int, extra: int) -> None:
    dut = StoreCodes(DEVICE)
    rng = random.Random(beats)
    codes = [rng.randrange(256) for _ in range(beats * DEVICE.lanes + extra)]
    got_beats: list[tuple[list[int], int]] = []
    clears: list[int] = []

    async def store(ctx: Any) -> None:
        ctx.set(dut.count, 7)
        while True:
            ready = rng.random() < 0.7
            ctx.set(dut.codes.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.codes.valid, dut.codes.payload)
            if valid and ready:
                got_beats.append(([int(c) for c in p.codes], p.last))

    got = exchange(dut, {"flags": flags}, bytes(codes), rng, store, pulses(dut.clear, clears))
    if extra:  # not whole beats: refused before anything happens
        assert (got.status, got.taken, got_beats, clears) == (Status.BAD_LENGTH, 0, [], [])
        return
    assert (got.status, bytes(got.data)) == (Status.OK, (7).to_bytes(4, "little"))
    assert len(clears) == (1 if flags & StoreFlag.CLEAR else 0)
    lanes = DEVICE.lanes
    assert [c for c, _ in got_beats] == [codes[t * lanes : (t + 1) * lanes] for t in range(beats)]
    assert [last for _, last in got_beats] == [
        int(t == beats - 1 and bool(flags & StoreFlag.LAST)) for t in range(beats)
    ]


def test_store_codes_reports_an_overflow_and_raises_its_flag() -> None:
    dut = StoreCodes(DEVICE)
    raised: list[int] = []

    async def store(ctx: Any) -> None:
        ctx.set(dut.overflow, 1)
        ctx.set(dut.codes.ready, 1)

    got = exchange(
        dut, {"flags": 0}, bytes(8), random.Random(0), store, pulses(dut.raise_flag, raised)
    )
    assert (got.status, len(raised), StoreCodes.FLAG) == (
        Status.OVERFLOW,
        1,
        StatusFlag.SRAM_OVERFLOW,
    )


def memory(port: Any, words: list[int]) -> Any:
    """A synchronous-read memory model on a read address/data pair."""
    addr_sig, data_sig = port

    async def mem(ctx: Any) -> None:
        async for _, _, addr in ctx.tick().sample(addr_sig):
            ctx.set(data_sig, words[addr] if addr < len(words) else 0)

    return mem


@pytest.mark.parametrize(("addr", "n", "count"), [(3, 5, 8), (0, 0, 0), (6, 3, 8), (0, 17, 16)],
                         ids=["ok", "none", "past-count", "over-payload"])  # fmt: skip
def test_read_words_answers_stored_words(addr: int, n: int, count: int) -> None:
    dut = ReadWords(DEVICE)
    rng = random.Random(addr + n)
    words = [rng.randrange(1 << 32) for _ in range(DEVICE.depth)]

    async def counter(ctx: Any) -> None:
        ctx.set(dut.count, count)

    values = {"addr": addr, "n": n}
    got = exchange(dut, values, b"", rng, counter, memory((dut.rd_addr, dut.rd_data), words))

    def setup(model: DeviceModel) -> None:
        model.words[:], model.count = words, count

    assert (got.status, bytes(got.data)) == model_answer(
        DEVICE, Opcode.READ_WORDS, values, b"", setup
    )


@pytest.mark.parametrize(("addr", "tail"), [(2, 12), (0, 0), (1, 6), (14, 12)],
                         ids=["ok", "none", "partial-word", "past-end"])  # fmt: skip
def test_load_weights_writes_whole_words(addr: int, tail: int) -> None:
    dut = LoadWeights(DEVICE)
    rng = random.Random(tail)
    data = bytes(rng.randrange(256) for _ in range(tail))
    writes: list[tuple[int, int]] = []

    async def port(ctx: Any) -> None:
        async for _, _, en, a, d in ctx.tick().sample(
            dut.weight_wr.en, dut.weight_wr.addr, dut.weight_wr.data
        ):
            if en:
                writes.append((a, d))

    got = exchange(dut, {"addr": addr}, data, rng, port)
    assert got.status == model_answer(DEVICE, Opcode.LOAD_WEIGHTS, {"addr": addr}, data)[0]
    words = [int.from_bytes(data[k : k + 4], "little") for k in range(0, tail, 4)]
    assert writes == (
        [(addr + k, w) for k, w in enumerate(words)] if got.status == Status.OK else []
    )


@pytest.mark.parametrize(("n", "pending"), [(3, 4), (10, 2), (0, 3), (20, 40)])
def test_read_results_pops_what_is_pending(n: int, pending: int) -> None:
    device = DeviceSpec.of(lanes=8, depth=16, result_depth=64, link=LinkSpec(max_payload=64))
    dut = ReadResults(device)
    rng = random.Random(n)
    fifo = deque(rng.randrange(-(1 << 31), 1 << 31) for _ in range(pending))
    start = list(fifo)

    async def results(ctx: Any) -> None:
        while True:
            ctx.set(dut.pending, len(fifo))
            ctx.set(dut.pop.valid, bool(fifo))
            ctx.set(dut.pop.payload, fifo[0] & 0xFFFFFFFF if fifo else 0)
            _, _, ready, valid = await ctx.tick().sample(dut.pop.ready, dut.pop.valid)
            if ready and valid:
                fifo.popleft()

    got = exchange(dut, {"n": n}, b"", rng, results)

    def setup(model: DeviceModel) -> None:
        model.results.extend(start)

    assert (got.status, bytes(got.data)) == model_answer(
        device, Opcode.READ_RESULTS, {"n": n}, b"", setup
    )
    assert list(fifo) == start[len(got.data) // 4 :]


def test_read_status_and_clear_status() -> None:
    dut = ReadStatus(DEVICE)

    async def state(ctx: Any) -> None:
        ctx.set(dut.flags, 0b1011)
        ctx.set(dut.count, 9)
        ctx.set(dut.pending, 3)
        ctx.set(dut.link_errors, 513)

    got = exchange(dut, {}, b"", random.Random(2), state)
    assert bytes(got.data) == bytes([0b1011, 0, 9, 0, 0, 0, 3, 0, 1, 2])  # docs' field order
    dut = ClearStatus(DEVICE)
    cleared: list[int] = []
    got = exchange(dut, {}, b"", random.Random(3), pulses(dut.clear_flags, cleared))
    assert (got.status, got.length, len(cleared)) == (Status.OK, 0, 1)


@pytest.mark.parametrize(
    ("mode", "n", "full"),
    [(Mode.XNOR, 77, False), (Mode.AND, 8, False), (Mode.CODE, 21, False), (Mode.XNOR, 40, True),
     (Mode.CODE, 0, False), (3, 8, False)],
    ids=["xnor", "and-one-beat", "code", "fifo-full", "empty", "bad-mode"],
)  # fmt: skip
def test_run_dot_streams_beats_and_pushes_the_sum(mode: Mode | int, n: int, full: bool) -> None:
    dut = RunDot(DEVICE)
    rng = random.Random(n)
    weights = [rng.randrange(1 << 32) for _ in range(DEVICE.weight_depth)]
    words = [rng.randrange(1 << 32) for _ in range(DEVICE.depth)]
    value = mode.value if isinstance(mode, Mode) else mode
    codes = [rng.randrange(256) for _ in range(n)] if value == Mode.CODE.value else []
    beats: list[Any] = []
    pushed: list[int] = []
    raised: list[int] = []

    async def datapath(ctx: Any) -> None:  # takes beats, answers the sum of the beats seen
        ctx.set(dut.count, DEVICE.depth)
        ctx.set(dut.push.ready, not full)
        ctx.set(dut.pending, 1)
        while True:
            ready = rng.random() < 0.6
            ctx.set(dut.dot.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.dot.valid, dut.dot.payload)
            if valid and ready:
                beats.append((int(p.w), [int(a) for a in p.a], int(p.valid), p.first, p.last))
                if p.last:
                    ctx.set(dut.dot.ready, 0)
                    await ctx.tick().repeat(3)
                    ctx.set(dut.sums.valid, 1)
                    ctx.set(dut.sums.payload, -12345)
                    _, _, push = await ctx.tick().sample(dut.push.valid)
                    pushed.append(push)
                    ctx.set(dut.sums.valid, 0)

    values = {"mode": value, "w_addr": 1, "a_addr": 2, "n": n}
    tail = bytes(codes)
    got = exchange(
        dut, values, tail, rng, datapath, pulses(dut.raise_flag, raised),
        memory((dut.weight_rd.addr, dut.weight_rd.data), weights),
        memory((dut.rd_addr, dut.rd_data), words),
    )  # fmt: skip

    def setup(model: DeviceModel) -> None:
        model.weights[:], model.words[:], model.count = weights, words, DEVICE.depth
        if full:
            model.results.extend([0] * DEVICE.result_depth)

    want = model_answer(DEVICE, Opcode.RUN_DOT, values, tail, setup)
    if want[0] != Status.OK and not full:  # refused: nothing reaches the datapath
        assert (got.status, beats) == (want[0], [])
        return
    assert got.status == want[0] and (full or bytes(got.data) == (1).to_bytes(2, "little"))
    assert pushed == [1] and len(raised) == int(full)
    # The beats carry the elements in order, a masked partial last beat, first/last.
    lanes = DEVICE.lanes
    w_bits = unpack_bits(weights[1:], n, 32)
    a = np.array(codes) if value == Mode.CODE.value else unpack_bits(words[2:], n, 32)
    assert len(beats) == -(-n // lanes)
    for t, (w, lanes_a, valid, first, last) in enumerate(beats):
        k = min(lanes, n - t * lanes)
        assert valid == (1 << k) - 1 and (first, last) == (t == 0, t == len(beats) - 1)
        assert [(w >> j) & 1 for j in range(k)] == list(w_bits[t * lanes : t * lanes + k])
        assert lanes_a[:k] == list(a[t * lanes : t * lanes + k])


def test_handler_builds_every_command() -> None:
    """Every opcode has a component; the engine's two only with an engine (a device
    without one refuses to build them)."""
    assert set(COMMANDS) == set(Opcode)
    with_engine = replace(DEVICE, engine=load_network(NETWORK).engine_info())
    for op, cls in COMMANDS.items():
        if op in ENGINE_COMMANDS:
            with pytest.raises(ValueError, match=f"{op.name} needs a device with an inference"):
                cls(DEVICE)
        assert cls(with_engine).opcode is op
    Fragment.get(CommandHandler(DEVICE), None)
    Fragment.get(CommandHandler(with_engine), None)

# amaranth: UnusedElaboratable=no
"""SbqTop, SbqCore and CommandHandler (hw/top.py).

The real host driver (``host.Device``) talks to a simulated :class:`SbqTop` through the
bit-level UART model: identify, store and read back a tensor (against
``model.pack.pack_bits(model.binarize.binarize(...))``), dot products in every mode
(against ``model.xnor_acc.dot``), status and overflow reporting. Two fuzzes check every
answer against :class:`model.device.DeviceModel`, a Python model of the command semantics of
``docs/protocol.md``: random and malformed bursts through the whole top at the bit
level (bad CRC, truncated, over-long, unknown opcode, bad length, a bad stop bit,
garbage between frames), and well over 1000 random frames at the command-stream level
of :class:`SbqCore` with random stalls.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from typing import Any

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from amaranth_boards.arty_a7 import ArtyA7_35Platform
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

import spec
from host import Device, DeviceError, DeviceInfo, DeviceStatus, encode_request, read_response
from hw.commands import CommandHandler
from hw.link import COMMAND_LAYOUT, RESPONSE_LAYOUT
from hw.top import BoardTop, Heartbeat, SbqCore, SbqTop
from model.binarize import binarize
from model.device import DeviceModel
from model.pack import pack_bits, tensor_to_stream, unpack_bits
from model.xnor_acc import dot
from spec import (
    NO_STOP,
    REQUESTS,
    LinkSpec,
    Mode,
    Opcode,
    Status,
    StatusFlag,
    StoreFlag,
)

from . import uart_model
from .streams import raw, run
from .test_link import Frame, Refusal, expected

CLK_HZ = 1_000_000
#: 4 clocks per bit at 1 MHz; short frames so that chunking and the caps are reached.
LINK = LinkSpec(baud=250_000, timeout_us=80, max_payload=64)
TIMEOUT = 100  # quiet cycles that end a frame (a byte takes 40)
PARAMS = {"lanes": 8, "act_bits": 8, "word_bits": 32, "depth": 16, "seed": 1, "result_depth": 4}
PERIOD = 1e-8


def make_top() -> SbqTop:
    return SbqTop(device_spec(PARAMS), clk_hz=CLK_HZ, timeout_cycles=TIMEOUT)


def device_spec(params: dict[str, int]) -> spec.DeviceSpec:
    return spec.DeviceSpec.of(**params, link=LINK)


def make_model() -> DeviceModel:
    return DeviceModel(device_spec(PARAMS))


def random_command(rng: random.Random, model: DeviceModel) -> tuple[int, bytes]:
    """A random frame the link accepts (known opcode, allowed length) whose fields sit
    mostly near the edges of what the model's current state allows."""
    ops = list(Opcode)
    dev = model.spec
    op = rng.choices(ops, weights=[1, 2, 5, 4, 3, 6, 2, 2, 1, 1, 1, 1, 1], k=1)[0]
    room = dev.link.max_payload - REQUESTS[op].fixed_bytes

    def near(limit: int, bits: int) -> int:
        limit = max(limit, 0)
        pick = rng.choice([0, 1, limit - 1, limit, limit + 1, rng.randrange(limit + 2),
                           rng.randrange(1 << bits)])  # fmt: skip
        return pick % (1 << bits)

    fields: dict[str, int] = {}
    tail = b""
    if op is Opcode.SET_SEED:
        fields["seed"] = 0 if rng.random() < 0.15 else rng.randrange(1, 1 << 32)
    elif op is Opcode.STORE_CODES:
        # CLEAR seldom, long tails often: the SRAM must fill up now and then.
        fields["flags"] = rng.choice([0, 1]) | (StoreFlag.CLEAR if rng.random() < 0.1 else 0)
        if rng.random() < 0.05:
            fields["flags"] = rng.randrange(256)
        beat = dev.lanes * dev.code_bytes
        n = beat * rng.choice([room // beat] * 3 + [0, 1, 2, 3])
        if rng.random() < 0.15:
            n = rng.randint(1, room)  # maybe not whole beats
        tail = bytes(rng.randrange(256) for _ in range(n))
    elif op is Opcode.READ_WORDS:
        fields["addr"] = near(model.count, 32)
        fields["n"] = near(model.count - min(fields["addr"], model.count), 16)
    elif op is Opcode.LOAD_WEIGHTS:
        nw = rng.randint(0, room // dev.word_bytes)
        tail = bytes(rng.randrange(256) for _ in range(nw * dev.word_bytes))
        if rng.random() < 0.15:
            tail = tail[: rng.randrange(len(tail) + 1)] + b"\x01"
        fields["addr"] = near(dev.depth - nw, 32)
    elif op is Opcode.RUN_DOT:
        mode = rng.choice([0, 1, 2, 0, 1, 2, 3, rng.randrange(256)])
        words = max(model.count, 1)
        codes = room // dev.code_bytes
        n = rng.choice([rng.randint(1, words * dev.word_bits), rng.randint(1, codes),
                        0, 1, rng.randrange(1 << 32)])  # fmt: skip
        fields = {"mode": mode, "w_addr": near(dev.depth - 1, 32),
                  "a_addr": near(words - 1, 32), "n": n}  # fmt: skip
        if rng.random() < 0.6:  # a dot product that fits what is stored
            if mode not in (0, 1, 2) or (mode != Mode.CODE.value and model.count == 0):
                mode = Mode.CODE.value
            most = codes if mode == Mode.CODE.value else model.count * dev.word_bits
            n = rng.randint(1, most)
            nw = -(-n // dev.word_bits)
            fields = {"mode": mode, "w_addr": rng.randint(0, dev.depth - nw),
                      "a_addr": rng.randint(0, max(model.count - nw, 0)), "n": n}  # fmt: skip
        if mode == Mode.CODE.value and n <= codes:
            tail = bytes(rng.randrange(256) for _ in range(n * dev.code_bytes))
        if rng.random() < 0.1:
            tail = bytes(rng.randrange(256) for _ in range(rng.randint(0, room)))
    elif op is Opcode.READ_RESULTS:
        fields["n"] = rng.choice([0, 1, 1, 2, 3, 17, 0xFFFF])
    elif op is Opcode.LOAD_IMAGE:
        image = dev.engine.image_bytes if dev.engine else 64
        fields["offset"] = near(len(model.image), 32) if rng.random() < 0.7 else 0
        n = rng.choice([0, 1, image - fields["offset"], rng.randint(0, room)])
        tail = bytes(rng.randrange(256) for _ in range(max(min(n, room), 0)))
    elif op is Opcode.RUN_TO:
        layers = [i for i, _ in dev.engine.layers] if dev.engine else [3]
        fields["index"] = rng.choice([*layers, NO_STOP, 0, rng.randrange(1 << 16)])
    elif op is Opcode.READ_LAYER:
        words = dict(dev.engine.layers if dev.engine else ()).get(model.stopped, 8)
        fields["addr"] = near(words - 1, 32)
        fields["n"] = near(words - min(fields["addr"], words), 16)
    return int(op), REQUESTS[op].pack(fields, tail)


# --- the whole top through the bit-level UART ------------------------------------------


class SimLine:
    """A :class:`host.Transport` onto a simulated :class:`SbqTop`: bytes written go out
    on ``rx`` bit by bit; bytes on ``tx`` are decoded (start, data, stop checked) into
    an inbox. ``read`` runs the simulation until enough bytes arrived or
    ``read_cycles`` passed (then it returns fewer: a timeout, as the protocol allows).
    """

    def __init__(self, dut: SbqTop, *, read_cycles: int = 40_000) -> None:
        self.dut = dut
        self.bit = dut.clocks_per_bit * PERIOD
        self.read_cycles = read_cycles
        self.outbox: deque[tuple[int, bool]] = deque()
        self.inbox = bytearray()
        self.cycles = 0
        self.leds = 0
        self.closing = False
        self.stopped = 0  # driver testbenches that returned
        self.sim = Simulator(dut)
        self.sim.add_clock(PERIOD)
        self.sim.add_testbench(self._drive, background=True)
        self.sim.add_testbench(self._listen, background=True)

    async def _drive(self, ctx: Any) -> None:
        while not self.closing:
            self.leds = ctx.get(self.dut.leds)
            if not self.outbox:
                await ctx.delay(10 * self.bit)
                continue
            byte, bad_stop = self.outbox.popleft()
            for level in uart_model.frame_bits(byte, stop=0 if bad_stop else 1):
                ctx.set(self.dut.rx, level)
                await ctx.delay(self.bit)
            ctx.set(self.dut.rx, 1)
            if bad_stop:
                await ctx.delay(self.bit)  # the receiver waits for a high line
        self.stopped += 1

    async def _listen(self, ctx: Any) -> None:
        # Never returns: left waiting for a start bit, it is closed with the simulator.
        tx = self.dut.tx
        while True:
            await ctx.negedge(tx)
            await ctx.delay(self.bit / 2)
            assert ctx.get(tx) == 0, "a start bit shorter than half a bit"
            byte = 0
            for i in range(8):
                await ctx.delay(self.bit)
                byte |= ctx.get(tx) << i
            await ctx.delay(self.bit)
            assert ctx.get(tx) == 1, f"byte {byte:#04x} from the device has a low stop bit"
            self.inbox.append(byte)

    def run(self, cycles: int) -> None:
        self.cycles += cycles
        self.sim.run_until(self.cycles * PERIOD)

    def write(self, data: bytes, *, bad_stop_last: bool = False) -> None:
        self.outbox.extend((b, False) for b in data)
        if bad_stop_last:
            self.outbox[-1] = (self.outbox[-1][0], True)

    def read(self, n: int, timeout: float) -> bytes:
        waited = 0
        while len(self.inbox) < n and waited < self.read_cycles:
            self.run(400)
            waited += 400
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out

    def peek_leds(self) -> int:
        """The LEDs a moment from now."""
        self.run(200)
        return self.leds

    def close(self) -> None:
        """Let the driver testbench finish."""
        self.closing = True
        self.run(40 * round(self.bit / PERIOD))
        assert self.stopped == 1


@pytest.fixture
def line() -> Any:
    line = SimLine(make_top())
    yield line
    line.close()


@pytest.fixture
def dev(line: SimLine) -> Device:
    return Device(line, LINK, timeout=3600.0)  # the line's own cycle budget times out


def test_identify_and_leds(dev: Device, line: SimLine) -> None:
    info = dev.identify()
    assert info == DeviceInfo(
        protocol=5, lanes=8, act_bits=8, word_bits=32, depth=16, weight_depth=16, acc_bits=32,
        result_depth=4, max_payload=64, fingerprint=int(spec.fingerprint(), 16), source=1,
    )  # fmt: skip
    assert info.matches_spec
    leds = line.peek_leds()
    assert leds & 0b1110 == 0b1000  # idle, no error, last command OK


def test_store_and_read_back_packed_words(dev: Device) -> None:
    rng = np.random.default_rng(7)
    tensor = rng.integers(0, 256, size=(2, 4, 4, 5))  # NHWC: 160 codes, 5 words
    codes = tensor_to_stream(tensor)
    dev.set_seed(0x1234_5678)
    assert dev.store_codes(codes) == 5  # three frames of at most 56 codes
    want = pack_bits(binarize(codes, seed=0x1234_5678, lanes=8, act_bits=8, source="shared"), 32)
    assert dev.read_words(0, 5) == want.tolist()
    assert dev.read_words(3, 2) == want[3:].tolist()

    # A new seed and a new tensor whose length is not a whole beat (padded by the host).
    odd = rng.integers(0, 256, size=50)
    dev.set_seed(99)
    assert dev.store_codes(odd) == 2
    want = pack_bits(binarize(odd, seed=99, lanes=8, act_bits=8, source="shared"), 32)
    assert dev.read_words(0, 2) == want.tolist()
    assert dev.read_status() == DeviceStatus(flags=StatusFlag(0), count=2, pending=0, errors=0)


def test_dot_products_in_every_mode(dev: Device) -> None:
    rng = np.random.default_rng(11)
    weights = [int(w) for w in rng.integers(0, 1 << 32, size=16, dtype=np.uint64)]
    dev.load_weights(weights[:5], addr=0)
    dev.load_weights(weights[5:], addr=5)
    w_bits = unpack_bits(weights, 16 * 32, 32)
    codes = rng.integers(0, 256, size=256)
    dev.set_seed(5)
    assert dev.store_codes(codes) == 8
    a_bits = binarize(codes, seed=5, lanes=8, act_bits=8, source="shared")

    jobs = []  # (mode, n, w_addr, a_addr, codes)
    for mode in ("xnor", "and"):
        for n, w_addr, a_addr in ((256, 0, 0), (37, 3, 2), (1, 15, 7), (64, 14, 6), (95, 9, 0)):
            jobs.append((mode, n, w_addr, a_addr, None))
    for n, w_addr in ((51, 0), (8, 15), (1, 2), (33, 7)):
        jobs.append(("code", n, w_addr, 0, rng.integers(0, 256, size=n)))
    got, want = [], []
    for k, (mode, n, w_addr, a_addr, q) in enumerate(jobs):
        w = w_bits[32 * w_addr : 32 * w_addr + n]
        if q is None:
            a = a_bits[32 * a_addr : 32 * a_addr + n]
            pending = dev.run_dot(mode, n, w_addr=w_addr, a_addr=a_addr)
        else:
            a = q
            pending = dev.run_dot(mode, w_addr=w_addr, codes=q.tolist())
        want.append(int(dot(w, a, mode)))
        assert pending == k % 4 + 1
        if pending == 4 or k == len(jobs) - 1:
            got += dev.read_results(10)
    assert got == want
    assert len(got) == 14
    assert {m for m, *_ in jobs} == {"xnor", "and", "code"}


def test_status_errors_and_overflow(dev: Device, line: SimLine) -> None:
    clean = DeviceStatus(flags=StatusFlag(0), count=0, pending=0, errors=0)
    assert dev.read_status() == clean

    with pytest.raises(ValueError, match=r"seed must be an integer in 1\.\.2"):
        dev.set_seed(0)  # the host refuses it before sending
    with pytest.raises(DeviceError) as e:
        dev.command(Opcode.SET_SEED, bytes(8))  # the device refuses it too
    assert e.value.status is Status.BAD_ARGUMENT
    assert dev.read_status().flags == StatusFlag.SEED_ERROR
    assert line.peek_leds() & 0b0100  # sticky error

    bad = bytearray(encode_request(Opcode.READ_STATUS, b"", LINK))
    bad[-1] ^= 0x40
    line.write(bytes(bad))
    r = read_response(line, LINK, timeout=3600.0)
    assert (r.status, r.opcode) == (Status.BAD_CRC, Opcode.READ_STATUS)
    assert line.peek_leds() & 0b1000 == 0  # last frame not OK
    status = dev.read_status()
    assert status.flags == StatusFlag.SEED_ERROR | StatusFlag.LINK_ERROR
    assert status.errors == 1
    dev.clear_status()
    assert dev.read_status() == clean
    assert line.peek_leds() & 0b1100 == 0b1000

    # The SRAM holds 16 words = 512 codes; the frame that completes word 17 overflows.
    with pytest.raises(DeviceError) as e:
        dev.store_codes([200] * 544)
    assert (e.value.status, e.value.opcode) == (Status.OVERFLOW, Opcode.STORE_CODES)
    assert dev.read_status() == DeviceStatus(StatusFlag.SRAM_OVERFLOW, count=16, pending=0,
                                             errors=0)  # fmt: skip
    assert len(dev.read_words(0, 16)) == 16
    with pytest.raises(DeviceError) as e:
        dev.read_words(15, 2)
    assert e.value.status is Status.BAD_ARGUMENT
    assert dev.store_codes([255] * 8) == 1  # CLEAR starts over
    assert dev.read_status().flags == StatusFlag.SRAM_OVERFLOW  # sticky until cleared

    # The result FIFO holds 4 sums; the fifth is lost and reported.
    dev.load_weights([0xFFFF_FFFF])
    assert [dev.run_dot("code", codes=[k]) for k in range(1, 5)] == [1, 2, 3, 4]
    with pytest.raises(DeviceError) as e:
        dev.run_dot("code", codes=[9])
    assert e.value.status is Status.OVERFLOW
    assert dev.read_status().flags == StatusFlag.SRAM_OVERFLOW | StatusFlag.RESULT_OVERFLOW
    assert dev.read_results(10) == [1, 2, 3, 4]
    dev.clear_status()

    # Refused arguments and lengths change nothing and are answered at once.
    refusals = [
        (Opcode.RUN_DOT, REQUESTS[Opcode.RUN_DOT].pack({"mode": 3, "w_addr": 0, "a_addr": 0,
                                                        "n": 8}), Status.BAD_ARGUMENT),
        (Opcode.RUN_DOT, REQUESTS[Opcode.RUN_DOT].pack({"mode": 2, "w_addr": 0, "a_addr": 0,
                                                        "n": 3}, b"\x01\x02"), Status.BAD_LENGTH),
        (Opcode.RUN_DOT, REQUESTS[Opcode.RUN_DOT].pack({"mode": 0, "w_addr": 0, "a_addr": 0,
                                                        "n": 33}), Status.BAD_ARGUMENT),
        (Opcode.LOAD_WEIGHTS, REQUESTS[Opcode.LOAD_WEIGHTS].pack({"addr": 16}, bytes(4)),
         Status.BAD_ARGUMENT),
        (Opcode.LOAD_WEIGHTS, REQUESTS[Opcode.LOAD_WEIGHTS].pack({"addr": 0}, bytes(5)),
         Status.BAD_LENGTH),
        (Opcode.STORE_CODES, REQUESTS[Opcode.STORE_CODES].pack({"flags": 2}, bytes(9)),
         Status.BAD_LENGTH),
    ]  # fmt: skip
    for opcode, payload, status in refusals:
        with pytest.raises(DeviceError) as e:
            dev.command(opcode, payload)
        assert (e.value.status, e.value.opcode) == (status, opcode)
    assert dev.read_status() == DeviceStatus(StatusFlag(0), count=1, pending=0, errors=0)
    assert dev.read_words(0, 1) == [0xFF]  # code 255 binarizes to 1 unless r = 255
    assert dev.read_results(4) == []


def test_fuzz_through_the_uart() -> None:
    """Random and malformed bursts through the whole top, bit by bit: every burst gets
    exactly the answers the link model and :class:`model.device.DeviceModel` predict (or none, for
    garbage), nothing hangs, and a valid command afterwards still works."""
    rng = random.Random(2026)
    line = SimLine(make_top())
    model = make_model()
    kinds: Counter[str] = Counter()
    statuses: Counter[Status] = Counter()
    answered = 0
    for _ in range(150):
        op, payload = random_command(rng, model)
        good = encode_request(op, payload, LINK)
        kind = rng.choice(["command", "command", "command", "bad-crc", "truncated",
                           "too-long", "unknown", "bad-length", "garbage", "two-frames",
                           "bad-stop"])  # fmt: skip
        bad_stop = False
        if kind == "command":
            burst = good
        elif kind == "bad-crc":
            k = rng.randrange(1, len(good))
            burst = good[:k] + bytes([good[k] ^ (1 << rng.randrange(8))]) + good[k + 1 :]
        elif kind == "truncated":
            burst = good[: rng.randrange(1, len(good))]
        elif kind == "too-long":
            length = rng.randint(LINK.max_payload + 1, 0xFFFF).to_bytes(2, "little")
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))
            burst = bytes([LINK.sync, op]) + length + junk
        elif kind == "unknown":
            bad_op = rng.choice([b for b in range(256) if b not in LINK.request_lengths()])
            burst = encode_request(bad_op, payload, LINK)
        elif kind == "bad-length":
            lo, hi = LINK.request_lengths()[op]
            wrong = [n for n in range(0, 20) if not lo <= n <= hi]
            if not wrong:
                wrong = [lo - 1]
            burst = encode_request(op, bytes(rng.choice(wrong)), LINK)
        elif kind == "garbage":
            junk = bytes(rng.choice([b for b in range(256) if b != LINK.sync])
                         for _ in range(rng.randint(1, 12)))  # fmt: skip
            burst = junk + good
        elif kind == "two-frames":
            op2, payload2 = random_command(rng, model)
            burst = good + encode_request(op2, payload2, LINK)
        else:  # a frame cut short by a byte with a low stop bit
            burst = good[: rng.randrange(1, len(good))] + bytes([rng.randrange(256)])
            bad_stop = True
        kinds[kind] += 1
        events: list[Frame | Refusal] = expected(burst, LINK)
        if bad_stop:  # refused when the bad byte arrives; the opcode if one came before it
            events = [Refusal(Status.FRAMING, burst[1] if len(burst) > 2 else 0)]
        line.write(burst, bad_stop_last=bad_stop)
        for event in events:
            if isinstance(event, Frame):
                status, body = model.handle(event.opcode, event.payload)
                want = (status, event.opcode, body)
            else:
                model.refused()
                want = (event.status, event.opcode, b"")
            r = read_response(line, LINK, timeout=3600.0)
            assert (r.status, r.opcode, r.payload) == want, (kind, burst.hex(" "))
            statuses[Status(r.status)] += 1
            answered += 1
    # Still alive: a valid command works and nothing else is left on the line.
    dev = Device(line, LINK, timeout=3600.0)
    assert dev.identify().depth == 16
    assert dev.read_status() == DeviceStatus(
        flags=StatusFlag(model.handle(Opcode.READ_STATUS, b"")[1][0]),
        count=model.count, pending=len(model.results), errors=model.errors,
    )  # fmt: skip
    line.run(3 * TIMEOUT)
    assert line.inbox == b""
    line.close()
    assert sum(kinds.values()) == 150 and len(kinds) == 9
    assert all(n >= 5 for n in kinds.values()), kinds
    assert answered >= 150
    for status in (Status.OK, Status.BAD_CRC, Status.TIMEOUT, Status.TOO_LONG,
                   Status.UNKNOWN_OPCODE, Status.BAD_LENGTH, Status.FRAMING,
                   Status.BAD_ARGUMENT):  # fmt: skip
        assert statuses[status] >= 3, statuses


# --- the core at the command-stream level ------------------------------------------------


def run_core(
    dut: SbqCore,
    frames: list[tuple[int, bytes, int | None]],
    rng: random.Random,
    waits: dict[int, int] | None = None,
) -> list[tuple[int, int, bytes]]:
    """Feed each of ``frames`` (opcode, payload, link error count to show first or
    None) to ``cmd`` with random gaps, then take its answer from ``rsp`` with random
    stalls (the handler answers only once it has taken the whole frame). Zeroes
    ``link_errors`` on ``clear_link_errors``, as :class:`~hw.link.HostLink` does.
    ``waits[k]``: idle cycles before frame ``k``."""
    waits = waits or {}
    answers: list[tuple[int, int, bytes]] = []
    rsp_field = {name: (RESPONSE_LAYOUT[name].offset, RESPONSE_LAYOUT[name].width)
                 for name in RESPONSE_LAYOUT.members}  # fmt: skip

    def get(value: int, name: str) -> int:
        offset, width = rsp_field[name]
        return (value >> offset) & ((1 << width) - 1)

    def beat(op: int, payload: bytes, k: int) -> int:
        n = max(len(payload), 1)
        return COMMAND_LAYOUT.const(
            {"opcode": op, "length": len(payload), "data": payload[k] if payload else 0,
             "first": k == 0, "last": k == n - 1}
        ).as_bits()  # fmt: skip

    async def bench(ctx: Any) -> None:
        for k, (op, payload, errors) in enumerate(frames):
            if k in waits:
                await ctx.tick().repeat(waits[k])
            if errors is not None:
                ctx.set(dut.link_errors, errors)
            for k in range(max(len(payload), 1)):
                if rng.random() < 0.2:
                    ctx.set(dut.cmd.valid, 0)
                    await ctx.tick().repeat(rng.randint(1, 3))
                ctx.set(raw(dut.cmd.payload), beat(op, payload, k))
                ctx.set(dut.cmd.valid, 1)
                await ctx.tick().until(dut.cmd.ready)
            ctx.set(dut.cmd.valid, 0)
            data = bytearray()
            header = None
            while header is None or len(data) < header[2]:
                ready = rng.random() < 0.7
                ctx.set(dut.rsp.ready, ready)
                _, _, valid, p, clear = await ctx.tick().sample(
                    dut.rsp.valid, raw(dut.rsp.payload), dut.clear_link_errors
                )
                if clear:
                    ctx.set(dut.link_errors, 0)
                if not (valid and ready):
                    continue
                this = (get(p, "status"), get(p, "opcode"), get(p, "length"))
                assert header in (None, this), "header changed mid-frame"
                header = this
                if header[2] == 0:
                    break
                data.append(get(p, "data"))
            ctx.set(dut.rsp.ready, 0)
            answers.append((header[0], header[1], bytes(data)))
        for _ in range(10):  # nothing more comes out
            _, _, valid = await ctx.tick().sample(dut.rsp.valid)
            assert not valid

    total = sum(max(len(p), 1) + 300 for _, p, _ in frames) + sum(waits.values())
    run(dut, bench, deadline_cycles=4 * total)
    return answers


#: More configurations for the command-level fuzz: 4-bit codes (masked on the wire),
#: one-byte words and two beats per word; 12-bit codes (two bytes each on the wire),
#: eight beats per word. Shallower result FIFOs.
SMALL = {"lanes": 4, "act_bits": 4, "word_bits": 8, "depth": 16, "seed": 3, "result_depth": 3}
WIDE = {"lanes": 2, "act_bits": 12, "word_bits": 16, "depth": 8, "seed": 9, "result_depth": 2}


@pytest.mark.parametrize(("params", "n_frames"), [(PARAMS, 760), (SMALL, 430), (WIDE, 330)],
                         ids=["lanes8-word32", "lanes4-word8", "lanes2-code12"])  # fmt: skip
def test_fuzz_frames_at_the_command_level(params: dict[str, int], n_frames: int) -> None:
    """Random frames (every opcode, fields near their limits, bad tails) straight into
    the command stream: every answer, payloads included, equals the model's. The three
    configurations give 1520 frames."""
    rng = random.Random(99 + n_frames)
    dut = SbqCore(device_spec(params))
    model = DeviceModel(device_spec(params))
    frames: list[tuple[int, bytes, int | None]] = []
    want: list[tuple[int, int, bytes]] = []
    for _ in range(n_frames):
        errors = None
        if rng.random() < 0.05:
            errors = model.errors = rng.choice([0, 1, 7, 0xFFFF])
        op, payload = random_command(rng, model)
        status, body = model.handle(op, payload)
        frames.append((op, payload, errors))
        want.append((int(status), op, body))
    got = run_core(dut, frames, rng)
    pairs = list(zip(frames, got, strict=True))
    mismatches = [
        (k, f, g, w) for k, ((f, g), w) in enumerate(zip(pairs, want, strict=True)) if g != w
    ]
    assert mismatches == [], mismatches[:3]
    # Every opcode, every handler status, and each mode's dot products happened often.
    scale = n_frames / 1000
    ops = Counter(Opcode(op) for op, _, _ in frames)
    assert len(ops) == len(Opcode) and min(ops.values()) >= 20 * scale, ops
    statuses = Counter(Status(s) for s, _, _ in got)
    for status in (Status.OK, Status.BAD_ARGUMENT, Status.BAD_LENGTH, Status.OVERFLOW):
        assert statuses[status] >= 10 * scale, statuses
    by_op = Counter((Opcode(op), Status(s)) for (op, _, _), (s, _, _) in pairs)
    for op in (Opcode.STORE_CODES, Opcode.RUN_DOT):
        assert by_op[op, Status.OK] >= 20 * scale and by_op[op, Status.OVERFLOW] >= 2, by_op
    for mode in (0, 1, 2):
        oks = sum(
            1
            for (op, p, _), (s, _, _) in pairs
            if op == Opcode.RUN_DOT and p[0] == mode and s == Status.OK
        )
        assert oks >= 10 * scale, (mode, oks)


# --- small parts and construction ----------------------------------------------------------


def test_heartbeat_is_the_counters_top_bit() -> None:
    dut = Heartbeat(clk_hz=16)  # a 5-bit counter: 16 cycles low, 16 high
    seen: list[int] = []

    async def bench(ctx: Any) -> None:
        for _ in range(64):
            _, _, o = await ctx.tick().sample(dut.o)
            seen.append(o)

    run(dut, bench, deadline_cycles=100)
    assert seen == ([0] * 16 + [1] * 16) * 2


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: SbqTop(device_spec({"lanes": 12})), ValueError,
         r"^lanes must be a power of two no larger than word_bits=32, not 12$"),
        (lambda: SbqTop(device_spec({"lanes": 64})), ValueError,
         r"^lanes must be a power of two no larger than word_bits=32, not 64$"),
        (lambda: SbqTop(device_spec({"seed": 0})), ValueError,
         r"^seed must be non-zero: state 0 is a fixed point of the LFSR$"),
        (lambda: SbqTop(clk_hz=300_000), ValueError,
         r"^baud 115200 needs at least 4 clocks per bit; a 300000 Hz clock gives 2\.60$"),
        (lambda: SbqTop(timeout_cycles=0), ValueError,
         r"^timeout_cycles must be in 1\.\.4294967296, not 0$"),
        (lambda: device_spec({"result_depth": 0}), ValueError,
         r"^result_depth must be in 1\.\.65536, not 0$"),
        (lambda: SbqCore("spec"), TypeError, r"^device must be a DeviceSpec, not 'spec'$"),
        (lambda: spec.DeviceSpec.of(lanes=32, act_bits=12, link=LinkSpec(max_payload=44)),
         ValueError, r"^max_payload must hold one beat of 32 codes \(65 bytes\), not 44$"),
        (lambda: CommandHandler(LINK), TypeError, r"^device must be a DeviceSpec, not LinkSpec\("),
        (lambda: spec.DeviceSpec(weight_depth=0), ValueError,
         r"^weight_depth must be in 1\.\.16777216, not 0$"),
        (lambda: spec.DeviceSpec(packing=spec.PackingSpec(depth=1 << 24), acc_bits=16),
         ValueError, r"^a dot product of max_beats=1024 beats x lanes=32 at act_bits=8 can "
         r"reach 8355840, beyond the 16-bit accumulator's 32767"),
    ],
    ids=["lanes-12", "lanes-64", "seed-0", "slow-clock", "timeout", "result-depth",
         "device-type", "max-payload", "handler-device-type", "weight-depth", "acc-bits"],
)  # fmt: skip
def test_bad_parameters(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_signatures_and_identify() -> None:
    top = SbqTop()
    assert set(top.signature.members) == {"rx", "tx", "leds"}
    assert top.signature.members["leds"].shape == 4
    assert top.clocks_per_bit == 868
    assert top.device == spec.DeviceSpec()
    # The IDENTIFY answer, written out from docs/protocol.md's table.
    status, body = DeviceModel(top.device).handle(Opcode.IDENTIFY, b"")
    fingerprint = int(spec.fingerprint(), 16).to_bytes(8, "little")
    no_engine = bytes(8 + 4 + 2)  # network 0, engine cycles 0, engine lanes 0
    shared = bytes([1])  # the store path's random source: 1, the shared LFSR
    assert (status, body) == (Status.OK, b"sbq" + bytes([5]) + (32).to_bytes(2, "little")
                              + bytes([8, 32]) + (1024).to_bytes(4, "little") * 2
                              + bytes([32]) + (32).to_bytes(2, "little")
                              + (1024).to_bytes(2, "little") + fingerprint + no_engine
                              + shared)  # fmt: skip
    Fragment.get(top, None)


@pytest.mark.parametrize(
    ("platform", "leds"),
    [(ArtyA7_35Platform, 4), (ICEBreakerPlatform, 2), (ULX3S_85F_Platform, 4)],
    ids=["arty_a7_35", "icebreaker", "ulx3s_85f"],
)
def test_board_top_elaborates(platform: Any, leds: int) -> None:
    plat = platform()
    top = BoardTop(spec.DeviceSpec.of(lanes=8), clk_hz=int(plat.default_clk_frequency))
    Fragment.get(top, plat)
    requested = list(plat._requested)  # amaranth.build's record of requested resources
    assert [key for key in requested if key[0] == "led"] == [("led", i) for i in range(leds)]
    assert ("uart", 0) in requested

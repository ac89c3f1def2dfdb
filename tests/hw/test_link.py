# amaranth: UnusedElaboratable=no
"""FrameReceiver, FrameSender and HostLink (hw/link.py).

The receiver is checked against a small Python model of its contract (``expected``
below), frame by frame and in a byte-level fuzz of well over 1000 random and malformed
frames; the sender's bytes are decoded by the host's decoder (host/link.py), whose CRC
is checked against Amaranth's in tests/test_host.py; HostLink is driven end to end
through the bit-level UART model.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import data, wiring

from host.link import decode_response, encode_request, encode_response
from hw.link import (
    COMMAND_LAYOUT,
    ERROR_LAYOUT,
    FrameReceiver,
    FrameSender,
    HostLink,
    crc_parameters,
)
from spec import LinkSpec, Opcode, Status

from . import uart_model
from .streams import raw, run

SPEC = LinkSpec()
SMALL = LinkSpec(max_payload=64)  # short frames for the fuzz, TOO_LONG cheap to reach
TIMEOUT = 16  # cycles of quiet line that end a frame, in the byte-level tests


# --- a model of the receiver's contract ------------------------------------------------


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes


@dataclass(frozen=True)
class Refusal:
    status: Status
    opcode: int


def expected(burst: bytes, spec: LinkSpec) -> list[Frame | Refusal]:
    """What the receiver must do with ``burst``: bytes with gaps shorter than the
    timeout, followed by a quiet line."""
    lengths = spec.request_lengths()
    crc = crc_parameters(spec)
    out: list[Frame | Refusal] = []
    k = 0
    while k < len(burst):
        if burst[k] != spec.sync:
            k += 1
            continue
        body = burst[k + 1 :]
        opcode = body[0] if body else 0
        if len(body) < 3:
            return [*out, Refusal(Status.TIMEOUT, opcode)]
        length = int.from_bytes(body[1:3], "little")
        if length > spec.max_payload:
            return [*out, Refusal(Status.TOO_LONG, opcode)]  # the rest is drained
        end = 3 + length + spec.crc_bytes
        if len(body) < end:
            return [*out, Refusal(Status.TIMEOUT, opcode)]
        sent = int.from_bytes(body[3 + length : end], spec.crc_byteorder)  # type: ignore[arg-type]
        if crc.compute(body[: 3 + length]) != sent:
            return [*out, Refusal(Status.BAD_CRC, opcode)]  # the rest is drained
        payload = bytes(body[3 : 3 + length])
        if opcode not in lengths:
            out.append(Refusal(Status.UNKNOWN_OPCODE, opcode))
        elif not lengths[opcode][0] <= length <= lengths[opcode][1]:
            out.append(Refusal(Status.BAD_LENGTH, opcode))
        else:
            out.append(Frame(opcode, payload))
        k += 1 + end
    return out


# --- driving the receiver at the byte level ----------------------------------------------


def field(value: int, layout: data.StructLayout, name: str) -> int:
    """Field ``name`` of a raw ``layout`` value."""
    f = layout[name]
    return (value >> f.offset) & ((1 << f.width) - 1)


def run_receiver(
    dut: FrameReceiver,
    bursts: list[bytes],
    rng: random.Random,
    *,
    stall: float = 0.0,
) -> list[list[Frame | Refusal]]:
    """Feed each burst (bytes up to a third of the timeout apart), then a quiet line
    of more than the timeout; return what came out during each burst. The consumers
    drop ``ready`` for a fraction ``stall`` of the cycles, in runs."""
    timeout = dut.timeout_cycles
    events: list[list[Frame | Refusal]] = [[] for _ in bursts]
    current = [0]

    async def feeder(ctx: Any) -> None:
        for n, burst in enumerate(bursts):
            current[0] = n
            ctx.set(dut.i.valid, 1)
            for byte in burst:
                ctx.set(dut.i.payload, byte)
                await ctx.tick().until(dut.i.ready)
                if rng.random() < 0.2:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick().repeat(rng.randint(1, max(1, timeout // 3)))
                    ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.valid, 0)
            # Quiet line: the receiver answers a refusal, then the consumers drain.
            await ctx.tick().repeat(timeout + 4)
            while not ctx.get(dut.i.ready) or ctx.get(dut.o.valid):
                await ctx.tick()
            await ctx.tick().repeat(2)

    async def collector(ctx: Any) -> None:
        # Raw integers rather than layout views: views are slow to build every cycle.
        payload = bytearray()
        # Ready toggles in runs (mean length 4 cycles): fewer sets, which are slow.
        o_ready = err_ready = True
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.err.ready, 1)
        while True:
            if stall and rng.random() < 0.25:
                o_ready, err_ready = rng.random() >= stall, rng.random() >= stall
                ctx.set(dut.o.ready, o_ready)
                ctx.set(dut.err.ready, err_ready)
            _, _, o_valid, beat, err_valid, err = await ctx.tick().sample(
                dut.o.valid, raw(dut.o.payload), dut.err.valid, raw(dut.err.payload)
            )
            if o_ready and o_valid:
                b = {name: field(beat, COMMAND_LAYOUT, name) for name in COMMAND_LAYOUT.members}
                if b["first"]:
                    payload.clear()
                if b["length"]:
                    payload.append(b["data"])
                if b["last"]:
                    assert len(payload) == b["length"]
                    events[current[0]].append(Frame(b["opcode"], bytes(payload)))
            if err_ready and err_valid:
                status, opcode = (field(err, ERROR_LAYOUT, n) for n in ("status", "opcode"))
                events[current[0]].append(Refusal(Status(status), opcode))

    total = sum(len(b) for b in bursts)
    run(
        dut,
        feeder,
        monitors=(collector,),
        deadline_cycles=8 * total + (2 * timeout + 60) * len(bursts) + 1000,
    )
    return events


def frame(opcode: int, payload: bytes, spec: LinkSpec = SPEC) -> bytes:
    return encode_request(opcode, payload, spec)


def test_good_frames_come_out_whole_with_stalls() -> None:
    dut = FrameReceiver(SPEC, timeout_cycles=TIMEOUT)
    rng = random.Random(1)
    bursts = [
        frame(Opcode.IDENTIFY, b""),
        frame(Opcode.SET_SEED, b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        frame(Opcode.STORE_CODES, bytes(rng.randrange(256) for _ in range(SPEC.max_payload))),
        frame(Opcode.READ_WORDS, bytes(6)) + frame(Opcode.READ_STATUS, b""),  # back to back
        frame(Opcode.LOAD_WEIGHTS, bytes([SPEC.sync] * 9)),  # sync bytes in the payload
    ]
    events = run_receiver(dut, bursts, rng, stall=0.4)
    assert events == [expected(b, SPEC) for b in bursts]
    assert [len(e) for e in events] == [1, 1, 1, 2, 1]
    assert all(isinstance(e, Frame) for es in events for e in es)


@pytest.mark.parametrize(
    ("burst", "refusal"),
    [
        (frame(Opcode.SET_SEED, bytes(range(1, 9)))[:-1] + b"\x00", Refusal(Status.BAD_CRC, 2)),
        (frame(0x42, b"abc"), Refusal(Status.UNKNOWN_OPCODE, 0x42)),
        (frame(0x00, b""), Refusal(Status.UNKNOWN_OPCODE, 0x00)),
        (frame(Opcode.SET_SEED, b"\x01\x02\x03"), Refusal(Status.BAD_LENGTH, 2)),
        (frame(Opcode.IDENTIFY, b"x"), Refusal(Status.BAD_LENGTH, 1)),
        (frame(Opcode.STORE_CODES, b""), Refusal(Status.BAD_LENGTH, 3)),
        (bytes([SPEC.sync, 3, 0x01, 0x04]) + bytes(40), Refusal(Status.TOO_LONG, 3)),
        (frame(Opcode.STORE_CODES, b"abcdef")[:7], Refusal(Status.TIMEOUT, 3)),
        (bytes([SPEC.sync]), Refusal(Status.TIMEOUT, 0)),
    ],
    ids=[
        "bad-crc",
        "unknown-opcode",
        "opcode-zero",
        "short",
        "long",
        "empty-tail",
        "too-long",
        "truncated",
        "sync-only",
    ],
)
def test_refusals(burst: bytes, refusal: Refusal) -> None:
    dut = FrameReceiver(SPEC, timeout_cycles=TIMEOUT)
    good = frame(Opcode.SET_SEED, b"\x05\x06\x07\x08\x09\x0a\x0b\x0c")
    events = run_receiver(dut, [burst, good], random.Random(2), stall=0.3)
    assert events == [[refusal], [Frame(Opcode.SET_SEED, b"\x05\x06\x07\x08\x09\x0a\x0b\x0c")]]
    assert events[0] == expected(burst, SPEC)


def test_garbage_without_sync_is_dropped_silently() -> None:
    dut = FrameReceiver(SPEC, timeout_cycles=TIMEOUT)
    garbage = bytes(b for b in range(256) if b != SPEC.sync)
    good = frame(Opcode.READ_STATUS, b"")
    events = run_receiver(dut, [garbage + good, garbage], random.Random(3))
    assert events == [[Frame(Opcode.READ_STATUS, b"")], []]


@pytest.mark.parametrize(("pulse", "status"), [("framing_error", Status.FRAMING),
                                               ("overrun", Status.OVERRUN)])  # fmt: skip
def test_line_errors_refuse_a_frame_in_progress(pulse: str, status: Status) -> None:
    dut = FrameReceiver(SPEC, timeout_cycles=TIMEOUT)
    good = frame(Opcode.SET_SEED, bytes([1, 0, 0, 0, 0, 0, 0, 0]))
    seen: list[Any] = []

    async def bench(ctx: Any) -> None:
        ctx.set(dut.err.ready, 1)
        ctx.set(dut.o.ready, 1)

        async def send(data: bytes) -> None:
            for byte in data:
                ctx.set(dut.i.payload, byte)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

        async def strobe() -> None:
            ctx.set(getattr(dut, pulse), 1)
            await ctx.tick()
            ctx.set(getattr(dut, pulse), 0)

        if pulse == "overrun":
            await strobe()  # an overrun between frames: ignored
        await send(good[:5])
        await strobe()  # inside a frame: refused once the line is quiet
        await send(good[5:])  # the rest is drained
        for _ in range(3 * TIMEOUT):
            _, _, valid, ev, ov, o = await ctx.tick().sample(
                dut.err.valid, dut.err.payload, dut.o.valid, dut.o.payload
            )
            if valid:
                seen.append((Status(ev.status), ev.opcode))
            assert not ov, "a refused frame must not come out"
        await send(good)
        for _ in range(20):
            _, _, ov, o = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if ov and o.last:
                seen.append((o.opcode, o.length))

    run(dut, bench, deadline_cycles=1000)
    assert seen == [(status, int(Opcode.SET_SEED)), (int(Opcode.SET_SEED), 8)]


# --- the fuzz ------------------------------------------------------------------------


def malformed(rng: random.Random, spec: LinkSpec) -> tuple[str, bytes]:
    """One random malformed (or occasionally good) burst and its kind."""
    lengths = spec.request_lengths()
    op = rng.choice(list(lengths))
    lo, hi = lengths[op]
    payload = bytes(rng.randrange(256) for _ in range(rng.randint(lo, min(hi, lo + 24))))
    good = encode_request(op, payload, spec)
    kind = rng.choice(
        ["good", "bad-crc", "flip", "truncated", "too-long", "unknown", "bad-length",
         "garbage", "garbage-sync", "prefix-garbage", "two-frames"]
    )  # fmt: skip
    if kind == "good":
        return kind, good
    if kind == "bad-crc":
        k = rng.randrange(1, len(good))  # any byte after sync
        return kind, good[:k] + bytes([good[k] ^ (1 << rng.randrange(8))]) + good[k + 1 :]
    if kind == "flip":
        k = rng.randrange(len(good))
        return kind, good[:k] + bytes([rng.randrange(256)]) + good[k + 1 :]
    if kind == "truncated":
        return kind, good[: rng.randrange(1, len(good))]
    if kind == "too-long":
        length = rng.randint(spec.max_payload + 1, 0xFFFF)
        head = bytes([spec.sync, op]) + length.to_bytes(2, "little")
        return kind, head + bytes(rng.randrange(256) for _ in range(rng.randint(0, 30)))
    if kind == "unknown":
        bad = rng.choice([b for b in range(256) if b not in lengths])
        return kind, encode_request(bad, payload[: spec.max_payload], spec)
    if kind == "bad-length":
        wrong = [n for n in range(0, 30) if not lo <= n <= hi]
        body = bytes(rng.randrange(256) for _ in range(rng.choice(wrong)))
        return kind, encode_request(op, body, spec)
    if kind == "garbage":
        return kind, bytes(rng.choice([b for b in range(256) if b != spec.sync])
                           for _ in range(rng.randint(1, 30)))  # fmt: skip
    if kind == "garbage-sync":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randint(1, 30))) + bytes(
            [spec.sync]
        )
    if kind == "prefix-garbage":
        junk = bytes(rng.choice([b for b in range(256) if b != spec.sync]) for _ in range(5))
        return kind, junk + good
    return kind, good + encode_request(op, payload, spec)  # two-frames


def test_fuzz_1200_random_and_malformed_frames() -> None:
    """Every burst gives exactly what the model says (a good frame, a refusal, or
    nothing), with random back-pressure; nothing wedges: each burst is followed by a
    good frame often, and the very last burst is a good frame that must come out."""
    rng = random.Random(2026)
    dut = FrameReceiver(SMALL, timeout_cycles=8)
    kinds: list[str] = []
    bursts: list[bytes] = []
    for _ in range(1200):
        kind, burst = malformed(rng, SMALL)
        kinds.append(kind)
        bursts.append(burst)
        if rng.random() < 0.3:
            kinds.append("good")
            bursts.append(frame(Opcode.READ_STATUS, b"", SMALL))
    kinds.append("final")
    bursts.append(frame(Opcode.SET_SEED, b"\xff" * 8, SMALL))

    events = run_receiver(dut, bursts, rng, stall=0.2)

    want = [expected(b, SMALL) for b in bursts]
    mismatches = [(k, b.hex(), e, w) for k, b, e, w in zip(kinds, bursts, events, want,
                                                           strict=True) if e != w]  # fmt: skip
    assert mismatches == [], mismatches[:5]
    assert events[-1] == [Frame(Opcode.SET_SEED, b"\xff" * 8)]
    # Every kind of stimulus happened often, and every refusal status was seen.
    assert min(Counter(kinds).values()) >= 1 and len(Counter(kinds)) == 12
    assert all(n >= 60 for k, n in Counter(kinds).items() if k != "final")
    statuses = Counter(e.status for es in events for e in es if isinstance(e, Refusal))
    for status in (Status.BAD_CRC, Status.UNKNOWN_OPCODE, Status.TOO_LONG, Status.TIMEOUT,
                   Status.BAD_LENGTH):  # fmt: skip
        assert statuses[status] >= 30, statuses
    n_frames = sum(isinstance(e, Frame) for es in events for e in es)
    assert n_frames >= 400


# --- the sender --------------------------------------------------------------------------


def run_sender(
    dut: FrameSender,
    responses: list[tuple[int, int, bytes]],
    errors: list[tuple[int, int]],
    rng: random.Random,
    stall: float,
) -> bytes:
    """Offer ``responses`` on ``i`` and ``errors`` on ``err`` concurrently, with stalls
    on every stream; return the bytes sent."""
    out = bytearray()
    n_bytes = sum(dut.spec.response_bytes(len(p)) for _, _, p in responses)
    n_bytes += len(errors) * dut.spec.response_bytes(0)

    async def responder(ctx: Any) -> None:
        for status, opcode, payload in responses:
            for k in range(max(len(payload), 1)):
                while rng.random() < stall:
                    await ctx.tick()
                ctx.set(dut.i.payload.status, status)
                ctx.set(dut.i.payload.opcode, opcode)
                ctx.set(dut.i.payload.length, len(payload))
                ctx.set(dut.i.payload.data, payload[k] if payload else 0xEE)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
                ctx.set(dut.i.valid, 0)

    async def refuser(ctx: Any) -> None:
        for status, opcode in errors:
            while rng.random() < 0.9:
                await ctx.tick()
            ctx.set(dut.err.payload.status, status)
            ctx.set(dut.err.payload.opcode, opcode)
            ctx.set(dut.err.valid, 1)
            await ctx.tick().until(dut.err.ready)
            ctx.set(dut.err.valid, 0)

    async def line(ctx: Any) -> None:
        while len(out) < n_bytes:
            ready = rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            _, _, valid, byte = await ctx.tick().sample(dut.o.valid, raw(dut.o.payload))
            if ready and valid:
                out.append(byte)
        ctx.set(dut.o.ready, 1)
        for _ in range(20):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "more bytes than the frames hold"

    run(dut, responder, refuser, line, deadline_cycles=20 * n_bytes + 500)
    return bytes(out)


def split_frames(data: bytes, spec: LinkSpec) -> list[bytes]:
    frames, k = [], 0
    while k < len(data):
        n = spec.response_bytes(int.from_bytes(data[k + 3 : k + 5], "little"))
        frames.append(data[k : k + n])
        k += n
    return frames


def test_sender_frames_match_the_host_encoder() -> None:
    rng = random.Random(5)
    responses = [
        (Status.OK, Opcode.IDENTIFY, bytes(range(21))),
        (Status.OK, Opcode.SET_SEED, b""),
        (Status.BAD_ARGUMENT, Opcode.SET_SEED, b""),
        (Status.OK, Opcode.READ_WORDS, bytes(rng.randrange(256) for _ in range(SPEC.max_payload))),
        (Status.OK, Opcode.READ_RESULTS, bytes([SPEC.sync]) * 3),
    ]
    data = run_sender(FrameSender(SPEC), responses, [], rng, stall=0.4)
    assert data == b"".join(encode_response(s, o, p, SPEC) for s, o, p in responses)


def test_sender_interleaves_refusals_between_whole_frames() -> None:
    rng = random.Random(6)
    responses = [(Status.OK, Opcode.READ_WORDS, bytes(range(n))) for n in (0, 1, 7, 40, 3)]
    errors = [(Status.BAD_CRC, 0x07), (Status.TIMEOUT, 0x00), (Status.TOO_LONG, 0x03)]
    data = run_sender(FrameSender(SPEC), responses, errors, rng, stall=0.3)
    decoded = [decode_response(f, SPEC) for f in split_frames(data, SPEC)]
    got_responses = [(r.status, r.opcode, r.payload) for r in decoded if r.status == Status.OK]
    got_errors = [(r.status, r.opcode) for r in decoded if r.status != Status.OK]
    assert got_responses == responses
    assert got_errors == errors
    assert all(r.payload == b"" for r in decoded if r.status != Status.OK)


@pytest.mark.parametrize(
    "spec",
    [
        LinkSpec(crc_width=8, crc_polynomial=0x07, crc_initial=0),  # CRC-8/SMBUS
        LinkSpec(crc_reflect=True, crc_initial=0),  # CRC-16/KERMIT, sent LSB first
        LinkSpec(crc_width=32, crc_polynomial=0x04C11DB7, crc_initial=0xFFFFFFFF,
                 crc_reflect=True, crc_xor_output=0xFFFFFFFF),  # CRC-32/ISO-HDLC
    ],
    ids=["crc8", "crc16-kermit", "crc32"],
)  # fmt: skip
def test_other_crcs_round_trip(spec: LinkSpec) -> None:
    """The CRC is the spec's, not a hard-wired one: sender and receiver agree with the
    host for other widths and reflection."""
    rng = random.Random(spec.crc_width)
    payload = bytes(rng.randrange(256) for _ in range(11))
    data = run_sender(FrameSender(spec), [(Status.OK, 0x04, payload)], [], rng, 0.2)
    assert data == encode_response(Status.OK, 0x04, payload, spec)
    dut = FrameReceiver(spec, timeout_cycles=TIMEOUT)
    good = encode_request(Opcode.STORE_CODES, payload, spec)
    bad = good[:-1] + bytes([good[-1] ^ 0x10])
    events = run_receiver(dut, [good, bad], rng)
    assert events == [[Frame(Opcode.STORE_CODES, payload)], [Refusal(Status.BAD_CRC, 3)]]


# --- the whole link over the bit-level UART ------------------------------------------------


def test_host_link_end_to_end_over_the_uart() -> None:
    """Frames from the host encoder go in on ``rx`` bit by bit; an echo handler answers
    each with its payload reversed; a corrupted frame is answered BAD_CRC and counted."""
    clk_hz, spec = 12_000_000, LinkSpec(baud=3_000_000, timeout_us=20)
    dut = HostLink(spec, clk_hz=clk_hz, timeout_cycles=100)
    cpb = dut.clocks_per_bit
    requests = [
        (Opcode.IDENTIFY, b""),
        (Opcode.SET_SEED, (0x12345678).to_bytes(8, "little")),
        (Opcode.STORE_CODES, bytes(range(30))),
    ]
    bad = bytearray(encode_request(Opcode.READ_STATUS, b"", spec))
    bad[-1] ^= 0xFF
    answers: list[bytes] = []
    handled: list[tuple[int, bytes]] = []

    async def host(ctx: Any) -> None:
        await ctx.tick().repeat(5)
        for opcode, payload in requests:
            await uart_model.send(ctx, dut.rx, encode_request(opcode, payload, spec), cpb)
            n = spec.response_bytes(len(payload))
            answers.append(await uart_model.receive(ctx, dut.tx, n, cpb, deadline=10**5))
        await uart_model.send(ctx, dut.rx, bytes(bad), cpb)
        n = spec.response_bytes(0)
        answers.append(await uart_model.receive(ctx, dut.tx, n, cpb, deadline=10**5))
        await ctx.tick().repeat(5)
        assert ctx.get(dut.errors) == 1
        ctx.set(dut.clear_errors, 1)
        await ctx.tick()
        ctx.set(dut.clear_errors, 0)
        await ctx.tick()
        assert ctx.get(dut.errors) == 0

    async def echo(ctx: Any) -> None:
        while True:
            payload = bytearray()
            ctx.set(dut.cmd.ready, 1)
            while True:
                _, _, valid, beat = await ctx.tick().sample(dut.cmd.valid, dut.cmd.payload)
                if valid:
                    if beat.length:
                        payload.append(beat.data)
                    if beat.last:
                        break
            ctx.set(dut.cmd.ready, 0)
            handled.append((beat.opcode, bytes(payload)))
            reply = bytes(reversed(payload))
            for k in range(max(len(reply), 1)):
                ctx.set(dut.rsp.payload.status, Status.OK)
                ctx.set(dut.rsp.payload.opcode, beat.opcode)
                ctx.set(dut.rsp.payload.length, len(reply))
                ctx.set(dut.rsp.payload.data, reply[k] if reply else 0)
                ctx.set(dut.rsp.valid, 1)
                await ctx.tick().until(dut.rsp.ready)
            ctx.set(dut.rsp.valid, 0)

    run(dut, host, monitors=(echo,), deadline_cycles=40_000)
    assert handled == [(int(op), p) for op, p in requests]
    decoded = [decode_response(a, spec) for a in answers]
    assert [(r.status, r.opcode, r.payload) for r in decoded] == [
        *((Status.OK, op, bytes(reversed(p))) for op, p in requests),
        (Status.BAD_CRC, Opcode.READ_STATUS, b""),
    ]


@pytest.mark.parametrize("embedded", [False, True], ids=["plain", "frame-in-payload"])
def test_corrupted_sync_never_runs_payload_bytes(embedded: bool) -> None:
    """A request whose sync byte arrives with a bad stop bit gets exactly one answer,
    FRAMING, and none of its bytes run as a command, even when its payload holds a
    complete valid frame (a READ_STATUS here); the next good request is served."""
    clk_hz, spec = 12_000_000, LinkSpec(baud=3_000_000, timeout_us=20)
    dut = HostLink(spec, clk_hz=clk_hz, timeout_cycles=100)
    cpb = dut.clocks_per_bit
    inner = encode_request(Opcode.READ_STATUS, b"", spec)
    payload = (b"\x00" + inner + b"\x00") if embedded else bytes(range(12))
    request = encode_request(Opcode.LOAD_WEIGHTS, payload, spec)
    assert (inner in request) == embedded
    good = encode_request(Opcode.IDENTIFY, b"", spec)
    answers: list[bytes] = []
    handled: list[int] = []

    async def host(ctx: Any) -> None:
        await ctx.tick().repeat(5)
        await uart_model.send(ctx, dut.rx, request, cpb, bad_stop=frozenset({0}))
        answers.append(
            await uart_model.receive(ctx, dut.tx, spec.response_bytes(0), cpb, deadline=10**5)
        )
        await ctx.tick().repeat(50 * cpb)  # nothing more comes back
        assert ctx.get(dut.tx) == 1
        await uart_model.send(ctx, dut.rx, good, cpb)
        answers.append(
            await uart_model.receive(ctx, dut.tx, spec.response_bytes(0), cpb, deadline=10**5)
        )

    async def handler(ctx: Any) -> None:
        while True:
            ctx.set(dut.cmd.ready, 1)
            _, _, valid, beat = await ctx.tick().sample(dut.cmd.valid, dut.cmd.payload)
            if not (valid and beat.last):
                continue
            ctx.set(dut.cmd.ready, 0)
            handled.append(int(beat.opcode))
            ctx.set(dut.rsp.payload.status, Status.OK)
            ctx.set(dut.rsp.payload.opcode, beat.opcode)
            ctx.set(dut.rsp.payload.length, 0)
            ctx.set(dut.rsp.valid, 1)
            await ctx.tick().until(dut.rsp.ready)
            ctx.set(dut.rsp.valid, 0)

    run(dut, host, monitors=(handler,), deadline_cycles=60_000)
    decoded = [decode_response(a, spec) for a in answers]
    assert [(r.status, r.opcode) for r in decoded] == [
        (Status.FRAMING, 0),
        (Status.OK, Opcode.IDENTIFY),
    ]
    assert handled == [int(Opcode.IDENTIFY)]


# --- construction ----------------------------------------------------------------------


def test_signatures_and_defaults() -> None:
    rcv = FrameReceiver(timeout_cycles=10)
    snd = FrameSender()
    link = HostLink(clk_hz=100_000_000)
    assert rcv.spec == snd.spec == link.spec == LinkSpec()
    assert rcv.commands == LinkSpec().request_lengths()
    assert link.timeout_cycles == 1_000_000  # 10 ms at 100 MHz
    assert link.clocks_per_bit == 868
    assert set(link.signature.members) == {"rx", "tx", "cmd", "rsp", "errors", "clear_errors"}
    assert isinstance(link.signature, wiring.Signature)
    m = Module()
    m.submodules += [rcv, snd, link]
    Fragment.get(m, None)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: FrameReceiver(timeout_cycles=0), ValueError,
         r"^timeout_cycles must be in 1\.\.4294967296, not 0$"),
        (lambda: FrameReceiver(timeout_cycles=True), TypeError,
         r"^timeout_cycles must be an integer, not True$"),
        (lambda: FrameReceiver(timeout_cycles=5, commands={1: (0, 2000)}), ValueError,
         r"^commands must map opcodes 0\.\.255 to \(lo, hi\) lengths with 0 <= lo <= hi <= "
         r"max_payload=1024, not 1: \(0, 2000\)$"),
        (lambda: FrameReceiver(timeout_cycles=5, commands={256: (0, 0)}), ValueError,
         r"^commands must map opcodes"),
        (lambda: FrameReceiver("spec", timeout_cycles=5), TypeError,
         r"^spec must be a LinkSpec, not 'spec'$"),
        (lambda: FrameSender(SPEC.as_dict()), TypeError, r"^spec must be a LinkSpec, not \{"),
        (lambda: HostLink(clk_hz=300_000), ValueError,
         r"^baud 115200 needs at least 4 clocks per bit; a 300000 Hz clock gives 2\.60$"),
    ],
    ids=["timeout-0", "timeout-bool", "commands-long", "commands-opcode", "rcv-spec",
         "snd-spec", "link-clock"],
)  # fmt: skip
def test_bad_parameters(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()

# amaranth: UnusedElaboratable=no
"""UartRx and UartTx (hw/uart.py) against the bit-level UART model in uart_model.py, at
several clock/baud ratios: back-to-back bytes, a sender off by a few percent, framing
errors, glitches, overrun, and the two joined in a loopback."""

from __future__ import annotations

import random
from typing import Any

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import wiring

from hw.uart import UartRx, UartTx

from . import uart_model
from .streams import consume, produce, run

# (clk_hz, baud): 4 clocks per bit (iCEBreaker 12 MHz at 3 Mbaud), 5, 16, 33 (Arty's
# 100 MHz at 3 Mbaud, 1 % off) and 868 (Arty at the default 115200 baud).
RATIOS = [
    (12_000_000, 3_000_000),
    (15_000_000, 3_000_000),
    (1_843_200, 115_200),
    (100_000_000, 3_000_000),
    (100_000_000, 115_200),
]
IDS = ["cpb4", "cpb5", "cpb16", "cpb33", "cpb868"]


def _count_pulses(dut: UartRx, counts: dict[str, int]) -> uart_model.Testbench:
    async def monitor(ctx: Any) -> None:
        async for _, _, fe, ov in ctx.tick().sample(dut.framing_error, dut.overrun):
            counts["framing_error"] += fe
            counts["overrun"] += ov

    return monitor


def _listen(
    dut: UartRx, sender: uart_model.Testbench, deadline_cycles: int
) -> tuple[list[int], dict[str, int]]:
    """Run ``sender`` against ``dut`` with an always-ready reader; the bytes that came
    out and the framing-error and overrun pulse counts."""
    counts = {"framing_error": 0, "overrun": 0}
    got: list[int] = []

    async def reader(ctx: Any) -> None:
        ctx.set(dut.o.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(dut.o.valid, dut.o.payload):
            if valid:
                got.append(payload)

    run(dut, sender, monitors=(reader, _count_pulses(dut, counts)), deadline_cycles=deadline_cycles)
    return got, counts


def _receive(
    dut: UartRx, data: bytes, period: float, *, expect: bytes, **send_kw: Any
) -> dict[str, int]:
    """Send ``data`` from the model at ``period`` cycles per bit into ``dut`` (always
    ready); assert exactly ``expect`` comes out; return the pulse counts."""

    async def sender(ctx: Any) -> None:
        await ctx.tick().repeat(3)
        await uart_model.send(ctx, dut.rx, data, period, **send_kw)
        await ctx.tick().repeat(3 * dut.clocks_per_bit)  # let a last byte come out

    cycles = int(12 * period * (len(data) + 2)) + 100
    got, counts = _listen(dut, sender, cycles)
    assert bytes(got) == expect
    return counts


@pytest.mark.parametrize(("clk_hz", "baud"), RATIOS, ids=IDS)
def test_rx_back_to_back(clk_hz: int, baud: int) -> None:
    dut = UartRx(clk_hz=clk_hz, baud=baud)
    n = 3 if dut.clocks_per_bit > 100 else 24
    rng = random.Random(clk_hz ^ baud)
    data = bytes([0x00, 0xFF, 0x55, *(rng.randrange(256) for _ in range(n - 3))])
    counts = _receive(dut, data, dut.clocks_per_bit, expect=data)
    assert counts == {"framing_error": 0, "overrun": 0}


@pytest.mark.parametrize("skew", [-0.04, 0.04])
def test_rx_tolerates_a_sender_off_by_4_percent(skew: float) -> None:
    dut = UartRx(clk_hz=1_600_000, baud=100_000)  # 16 clocks per bit
    data = bytes(random.Random(7).randrange(256) for _ in range(20))
    _receive(dut, data, 16 * (1 + skew), expect=data)


def test_rx_framing_error_drops_the_byte_and_recovers() -> None:
    dut = UartRx(clk_hz=1_600_000, baud=100_000)
    data = bytes([0x12, 0x34, 0x56, 0x78])
    counts = _receive(dut, data, 16, expect=bytes([0x12, 0x56, 0x78]), bad_stop={1}, gap_bits=1)
    assert counts == {"framing_error": 1, "overrun": 0}


def test_rx_waits_out_a_break() -> None:
    """A line held low for several bytes gives one framing error, then works again."""
    dut = UartRx(clk_hz=1_600_000, baud=100_000)

    async def sender(ctx: Any) -> None:
        await ctx.tick().repeat(3)
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(16 * 35)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(16)
        await uart_model.send(ctx, dut.rx, b"\xa5", 16)
        await ctx.tick().repeat(48)

    got, counts = _listen(dut, sender, 2000)
    assert got == [0xA5]
    assert counts == {"framing_error": 1, "overrun": 0}


def test_rx_ignores_a_glitch() -> None:
    """A low pulse shorter than half a bit starts nothing."""
    dut = UartRx(clk_hz=1_600_000, baud=100_000)

    async def sender(ctx: Any) -> None:
        await ctx.tick().repeat(3)
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(5)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(16 * 12)
        await uart_model.send(ctx, dut.rx, b"\x3c", 16)
        await ctx.tick().repeat(48)

    got, counts = _listen(dut, sender, 1000)
    assert got == [0x3C]
    assert counts == {"framing_error": 0, "overrun": 0}


def test_rx_overrun_keeps_the_first_byte() -> None:
    dut = UartRx(clk_hz=1_600_000, baud=100_000)
    counts = {"framing_error": 0, "overrun": 0}
    got: list[int] = []

    async def sender(ctx: Any) -> None:
        await ctx.tick().repeat(3)
        await uart_model.send(ctx, dut.rx, b"\x11\x22\x33", 16)
        await ctx.tick().repeat(48)
        # Nobody took a byte so far: the first is held, the other two were dropped.
        got.extend(await consume(ctx, dut.o, 1, random.Random(0), stall=0.0))
        await ctx.tick().repeat(4)
        assert ctx.get(dut.o.valid) == 0

    run(dut, sender, monitors=(_count_pulses(dut, counts),), deadline_cycles=1000)
    assert got == [0x11]
    assert counts == {"framing_error": 0, "overrun": 2}


@pytest.mark.parametrize(("clk_hz", "baud"), RATIOS, ids=IDS)
def test_tx_sends_with_stalls(clk_hz: int, baud: int) -> None:
    dut = UartTx(clk_hz=clk_hz, baud=baud)
    cpb = dut.clocks_per_bit
    rng = random.Random(clk_hz + baud)
    data = bytes(rng.randrange(256) for _ in range(3 if cpb > 100 else 20))
    got: list[bytes] = []

    async def producer(ctx: Any) -> None:
        assert await produce(ctx, dut.i, list(data), rng, stall=0.3) == len(data)

    async def line(ctx: Any) -> None:
        got.append(await uart_model.receive(ctx, dut.tx, len(data), cpb, deadline=10**7))

    deadline = 12 * cpb * len(data) + 20 * len(data) + 100
    run(dut, producer, line, deadline_cycles=deadline)
    assert got == [data]


def test_tx_back_to_back_is_exactly_the_line_rate() -> None:
    """A continuous stream gives exactly the 8N1 waveform, each bit 5 cycles, no idle
    between bytes, and the first start bit in the cycle after the first handshake."""
    dut = UartTx(clk_hz=500_000, baud=100_000)  # 5 clocks per bit
    data = bytes(range(0, 256, 37))
    wave: list[int] = []

    async def producer(ctx: Any) -> None:
        assert await produce(ctx, dut.i, list(data), random.Random(0), stall=0.0) == len(data)

    async def watch(ctx: Any) -> None:
        async for _, _, tx in ctx.tick().sample(dut.tx):
            wave.append(tx)

    async def line(ctx: Any) -> None:
        assert await uart_model.receive(ctx, dut.tx, len(data), 5, deadline=10**5) == data

    run(dut, producer, line, monitors=(watch,), deadline_cycles=1000)
    expected = [level for byte in data for level in uart_model.frame_bits(byte) for _ in range(5)]
    start = wave.index(0)
    assert start == 1
    assert wave[start : start + len(expected)] == expected
    assert set(wave[start + len(expected) :]) == {1}


@pytest.mark.parametrize("baud", [3_000_000, 1_000_000])
def test_loopback(baud: int) -> None:
    """UartTx's line into UartRx, random stalls on both streams."""
    m = Module()
    m.submodules.tx = tx = UartTx(clk_hz=12_000_000, baud=baud)
    m.submodules.rx = rx = UartRx(clk_hz=12_000_000, baud=baud)
    m.d.comb += rx.rx.eq(tx.tx)
    rng = random.Random(baud)
    data = [rng.randrange(256) for _ in range(40)]
    got: list[list[int]] = []

    async def producer(ctx: Any) -> None:
        assert await produce(ctx, tx.i, data, rng, stall=0.5) == len(data)

    async def consumer(ctx: Any) -> None:
        # Stalls shorter than a byte time never overrun the receiver.
        got.append(await consume(ctx, rx.o, len(data), rng, stall=0.5))

    cycles = 12 * tx.clocks_per_bit * len(data) * 3
    run(m, producer, consumer, deadline_cycles=cycles)
    assert got == [data]


def test_signatures() -> None:
    rx, tx = UartRx(clk_hz=12_000_000, baud=115_200), UartTx(clk_hz=12_000_000, baud=115_200)
    assert rx.clocks_per_bit == tx.clocks_per_bit == 104
    assert isinstance(rx.signature, wiring.Signature)
    assert set(rx.signature.members) == {"rx", "o", "framing_error", "overrun", "active"}
    assert set(tx.signature.members) == {"i", "tx"}
    for dut in (rx, tx):  # elaborated, so Amaranth does not warn that they went unused
        Fragment.get(dut, None)


@pytest.mark.parametrize("cls", [UartRx, UartTx])
@pytest.mark.parametrize(
    ("clk_hz", "baud", "error", "message"),
    [
        (100_000_000, 3_000_001, ValueError, r"^baud must be in 300\.\.3000000, not 3000001$"),
        (100_000_000, 299, ValueError, r"^baud must be in 300\.\.3000000, not 299$"),
        (10_000_000, 3_000_000, ValueError,
         r"^baud 3000000 needs at least 4 clocks per bit; a 10000000 Hz clock gives 3\.33$"),
        (11_000_000, 2_000_000, ValueError,
         r"^baud 2000000 from a 11000000 Hz clock is 1833333 at 6 clocks per bit, "
         r"more than 2 % off$"),
        (0, 115_200, ValueError, r"^clk_hz must be at least 1, not 0$"),
        (100e6, 115_200, TypeError, r"^clk_hz must be an integer, not 100000000\.0$"),
    ],
)  # fmt: skip
def test_bad_parameters(
    cls: type, clk_hz: Any, baud: int, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        cls(clk_hz=clk_hz, baud=baud)

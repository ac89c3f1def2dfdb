"""A bit-level 8N1 UART for Amaranth-simulator testbenches: drives and reads a serial
line clock by clock, independently of the gateware under test.

The sender may run at a period that is not a whole number of clocks (``period`` is a
float) to model the other end's clock being off; bit ``k`` of the line then starts at
``round(k * period)`` cycles.
"""

from __future__ import annotations

from typing import Any


def frame_bits(byte: int, *, stop: int = 1) -> list[int]:
    """The 10 line levels of ``byte``: start bit, data LSB first, stop bit."""
    assert 0 <= byte < 256
    return [0, *((byte >> i) & 1 for i in range(8)), stop]


async def send(
    ctx: Any,
    line: Any,
    data: bytes,
    period: float,
    *,
    gap_bits: float = 0.0,
    bad_stop: frozenset[int] = frozenset(),
) -> None:
    """Drive ``data`` on ``line`` (left high afterwards), ``period`` cycles per bit.

    ``gap_bits`` idle bit times go between bytes; bytes whose index is in ``bad_stop``
    get a low stop bit (a framing error).
    """
    levels: list[int] = []
    for n, byte in enumerate(data):
        levels += frame_bits(byte, stop=0 if n in bad_stop else 1)
        levels += [1] * round(gap_bits) if n + 1 < len(data) else []
    cycle = 0
    for k, level in enumerate(levels):
        ctx.set(line, level)
        end = round((k + 1) * period)
        await ctx.tick().repeat(end - cycle)
        cycle = end
    ctx.set(line, 1)


async def receive(ctx: Any, line: Any, n: int, period: int, *, deadline: int) -> bytes:
    """Read ``n`` bytes from ``line`` at ``period`` cycles per bit, sampling each bit in
    its middle and asserting the start and stop bits.

    Raises ``AssertionError`` if ``deadline`` cycles pass before the ``n``-th byte.
    """
    out = bytearray()
    waited = 0
    while len(out) < n:
        # Wait for the start bit's falling edge.
        while ctx.get(line):
            await ctx.tick()
            waited += 1
            assert waited < deadline, f"only {len(out)} of {n} bytes within {deadline} cycles"
        await ctx.tick().repeat(period // 2)
        assert ctx.get(line) == 0, "start bit did not last to its middle"
        byte = 0
        for i in range(8):
            await ctx.tick().repeat(period)
            byte |= ctx.get(line) << i
        await ctx.tick().repeat(period)
        assert ctx.get(line) == 1, f"byte {len(out)} ({byte:#04x}) has a low stop bit"
        out.append(byte)
        waited += 10 * period
    return bytes(out)

"""8N1 UART receiver and transmitter with byte streams (the Arty's USB serial, SPEC 9)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spec.protocol import clocks_per_bit

__all__ = ["UartRx", "UartTx"]


class UartRx(wiring.Component):
    """8N1 UART receiver: the serial line in, one byte per stream beat out.

    The line passes a two-flip-flop synchronizer (it is asynchronous to the clock).
    A low level seen while idle starts a byte; the start bit is checked again at its
    middle (a shorter low pulse is a glitch and is ignored), then each data bit, LSB
    first, and the stop bit are sampled at their middles, ``clocks_per_bit`` cycles
    apart. The receiver is idle again at the middle of the stop bit, so back-to-back
    bytes and a sender up to about 5 % fast are received.

    Latency: a byte is on ``o`` 3 cycles after the middle of its stop bit reaches
    ``rx`` (2 synchronizer cycles plus the output register); throughput: one byte per
    ``10 * clocks_per_bit`` cycles, the line rate. ``o`` holds one byte: a byte
    completed while the previous one is still not taken is dropped and ``overrun``
    pulses. A byte whose stop bit is low is dropped and ``framing_error`` pulses; the
    receiver then waits for the line to go high (a break) before looking for a start.

    Parameters
    ----------
    clk_hz : int
        Clock frequency.
    baud : int
        Line rate, 300..3_000_000, giving at least 4 clocks per bit within 2 %
        (:func:`spec.protocol.clocks_per_bit`).

    Attributes
    ----------
    rx : In(1, init=1)
        Serial line, idle high.
    o : Out(stream.Signature(8))
        Received bytes.
    framing_error : Out(1)
        One-cycle pulse: a byte with a low stop bit was dropped.
    overrun : Out(1)
        One-cycle pulse: a byte was dropped because ``o`` was still full.
    active : Out(1)
        The synchronized line is low (a start bit, a 0 data bit or a break): the line is
        in use, whether or not its bytes are well framed.
    clocks_per_bit : int
        Cycles per bit (not a port).

    Raises
    ------
    ValueError
        A baud out of range or that ``clk_hz`` cannot make (too fast, too far off).
    """

    def __init__(self, *, clk_hz: int, baud: int):
        self.clocks_per_bit = clocks_per_bit(clk_hz, baud)
        super().__init__(
            {
                "rx": In(1, init=1),
                "o": Out(stream.Signature(8)),
                "framing_error": Out(1),
                "overrun": Out(1),
                "active": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cpb = self.clocks_per_bit
        meta = Signal(init=1)
        line = Signal(init=1)  # synchronized serial line
        m.d.sync += [meta.eq(self.rx), line.eq(meta)]
        m.d.comb += self.active.eq(~line)

        timer = Signal(range(cpb))
        bit = Signal(range(8))
        shreg = Signal(8)
        expired = Signal()
        m.d.comb += expired.eq(timer == 0)
        with m.If(~expired):
            m.d.sync += timer.eq(timer - 1)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # The start edge fell between the previous sample and this one;
                    # (cpb - 3) // 2 + 1 more cycles land within a cycle of mid-bit.
                    m.d.sync += timer.eq(max(0, (cpb - 3) // 2))
                    m.next = "START"
            with m.State("START"):
                with m.If(expired):
                    m.d.sync += [timer.eq(cpb - 1), bit.eq(0)]
                    with m.If(line):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(expired):
                    m.d.sync += [
                        timer.eq(cpb - 1),
                        shreg.eq(Cat(shreg[1:], line)),
                        bit.eq(bit + 1),
                    ]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(expired):
                    with m.If(line):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """8N1 UART transmitter: one byte per stream beat in, the serial line out.

    A byte accepted in cycle ``t`` starts its start bit on ``tx`` in cycle ``t + 1``;
    then 8 data bits LSB first and one stop bit, each ``clocks_per_bit`` cycles. The
    next byte is accepted in the last cycle of the stop bit, so a continuous stream
    leaves the line at exactly one byte per ``10 * clocks_per_bit`` cycles. ``tx`` is
    a register (no glitches on the pin).

    Parameters
    ----------
    clk_hz, baud : int
        As :class:`UartRx`.

    Attributes
    ----------
    i : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1, init=1)
        Serial line, idle high.
    clocks_per_bit : int
        Cycles per bit (not a port).

    Raises
    ------
    ValueError
        As :class:`UartRx`.
    """

    def __init__(self, *, clk_hz: int, baud: int):
        self.clocks_per_bit = clocks_per_bit(clk_hz, baud)
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cpb = self.clocks_per_bit
        timer = Signal(range(cpb))
        left = Signal(range(11))  # bit periods left, the current one included
        shreg = Signal(9, init=0x1FF)  # data bits then the stop bit, shifting in ones
        expired = Signal()
        m.d.comb += [
            expired.eq(timer == 0),
            self.i.ready.eq((left == 0) | ((left == 1) & expired)),
        ]
        with m.If(left != 0):
            with m.If(expired):
                m.d.sync += [
                    timer.eq(cpb - 1),
                    left.eq(left - 1),
                    self.tx.eq(shreg[0]),
                    shreg.eq(Cat(shreg[1:], 1)),
                ]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                self.tx.eq(0),
                shreg.eq(Cat(self.i.payload, 1)),
                left.eq(10),
                timer.eq(cpb - 1),
            ]
        return m

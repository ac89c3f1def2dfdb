"""READ_WORDS: words of the activation SRAM (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spec import DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["ReadWords"]


class ReadWords(Command):
    """Answers ``n`` words from ``addr``, each ``word_bytes`` little-endian bytes.
    Refused with ``BAD_ARGUMENT`` if they are not all written or do not fit one
    answer. One byte per cycle, plus a cycle per word to read it.

    Attributes
    ----------
    rd_addr : Out(range(depth))
        The SRAM's read address; ``rd_data`` (In) the word there, a cycle later.
    count : In
        Words written to the SRAM.
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(
            Opcode.READ_WORDS,
            device,
            {"rd_addr": Out(range(device.depth)), "rd_data": In(device.word_bits),
             "count": In(range(device.depth + 1))},
        )  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        size = self.device.word_bytes
        addr, n = self.fields.addr, self.fields.n
        ptr = Signal(range(self.device.depth + 1))
        items = Signal(16)  # words still to send
        sub = Signal(range(max(size, 2)))  # byte within the word
        m.d.comb += self.rd_addr.eq(ptr)
        with m.FSM():
            with m.State("IDLE"):
                wiring.connect(m, reply.o, wiring.flipped(self.o))
                with m.If(self.start):
                    with m.If((addr + n > self.count) | (n > self.device.link.max_payload // size)):
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Elif(n == 0):
                        answer(m, reply, Status.OK)
                    with m.Else():
                        m.d.sync += [ptr.eq(addr), items.eq(n), sub.eq(0)]
                        m.next = "FETCH"
            with m.State("FETCH"):  # the word at `ptr` is on rd_data next cycle
                m.next = "SEND"
            with m.State("SEND"):
                final = (sub == size - 1) & (items == 1)
                m.d.comb += [
                    self.o.valid.eq(1),
                    self.o.payload.status.eq(Status.OK),
                    self.o.payload.length.eq(n * size),
                    self.o.payload.data.eq(self.rd_data.word_select(sub, 8)),
                    self.o.payload.last.eq(final),
                ]
                with m.If(self.o.ready):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == size - 1):
                        m.d.sync += [sub.eq(0), ptr.eq(ptr + 1), items.eq(items - 1)]
                        m.next = "FETCH"
                        with m.If(items == 1):
                            m.next = "IDLE"
        return m

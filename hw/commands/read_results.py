"""READ_RESULTS: sums from the result FIFO (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In

from spec import DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["ReadResults"]


class ReadResults(Command):
    """Answers up to ``n`` sums, oldest first, as many as are pending and fit one
    answer (``result_bytes`` little-endian two's-complement bytes each); none is an
    empty ``OK``. One byte per cycle.

    Attributes
    ----------
    pop : In(stream.Signature(acc_bits))
        The result FIFO's read side.
    pending : In
        Sums in the FIFO.
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(
            Opcode.READ_RESULTS,
            device,
            {"pop": In(stream.Signature(device.acc_bits)),
             "pending": In(range(device.result_depth + 1))},
        )  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        size = self.device.result_bytes
        n, cap = self.fields.n, self.device.link.max_payload // size
        fewer = Mux(n < self.pending, n, self.pending)
        take = Mux(fewer < cap, fewer, cap)
        items = Signal(16)  # sums still to send, then their count
        length = Signal(16)
        sub = Signal(range(max(size, 2)))
        with m.FSM():
            with m.State("IDLE"):
                wiring.connect(m, reply.o, wiring.flipped(self.o))
                with m.If(self.start):
                    with m.If(take == 0):
                        answer(m, reply, Status.OK)
                    with m.Else():
                        m.d.sync += [items.eq(take), length.eq(take * size), sub.eq(0)]
                        m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [
                    self.o.valid.eq(self.pop.valid),
                    self.o.payload.status.eq(Status.OK),
                    self.o.payload.length.eq(length),
                    self.o.payload.data.eq(self.pop.payload.word_select(sub, 8)),
                    self.o.payload.last.eq((sub == size - 1) & (items == 1)),
                ]
                with m.If(self.o.valid & self.o.ready):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == size - 1):
                        m.d.comb += self.pop.ready.eq(1)
                        m.d.sync += [sub.eq(0), items.eq(items - 1)]
                        with m.If(items == 1):
                            m.next = "IDLE"
        return m

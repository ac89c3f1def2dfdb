"""STORE_CODES: binarize codes into the activation SRAM (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spec import RESPONSES, DeviceSpec, Opcode, Status, StatusFlag, StoreFlag

from .base import Command, Reply, answer, pack
from .gather import CodeGather, code_beat

__all__ = ["StoreCodes"]


class StoreCodes(Command):
    """Streams the tail's codes, ``lanes`` per beat, into the store path: ``CLEAR``
    empties the SRAM first, ``LAST`` marks the final beat (a partial word is written).
    Answers the SRAM's word count, or ``OVERFLOW`` (and raises ``SRAM_OVERFLOW``) if a
    word found it full. A tail of partial beats is refused with ``BAD_LENGTH`` before
    anything changes. One beat every ``lanes * code_bytes + 1`` cycles.

    Attributes
    ----------
    codes : Out(stream.Signature(code_beat(device)))
        Beats to :class:`~hw.store.BinarizeAndStore` (``last`` set on the final beat
        only with ``LAST``).
    clear : Out(1)
        Pulse: empty the SRAM.
    count, overflow : In
        The SRAM's word count and sticky overflow.
    raise_flag : Out(1)
        Pulse: set :attr:`FLAG`.
    """

    FLAG = StatusFlag.SRAM_OVERFLOW

    def __init__(self, device: DeviceSpec):
        super().__init__(
            Opcode.STORE_CODES,
            device,
            {"codes": Out(stream.Signature(code_beat(device))), "clear": Out(1),
             "count": In(range(device.depth + 1)), "overflow": In(1), "raise_flag": Out(1)},
        )  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        layout = RESPONSES[Opcode.STORE_CODES]
        m.submodules.reply = reply = Reply(layout.fixed_bytes)
        m.submodules.gather = gather = CodeGather(self.device)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        beat_bytes = self.device.lanes * self.device.code_bytes
        flags = self.fields.flags
        settle = Signal(2)
        m.d.comb += [
            self.codes.payload.codes.eq(gather.o.payload.codes),
            self.codes.payload.last.eq(gather.o.payload.last & ((flags & StoreFlag.LAST) != 0)),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += settle.eq(0)
                with m.If(self.start):
                    with m.If(self.tail % beat_bytes != 0):
                        answer(m, reply, Status.BAD_LENGTH)
                    with m.Else():
                        m.d.comb += self.clear.eq((flags & StoreFlag.CLEAR) != 0)
                        with m.If(self.rx_done):  # no codes
                            m.next = "SETTLE"
                        with m.Else():
                            m.next = "STREAM"
            with m.State("STREAM"):
                wiring.connect(m, wiring.flipped(self.i), gather.i)
                m.d.comb += [
                    self.codes.valid.eq(gather.o.valid),
                    gather.o.ready.eq(self.codes.ready),
                ]
                with m.If(gather.o.valid & self.codes.ready & gather.o.payload.last):
                    m.next = "SETTLE"
            with m.State("SETTLE"):
                # A beat reaches the SRAM a cycle after the binarizer takes it; `count`
                # and `overflow` show its word one cycle later.
                m.d.sync += settle.eq(settle + 1)
                with m.If(settle == 3):
                    with m.If(self.overflow):
                        m.d.comb += self.raise_flag.eq(1)
                        answer(m, reply, Status.OVERFLOW)
                    with m.Else():
                        answer(m, reply, Status.OK, layout.fixed_bytes,
                               pack(layout, {"count": self.count}))  # fmt: skip
                    m.next = "IDLE"
        return m

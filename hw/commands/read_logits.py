"""READ_LOGITS: the inference engine's last logits (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from spec import LOGIT_BYTES, DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["ReadLogits"]


class ReadLogits(Command):
    """Answers the logits of the last whole image (``LOGIT_BYTES`` little-endian
    two's-complement bytes each, in class order) from the logits buffer; ``BUSY``
    while the engine computes them, ``BAD_ARGUMENT`` when no whole image has been
    loaded since the last was started. One byte per cycle.

    Attributes
    ----------
    logits_rd : In(memory.ReadPort.Signature(...))
        The logits buffer's read port (driven here; 32-bit entries, one per class).
    logits_valid, computing : In(1)
        The buffer holds the last image's logits; the engine is computing them.
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(Opcode.READ_LOGITS, device, self.ports(device))

    @staticmethod
    def ports(device: DeviceSpec) -> dict[str, wiring.Member]:
        """The ports beyond :class:`Command`'s (the dispatcher has them too)."""
        if device.engine is None:
            raise ValueError("READ_LOGITS needs a device with an inference engine")
        classes = device.engine.classes
        port = memory.ReadPort.Signature(addr_width=max(ceil_log2(classes), 1), shape=32)
        return {"logits_rd": In(port), "logits_valid": In(1), "computing": In(1)}

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        classes = self.device.engine.classes
        k = Signal(range(classes + 1))
        sub = Signal(range(LOGIT_BYTES))
        m.d.comb += self.logits_rd.en.eq(1)
        with m.FSM():
            with m.State("IDLE"):
                wiring.connect(m, reply.o, wiring.flipped(self.o))
                m.d.comb += self.logits_rd.addr.eq(0)
                with m.If(self.start):
                    with m.If(self.logits_valid):
                        m.d.sync += [k.eq(0), sub.eq(0)]
                        m.next = "SEND"
                    with m.Elif(self.computing):
                        answer(m, reply, Status.BUSY)
                    with m.Else():
                        answer(m, reply, Status.BAD_ARGUMENT)
            with m.State("SEND"):  # entry k is on the read port's data
                m.d.comb += [
                    self.logits_rd.addr.eq(k),
                    self.o.valid.eq(1),
                    self.o.payload.status.eq(Status.OK),
                    self.o.payload.length.eq(classes * LOGIT_BYTES),
                    self.o.payload.data.eq(self.logits_rd.data.word_select(sub, 8)),
                    self.o.payload.last.eq((k == classes - 1) & (sub == LOGIT_BYTES - 1)),
                ]
                with m.If(self.o.ready):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == LOGIT_BYTES - 1):
                        m.d.comb += self.logits_rd.addr.eq(k + 1)
                        m.d.sync += k.eq(k + 1)
                        with m.If(k == classes - 1):
                            m.next = "IDLE"
        return m

"""LOAD_IMAGE: an image's bytes into the inference engine (``docs/protocol.md``
section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spec import RESPONSES, DeviceSpec, Opcode, Status

from .base import Command, Reply, answer, pack

__all__ = ["LoadImage"]


class LoadImage(Command):
    """Passes the tail's bytes to the engine's pixel stream, from byte ``offset`` of the
    image on. Offset 0 starts a new image: a partly loaded one is dropped (``drop_image``)
    and the last logits are forgotten (``clear_logits``), unless the engine is still
    computing (``BUSY``). Any other offset must be the count the engine holds, and no
    frame may run past the image (``BAD_ARGUMENT``, before any byte is passed on). The
    engine runs the network when it holds the whole image. Answers the count it holds.

    Attributes
    ----------
    pixels : Out(stream.Signature(8))
        To the engine.
    drop_image, clear_logits : Out(1)
        Pulses: drop a partly loaded image; forget the last logits.
    computing : In(1)
        The engine holds a whole image whose logits are not out yet.
    received : Out
        Bytes of the current image passed on.
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(Opcode.LOAD_IMAGE, device, self.ports(device))

    @staticmethod
    def ports(device: DeviceSpec) -> dict[str, wiring.Member]:
        """The ports beyond :class:`Command`'s (the dispatcher has them too)."""
        if device.engine is None:
            raise ValueError("LOAD_IMAGE needs a device with an inference engine")
        return {
            "pixels": Out(stream.Signature(8)),
            "drop_image": Out(1),
            "clear_logits": Out(1),
            "computing": In(1),
            "received": Out(range(device.engine.image_bytes + 1)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        reply_layout = RESPONSES[Opcode.LOAD_IMAGE]
        m.submodules.reply = reply = Reply(reply_layout.fixed_bytes)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        size = self.device.engine.image_bytes
        offset = self.fields.offset
        done = Signal()
        m.d.comb += done.eq(self.i.valid & self.i.ready & self.i.payload.last)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    with m.If((offset == 0) & self.computing):
                        answer(m, reply, Status.BUSY)
                    with m.Elif((offset != 0) & (offset != self.received)):
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Elif(offset + self.tail > size):
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Else():
                        with m.If(offset == 0):
                            m.d.comb += [self.drop_image.eq(1), self.clear_logits.eq(1)]
                            m.d.sync += self.received.eq(0)
                        with m.If(self.rx_done):  # no bytes
                            answer(m, reply, Status.OK, reply_layout.fixed_bytes,
                                   pack(reply_layout, {"received": offset}))  # fmt: skip
                        with m.Else():
                            m.next = "PASS"
            with m.State("PASS"):
                m.d.comb += [
                    self.pixels.valid.eq(self.i.valid),
                    self.pixels.payload.eq(self.i.payload.data),
                    self.i.ready.eq(self.pixels.ready),
                ]
                with m.If(self.i.valid & self.i.ready):
                    m.d.sync += self.received.eq(self.received + 1)
                with m.If(done):
                    m.next = "ANSWER"
            with m.State("ANSWER"):
                answer(m, reply, Status.OK, reply_layout.fixed_bytes,
                       pack(reply_layout, {"received": self.received}))  # fmt: skip
                m.next = "IDLE"
        return m

"""READ_LAYER: the output of the pass the inference engine stopped after
(``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spec import LOGIT_BYTES, DeviceSpec, Opcode, Status
from spec.engine import PEEK_LATENCY

from .base import Command, Reply, answer

__all__ = ["ReadLayer"]


class ReadLayer(Command):
    """Answers ``n`` words of the stopped pass's output from word ``addr``: ``lanes``
    values a word, each ``LOGIT_BYTES`` little-endian two's-complement bytes. ``BUSY``
    while the engine computes; ``BAD_ARGUMENT`` when it is not stopped, or when the
    words run past the output or do not fit one answer. One byte per cycle, plus
    :data:`spec.engine.PEEK_LATENCY` cycles per value to fetch it.

    Attributes
    ----------
    layer : In(16)
        The pass the engine stopped after.
    peek_addr, peek_lane : Out
        The engine's word and lane; ``peek`` (In(signed(32))) the value there,
        ``PEEK_LATENCY`` cycles later.
    stopped, computing : In(1)
        The engine is stopped; it is computing (neither stopped nor done).
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(Opcode.READ_LAYER, device, self.ports(device))

    @staticmethod
    def ports(device: DeviceSpec) -> dict[str, wiring.Member]:
        """The ports beyond :class:`Command`'s (the dispatcher has them too)."""
        if device.engine is None:
            raise ValueError("READ_LAYER needs a device with an inference engine")
        words = max((w for _, w in device.engine.layers), default=1)
        return {
            "layer": In(16),
            "peek_addr": Out(range(words)),
            "peek_lane": Out(range(device.engine.lanes)),
            "peek": In(signed(32)),
            "stopped": In(1),
            "computing": In(1),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        info = self.device.engine
        lanes, word_bytes = info.lanes, info.lanes * LOGIT_BYTES
        addr, n = self.fields.addr, self.fields.n
        words = Signal(range(max(w for _, w in info.layers) + 1))
        with m.Switch(self.layer):
            for index, size in info.layers:
                with m.Case(index):
                    m.d.comb += words.eq(size)
        items = Signal(16)  # words still to send
        wait = Signal(range(PEEK_LATENCY + 1))
        sub = Signal(range(LOGIT_BYTES))
        with m.FSM():
            with m.State("IDLE"):
                wiring.connect(m, reply.o, wiring.flipped(self.o))
                with m.If(self.start):
                    with m.If(self.computing):
                        answer(m, reply, Status.BUSY)
                    with m.Elif(~self.stopped | (addr + n > words)
                                | (n > self.device.link.max_payload // word_bytes)):  # fmt: skip
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Elif(n == 0):
                        answer(m, reply, Status.OK)
                    with m.Else():
                        m.d.sync += [self.peek_addr.eq(addr), self.peek_lane.eq(0),
                                     items.eq(n), sub.eq(0), wait.eq(PEEK_LATENCY)]  # fmt: skip
                        m.next = "FETCH"
            with m.State("FETCH"):  # the value at peek_addr, peek_lane on its way
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 1):
                    m.next = "SEND"
            with m.State("SEND"):
                final = (sub == LOGIT_BYTES - 1) & (self.peek_lane == lanes - 1) & (items == 1)
                m.d.comb += [
                    self.o.valid.eq(1),
                    self.o.payload.status.eq(Status.OK),
                    self.o.payload.length.eq(n * word_bytes),
                    self.o.payload.data.eq(self.peek.word_select(sub, 8)),
                    self.o.payload.last.eq(final),
                ]
                with m.If(self.o.ready):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == LOGIT_BYTES - 1):
                        m.d.sync += [sub.eq(0), self.peek_lane.eq(self.peek_lane + 1),
                                     wait.eq(PEEK_LATENCY)]  # fmt: skip
                        m.next = "FETCH"
                        with m.If(self.peek_lane == lanes - 1):
                            m.d.sync += [self.peek_lane.eq(0), items.eq(items - 1),
                                         self.peek_addr.eq(self.peek_addr + 1)]  # fmt: skip
                            with m.If(items == 1):
                                m.next = "IDLE"
        return m

"""LOAD_WEIGHTS: words into the weight buffer (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2, exact_log2

from spec import DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["LoadWeights"]


class LoadWeights(Command):
    """Writes the tail's words (``word_bytes`` little-endian bytes each) from ``addr``
    on; a word is written as its last byte arrives. A tail of partial words is refused
    with ``BAD_LENGTH``, one that runs past the buffer with ``BAD_ARGUMENT``, both
    before anything is written. One byte per cycle.

    Attributes
    ----------
    weight_wr : In(memory.WritePort.Signature(...))
        The weight buffer's write port (driven here).
    """

    def __init__(self, device: DeviceSpec):
        port = memory.WritePort.Signature(
            addr_width=ceil_log2(device.weight_depth), shape=unsigned(device.word_bits)
        )
        super().__init__(Opcode.LOAD_WEIGHTS, device, {"weight_wr": In(port)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        size, word_bits = self.device.word_bytes, self.device.word_bits
        words = self.tail >> exact_log2(size)
        ptr = Signal(range(self.device.weight_depth + 1))
        word = Signal(word_bits)  # the bytes of the word being received
        sub = Signal(range(max(size, 2)))
        byte = self.i.payload
        m.d.comb += [
            self.weight_wr.addr.eq(ptr),
            self.weight_wr.data.eq(Cat(word[: word_bits - 8], byte.data)),
        ]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    with m.If(self.tail % size != 0):
                        answer(m, reply, Status.BAD_LENGTH)
                    with m.Elif(self.fields.addr + words > self.device.weight_depth):
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Elif(self.rx_done):  # no words
                        answer(m, reply, Status.OK)
                    with m.Else():
                        m.d.sync += [ptr.eq(self.fields.addr), sub.eq(0)]
                        m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [word.word_select(sub, 8).eq(byte.data), sub.eq(sub + 1)]
                    with m.If(sub == size - 1):
                        m.d.comb += self.weight_wr.en.eq(1)
                        m.d.sync += [ptr.eq(ptr + 1), sub.eq(0)]
                    with m.If(byte.last):
                        answer(m, reply, Status.OK)
                        m.next = "IDLE"
        return m

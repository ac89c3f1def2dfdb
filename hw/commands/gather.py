"""Tail bytes to beats of activation codes, for STORE_CODES and code-mode RUN_DOT."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import DeviceSpec

from .base import TAIL_LAYOUT

__all__ = ["CodeGather", "code_beat"]


def code_beat(device: DeviceSpec) -> data.StructLayout:
    """A beat of ``lanes`` codes; ``last`` says the frame's final byte ended it."""
    return data.StructLayout(
        {"codes": data.ArrayLayout(unsigned(device.act_bits), device.lanes), "last": unsigned(1)}
    )


class CodeGather(wiring.Component):
    """Collects ``lanes`` codes of ``code_bytes`` bytes each (little-endian, bits above
    ``act_bits`` dropped) from a tail into one beat. A beat ends after ``lanes`` codes
    or at the frame's final byte, whichever comes first; lanes a short beat did not
    reach keep older codes (a dot product masks them). One byte per cycle in, one beat
    out; the next beat is gathered once this one is taken.

    Parameters
    ----------
    device : DeviceSpec
        Gives ``lanes``, ``act_bits`` and ``code_bytes``.

    Attributes
    ----------
    i : In(stream.Signature(TAIL_LAYOUT))
        Tail bytes.
    o : Out(stream.Signature(code_beat(device)))
        Code beats.
    """

    def __init__(self, device: DeviceSpec):
        self.device = device
        super().__init__(
            {"i": In(stream.Signature(TAIL_LAYOUT)), "o": Out(stream.Signature(code_beat(device)))}
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        lanes, act_bits = self.device.lanes, self.device.act_bits
        byte = self.i.payload
        lane = Signal(range(max(lanes, 2)))
        hi = Signal()  # the low byte of a two-byte code is in `low`
        low = Signal(8)
        m.d.comb += self.i.ready.eq(~self.o.valid)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            if self.device.code_bytes == 1:
                m.d.sync += self.o.payload.codes[lane].eq(byte.data[:act_bits])
                code_done = C(1, 1)
            else:
                code_done = hi
                m.d.sync += hi.eq(~hi)
                with m.If(~hi):
                    m.d.sync += low.eq(byte.data)
                with m.Else():
                    m.d.sync += self.o.payload.codes[lane].eq(Cat(low, byte.data)[:act_bits])
            with m.If(code_done):
                m.d.sync += lane.eq(lane + 1)
                with m.If((lane == lanes - 1) | byte.last):
                    m.d.sync += [lane.eq(0), self.o.valid.eq(1), self.o.payload.last.eq(byte.last)]
        return m

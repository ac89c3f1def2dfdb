"""CLEAR_STATUS: clear the sticky flags and the link's error count."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from spec import DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["ClearStatus"]


class ClearStatus(Command):
    """Pulses ``clear_flags`` (the handler's sticky flags and the link's refused-frame
    count) and answers ``OK``.

    Attributes
    ----------
    clear_flags : Out(1)
        Pulse: clear.
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(Opcode.CLEAR_STATUS, device, {"clear_flags": Out(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        with m.If(self.start):
            m.d.comb += self.clear_flags.eq(1)
            answer(m, reply, Status.OK)
        return m

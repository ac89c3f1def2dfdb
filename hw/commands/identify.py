"""IDENTIFY: the device's sizes and contract fingerprint (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import C, Module
from amaranth.lib import wiring

from spec import RESPONSES, DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["Identify"]


class Identify(Command):
    """Answers the constant :meth:`spec.DeviceSpec.identify` payload."""

    def __init__(self, device: DeviceSpec):
        super().__init__(Opcode.IDENTIFY, device)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        layout = RESPONSES[Opcode.IDENTIFY]
        m.submodules.reply = reply = Reply(layout.fixed_bytes)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        ident = int.from_bytes(layout.pack(self.device.identify()), "little")
        with m.If(self.start):
            answer(m, reply, Status.OK, layout.fixed_bytes, C(ident, 8 * layout.fixed_bytes))
        return m

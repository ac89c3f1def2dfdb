"""READ_STATUS: sticky flags and counters (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from spec import RESPONSES, DeviceSpec, Opcode, Status

from .base import Command, Reply, answer, pack

__all__ = ["ReadStatus"]


class ReadStatus(Command):
    """Answers the flags, the SRAM's word count, the pending sums and the link's
    refused-frame count.

    Attributes
    ----------
    flags : In(16)
        The :class:`spec.StatusFlag` bits, ``LINK_ERROR`` included.
    count, pending, link_errors : In
        The counters reported.
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(
            Opcode.READ_STATUS,
            device,
            {"flags": In(16), "count": In(range(device.depth + 1)),
             "pending": In(range(device.result_depth + 1)), "link_errors": In(16)},
        )  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        layout = RESPONSES[Opcode.READ_STATUS]
        m.submodules.reply = reply = Reply(layout.fixed_bytes)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        values = {"flags": self.flags, "count": self.count, "pending": self.pending,
                  "errors": self.link_errors}  # fmt: skip
        with m.If(self.start):
            answer(m, reply, Status.OK, layout.fixed_bytes, pack(layout, values))
        return m

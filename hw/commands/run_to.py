"""RUN_TO: where the inference engine stops, and a stopped engine resumed
(``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spec import NO_STOP, DeviceSpec, Opcode, Status

from .base import Command, Reply, answer

__all__ = ["RunTo"]


class RunTo(Command):
    """Sets the pass after which the engine stops (``index``, one of
    ``device.engine.layers``, or ``NO_STOP``); it holds for every image until the
    next RUN_TO. ``BUSY`` while the engine computes; ``BAD_ARGUMENT`` for a pass whose
    output cannot be read back, or, on a stopped engine, for a pass it has already run.
    A stopped engine resumes (``resume``) and runs on to the new stop or the logits.

    Attributes
    ----------
    stop_at : Out(16)
        The engine's stop (:data:`spec.NO_STOP` at reset).
    resume : Out(1)
        Pulse: a stopped engine runs on.
    stopped, computing : In(1)
        The engine is stopped; it is computing (neither stopped nor done).
    """

    def __init__(self, device: DeviceSpec):
        super().__init__(Opcode.RUN_TO, device, self.ports(device))

    @staticmethod
    def ports(device: DeviceSpec) -> dict[str, wiring.Member]:
        """The ports beyond :class:`Command`'s (the dispatcher has them too)."""
        if device.engine is None:
            raise ValueError("RUN_TO needs a device with an inference engine")
        return {
            "stop_at": Out(16, init=NO_STOP),
            "resume": Out(1),
            "stopped": In(1),
            "computing": In(1),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        index = self.fields.index
        layer = Signal()
        with m.Switch(index):
            with m.Case(*(i for i, _ in self.device.engine.layers)):
                m.d.comb += layer.eq(1)
        with m.If(self.start):
            with m.If(self.computing):
                answer(m, reply, Status.BUSY)
            with m.Elif(~layer & (index != NO_STOP)):
                answer(m, reply, Status.BAD_ARGUMENT)
            with m.Elif(self.stopped & layer & (index <= self.stop_at)):
                answer(m, reply, Status.BAD_ARGUMENT)
            with m.Else():
                m.d.sync += self.stop_at.eq(index)
                m.d.comb += self.resume.eq(self.stopped)
                answer(m, reply, Status.OK)
        return m

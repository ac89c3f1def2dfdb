"""SET_SEED: reseed the LFSR bank (``docs/protocol.md`` section 5)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spec import DeviceSpec, Opcode, Status, StatusFlag

from .base import Command, Reply, answer

__all__ = ["SetSeed"]


class SetSeed(Command):
    """Loads ``seed`` into the store path's random source and answers once it is ready
    (``lanes`` cycles for an LFSR per lane, ``1 + warmup`` for the shared one). A zero
    seed, or one wider than the source's state (``device.seed_bits``), is refused with
    ``BAD_ARGUMENT`` and raises ``SEED_ERROR``; the bank keeps its state.

    Attributes
    ----------
    seed : Out(device.seed_bits)
        The seed, valid with ``load``.
    load : Out(1)
        Pulse: load ``seed``.
    loading : In(1)
        The bank is loading (rises the cycle after ``load``).
    raise_flag : Out(1)
        Pulse: set :attr:`FLAG`.
    """

    FLAG = StatusFlag.SEED_ERROR

    def __init__(self, device: DeviceSpec):
        super().__init__(
            Opcode.SET_SEED,
            device,
            {"seed": Out(device.seed_bits), "load": Out(1), "loading": In(1),
             "raise_flag": Out(1)},
        )  # fmt: skip

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.reply = reply = Reply(0)
        wiring.connect(m, reply.o, wiring.flipped(self.o))
        seed = self.fields.seed
        m.d.comb += self.seed.eq(seed)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    with m.If((seed == 0) | (seed >> self.device.seed_bits != 0)):
                        m.d.comb += self.raise_flag.eq(1)
                        answer(m, reply, Status.BAD_ARGUMENT)
                    with m.Else():
                        m.d.comb += self.load.eq(1)
                        m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(~self.loading):
                    answer(m, reply, Status.OK)
                    m.next = "IDLE"
        return m

"""The LFSR bank: one Galois LFSR per lane, ``act_bits`` fresh random bits per lane per beat."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec, LfsrSpec

from ._params import checked


def linear_map(cols: list[int], x: Value, width: int) -> Value:
    """The GF(2) map given by column list ``cols`` (see :mod:`spec.gf2`) applied to ``x``:
    bit ``i`` of the result is the XOR of the bits ``k`` of ``x`` whose column has bit ``i``."""
    rows = [sum(1 << k for k, c in enumerate(cols) if c >> i & 1) for i in range(width)]
    return Cat(*((x & Const(row, width)).xor() for row in rows))


class LfsrBank(wiring.Component):
    """``lanes`` Galois LFSRs (SPEC section 4), giving ``lanes * act_bits`` random bits per beat.

    Lane ``j`` holds the seed advanced by ``j * floor((2**width - 1) / lanes)`` steps; each
    accepted beat advances every lane by ``act_bits`` steps. Lane ``j``'s code is the next
    ``act_bits`` output bits of its LFSR, the first as the LSB: exactly
    :func:`model.lfsr.random_codes` for elements ``beat * lanes + j``.

    Each lane's code and next state are one GF(2)-linear map of its state
    (:meth:`spec.LfsrSpec.code_map`): a flat XOR of state bits per output bit.

    Latency and throughput: a code is offered combinationally from the current state;
    one beat per cycle. Loading a seed at run time takes ``lanes`` cycles (``busy`` high,
    ``o.valid`` low): the start states are shifted in one per cycle, each the previous one
    times the jump-ahead matrix, so one XOR network serves every lane.

    Parameters
    ----------
    lanes, act_bits, seed : int
        As :class:`spec.BinarizerSpec`; the seed is the reset state.
    lfsr : LfsrSpec, optional
        The generator (SPEC section 4's 32-bit polynomial by default).

    Attributes
    ----------
    o : Out(stream.Signature(ArrayLayout(unsigned(act_bits), lanes)))
        Lane ``j``'s code in element ``j``; a handshake advances the bank.
    seed : In(unsigned(width))
        Seed to load.
    load : In(1)
        Load ``seed`` (one-cycle pulse). A zero seed is not loaded and sets ``seed_error``.
    busy : Out(1)
        A load is in progress.
    seed_error : Out(1)
        Sticky: the last load asked for the illegal seed 0; cleared by a good load.

    Raises
    ------
    ValueError
        Parameters that :class:`spec.BinarizerSpec` refuses (zero seed, ...).
    """

    def __init__(self, *, lanes: int, act_bits: int, seed: int, lfsr: LfsrSpec | None = None):
        with checked(self):
            self.spec = BinarizerSpec(
                lanes=lanes, act_bits=act_bits, seed=seed, lfsr=lfsr or LfsrSpec()
            )
        width = self.spec.lfsr.width
        super().__init__(
            {
                "o": Out(stream.Signature(data.ArrayLayout(unsigned(act_bits), lanes))),
                "seed": In(width),
                "load": In(1),
                "busy": Out(1),
                "seed_error": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec, lfsr = self.spec, self.spec.lfsr
        states = [
            Signal(lfsr.width, init=s, name=f"state{j}")
            for j, s in enumerate(lfsr.lane_seeds(spec.seed, spec.lanes))
        ]
        step = lfsr.code_map(spec.act_bits)
        jumped = Signal(lfsr.width)  # next start state to shift in during a load
        remaining = Signal(range(spec.lanes + 1))
        m.d.comb += self.busy.eq(remaining != 0)
        m.d.comb += self.o.valid.eq(~self.busy)
        advance = self.o.valid & self.o.ready
        for j, state in enumerate(states):
            stepped = linear_map(step, state, lfsr.width + spec.act_bits)
            code, nxt = stepped[lfsr.width :], stepped[: lfsr.width]
            m.d.comb += self.o.payload[j].eq(code)
            with m.If(self.busy):
                m.d.sync += state.eq(states[j + 1] if j + 1 < spec.lanes else jumped)
            with m.Elif(advance):
                m.d.sync += state.eq(nxt)
        with m.If(self.busy):
            m.d.sync += [
                jumped.eq(linear_map(lfsr.jump_map(spec.lane_stride), jumped, lfsr.width)),
                remaining.eq(remaining - 1),
            ]
        with m.Elif(self.load):
            with m.If(self.seed == 0):
                m.d.sync += self.seed_error.eq(1)
            with m.Else():
                m.d.sync += [self.seed_error.eq(0), jumped.eq(self.seed), remaining.eq(spec.lanes)]
        return m

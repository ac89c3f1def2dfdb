"""The LFSR bank: one Galois LFSR per lane, ``act_bits`` fresh random bits per lane per beat."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec, LfsrSpec, gf2


def linear_map(cols: list[int], x: Value, width: int) -> Value:
    """The GF(2) map given by column list ``cols`` (see :mod:`spec.gf2`) applied to ``x``,
    giving ``width`` bits: bit ``i`` is the XOR of the bits ``k`` of ``x`` whose column
    has bit ``i``."""
    rows = [sum(1 << k for k, c in enumerate(cols) if c >> i & 1) for i in range(width)]
    return Cat(*((x & Const(row, len(cols))).xor() for row in rows))


class LfsrBank(wiring.Component):
    """``lanes`` Galois LFSRs (SPEC section 4), giving ``lanes * act_bits`` random bits per beat.

    Lane ``j`` holds the seed advanced by ``j * floor((2**width - 1) / lanes)`` steps; each
    accepted beat advances every lane by ``act_bits`` steps. Lane ``j``'s code is the next
    ``act_bits`` output bits of its LFSR, the first as the LSB: exactly
    :func:`model.lfsr.random_codes` for elements ``beat * lanes + j``.

    Each lane's next state and next code are GF(2)-linear maps of its state
    (:meth:`spec.LfsrSpec.code_map`): a flat XOR of state bits per output bit. The code
    is registered, so ``o.payload`` comes straight from flip-flops.

    Latency and throughput: the current code is always on ``o.payload`` (from flip-flops);
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
        width, bits = lfsr.width, spec.act_bits
        seeds = lfsr.lane_seeds(spec.seed, spec.lanes)
        # Each lane keeps its state and, in a register beside it, the code that state
        # gives; the register is loaded with the code of the *next* state, so the
        # comparator downstream starts from a flip-flop rather than an XOR tree.
        one, two = lfsr.code_map(bits), lfsr.code_map(2 * bits)
        next_state = [c & ((1 << width) - 1) for c in one]
        code_of = [c >> width for c in one]
        next_code = [c >> (width + bits) for c in two]
        jumped = Signal(width)  # next start state to shift in during a load
        remaining = Signal(range(spec.lanes + 1))
        # `busy` is a register (not `remaining != 0`) and the step enable is `o.ready`
        # alone (``o.valid`` is just ``~busy``, which the If below already excludes):
        # the enable fans out to every state bit, so it must be shallow.
        m.d.comb += self.o.valid.eq(~self.busy)
        regs = []  # (state, code) of each lane
        for j, seed in enumerate(seeds):
            state = Signal(width, init=seed, name=f"state{j}")
            code = Signal(bits, init=gf2.apply(code_of, seed), name=f"code{j}")
            regs.append((state, code))
            m.d.comb += self.o.payload[j].eq(code)
        for j, (state, code) in enumerate(regs):
            with m.If(self.busy):
                if j + 1 < spec.lanes:
                    m.d.sync += [state.eq(regs[j + 1][0]), code.eq(regs[j + 1][1])]
                else:
                    m.d.sync += [state.eq(jumped), code.eq(linear_map(code_of, jumped, bits))]
            with m.Elif(self.o.ready):
                m.d.sync += [
                    state.eq(linear_map(next_state, state, width)),
                    code.eq(linear_map(next_code, state, bits)),
                ]
        with m.If(self.busy):
            m.d.sync += [
                jumped.eq(linear_map(lfsr.jump_map(spec.lane_stride), jumped, lfsr.width)),
                remaining.eq(remaining - 1),
                self.busy.eq(remaining != 1),
            ]
        with m.Elif(self.load):
            with m.If(self.seed == 0):
                m.d.sync += self.seed_error.eq(1)
            with m.Else():
                m.d.sync += [
                    self.seed_error.eq(0),
                    jumped.eq(self.seed),
                    remaining.eq(spec.lanes),
                    self.busy.eq(1),
                ]
        return m

"""The shared LFSR bank: one LFSR read by every lane through a phase shifter."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec, SharedLfsrSpec

from .lfsr import linear_map


class SharedLfsrBank(wiring.Component):
    """One Galois LFSR for ``lanes * act_bits`` random bits a beat
    (``docs/formats.md`` section 3b): exactly :func:`model.lfsr.shared_codes`.

    Lane ``j``'s code bit ``b`` is the XOR of the ``taps`` state bits of output
    ``j * act_bits + b`` of :meth:`spec.SharedLfsrSpec.output_map`, straight from the
    state register: a consumer that registers what it computes from the code (the
    binarizer's comparator) takes the XOR into its own logic, so each output bit costs
    no look-up table of its own. An accepted beat moves the state ``steps`` steps (a
    flat XOR a state bit, from :meth:`spec.SharedLfsrSpec.beat_map`).

    The interface is :class:`hw.lfsr.LfsrBank`'s. A seed load puts ``seed`` in the
    state at the next edge (a beat accepted in the load's cycle is the old sequence's),
    then steps it one beat a cycle for ``warmup`` cycles with ``busy`` high and
    ``o.valid`` low (:meth:`spec.SharedLfsrSpec.start`); the reset state is the warmed-up
    reset seed.

    Parameters
    ----------
    lanes, act_bits, seed : int
        As :class:`spec.BinarizerSpec` with ``source = "shared"``; the seed is the
        reset state.
    source : SharedLfsrSpec, optional
        The generator and its output map (the defaults of section 3b).

    Attributes
    ----------
    o : Out(stream.Signature(ArrayLayout(unsigned(act_bits), lanes)))
        Lane ``j``'s code in element ``j``; a handshake advances the state.
    seed : In(unsigned(width))
        Seed to load.
    load : In(1)
        Load ``seed`` (one-cycle pulse). A zero seed is not loaded and sets ``seed_error``.
    busy : Out(1)
        A load's warm-up is in progress.
    seed_error : Out(1)
        Sticky: the last load asked for the illegal seed 0; cleared by a good load.

    Raises
    ------
    ValueError
        Parameters that :class:`spec.BinarizerSpec` refuses (zero seed, too many
        outputs for the source, ...).
    """

    def __init__(
        self, *, lanes: int, act_bits: int, seed: int, source: SharedLfsrSpec | None = None
    ):
        self.spec = BinarizerSpec(lanes=lanes, act_bits=act_bits, seed=seed, source="shared",
                                  shared=source or SharedLfsrSpec())  # fmt: skip
        super().__init__(
            {
                "o": Out(stream.Signature(data.ArrayLayout(unsigned(act_bits), lanes))),
                "seed": In(self.spec.seed_bits),
                "load": In(1),
                "busy": Out(1),
                "seed_error": Out(1),
            }
        )

        #: The state register (for a consumer that reads the taps itself, as the
        #: binarizer's comparators do).
        self.state = Signal(
            self.spec.shared.width, init=self.spec.shared.start(self.spec.seed), name="state"
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec, source = self.spec, self.spec.shared
        bits = spec.act_bits
        state = self.state
        funcs = spec.output_map()
        m.d.comb += self.o.valid.eq(~self.busy)
        for j in range(spec.lanes):
            outputs = funcs[j * bits : (j + 1) * bits]
            m.d.comb += self.o.payload[j].eq(
                Cat(*((state & Const(c, source.width)).xor() for c in outputs))
            )
        # A refused (zero) seed leaves the sequence alone: a beat taken in its cycle
        # still steps the state.
        remaining = Signal(range(source.warmup + 1))
        with m.If(self.load & ~self.busy):
            m.d.sync += self.seed_error.eq(self.seed == 0)
        with m.If(self.load & ~self.busy & (self.seed != 0)):
            m.d.sync += [state.eq(self.seed), remaining.eq(source.warmup),
                         self.busy.eq(source.warmup != 0)]  # fmt: skip
        with m.Elif(self.busy | self.o.ready):
            m.d.sync += state.eq(linear_map(source.beat_map(), state, source.width))
            with m.If(self.busy):
                m.d.sync += [remaining.eq(remaining - 1), self.busy.eq(remaining != 1)]
        return m

"""The shared LFSR bank: one LFSR read by every lane through a phase shifter."""

from __future__ import annotations

from collections.abc import Callable

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec, SharedLfsrSpec

from .compress import is_ecp5, mux_lut
from .lfsr import linear_map

#: Lanes that read one copy of the state: each state bit fans out to about
#: ``3 * act_bits / width`` LUTs a lane, and past 32 lanes its routing was the slowest
#: path on ECP5 (181 MHz at 128 lanes, seed 1, with one copy; 193 with four; 207 at 32).
REPLICA_LANES = 32


class SharedLfsrBank(wiring.Component):
    """One Galois LFSR for ``lanes * act_bits`` random bits a beat
    (``docs/formats.md`` section 3b): exactly :func:`model.lfsr.shared_codes`.

    Lane ``j``'s code bit ``b`` is the XOR of the ``taps`` state bits of output
    ``j * act_bits + b`` of :meth:`spec.SharedLfsrSpec.output_map`, straight from the
    state register: a consumer that registers what it computes from the code (the
    binarizer's comparator) takes the XOR into its own logic, so each output bit costs
    no look-up table of its own. An accepted beat moves the state ``steps`` steps (a
    flat XOR a state bit, from :meth:`spec.SharedLfsrSpec.beat_map`). The state is
    kept in one identical copy per :data:`REPLICA_LANES` lanes, to bound its fan-out.

    The interface is :class:`hw.lfsr.LfsrBank`'s. A seed load (``load`` while not
    ``busy``) registers the seed; ``busy`` is then high, and ``o.valid`` low, for one
    cycle, in which a zero seed is refused (``seed_error``, the sequence goes on) and a
    good one enters the state, and for ``warmup`` cycles more, which step it one beat
    each (:meth:`spec.SharedLfsrSpec.start`). A beat accepted in the load's own cycle is
    the old sequence's. The reset state is the warmed-up reset seed.

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
        A load is being taken (one cycle) or warmed up (``warmup`` cycles).
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

        #: The state register, one copy per :data:`REPLICA_LANES` lanes (for a consumer
        #: that reads the taps itself, as the binarizer's comparators do:
        #: :meth:`state_for`).
        start = self.spec.shared.start(self.spec.seed)
        self.states = [Signal(self.spec.shared.width, init=start, name=f"state{g}")
                       for g in range(-(-lanes // REPLICA_LANES))]  # fmt: skip
        #: ``o.ready`` as a function of the consumer's own signals, ``(inputs, fn)`` with
        #: at most four inputs, for a consumer that sets it before elaboration: the
        #: state's clock enable is then one ECP5 slice from those signals, not two
        #: levels (the consumer's ``o.ready`` logic, then the bank's). ``o.ready`` must
        #: still be driven, and equal ``fn(*inputs)``.
        self.ready_terms: tuple[list[Value], Callable[..., Value]] | None = None

    def state_for(self, lane: int) -> Signal:
        """The copy of the state that lane ``lane`` reads its taps from."""
        return self.states[lane // REPLICA_LANES]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec, source = self.spec, self.spec.shared
        bits = spec.act_bits
        funcs = spec.output_map()
        m.d.comb += self.o.valid.eq(~self.busy)
        for j in range(spec.lanes):
            outputs = funcs[j * bits : (j + 1) * bits]
            m.d.comb += self.o.payload[j].eq(
                Cat(*((self.state_for(j) & Const(c, source.width)).xor() for c in outputs))
            )
        # A load is taken in two steps: the seed and whether it is non-zero are
        # registered (a 64-bit zero test in front of every state bit's multiplexer was
        # the bank's slowest path on ECP5), then, a cycle later, a good seed enters the
        # state and a zero one is refused, leaving the sequence alone. ``busy`` covers
        # that cycle and the warm-up; a beat taken in the load's own cycle still steps
        # the state. Every register's next value is a function of a few registers (the
        # warm-up's end, ``last``, is registered too), and so is the state's enable.
        pending, nonzero, last = Signal(), Signal(), Signal()
        seed = Signal.like(self.seed, name="seed_held")
        remaining = Signal(range(source.warmup + 1))
        with m.If(self.load & ~self.busy):
            m.d.sync += [pending.eq(1), nonzero.eq(self.seed != 0), seed.eq(self.seed),
                         self.busy.eq(1)]  # fmt: skip
        with m.Elif(pending):
            m.d.sync += [pending.eq(0), self.seed_error.eq(~nonzero), remaining.eq(source.warmup),
                         last.eq(source.warmup == 1),
                         self.busy.eq(nonzero & (source.warmup != 0))]  # fmt: skip
        with m.Elif(self.busy):
            m.d.sync += [remaining.eq(remaining - 1), last.eq(remaining == 2),
                         self.busy.eq(~last)]  # fmt: skip
        # The state moves on a taken beat, and while busy but for the cycle that
        # refuses a zero seed. This enable reaches every copy's clock enables, so on
        # ECP5 it is a single slice (hw.compress.mux_lut).
        ready_inputs, ready_fn = self.ready_terms or ([self.o.ready], lambda ready: ready)
        advance = mux_lut(m, "advance", self.busy, ([pending, nonzero], lambda p, n: (p ^ 1) | n),
                          (ready_inputs, ready_fn), ecp5=is_ecp5(platform))  # fmt: skip
        with m.If(advance):
            # Each copy steps from itself: no two are the same cell to merge.
            m.d.sync += [state.eq(Mux(pending, seed, linear_map(source.beat_map(), state,
                                                                   source.width)))
                         for state in self.states]  # fmt: skip
        return m

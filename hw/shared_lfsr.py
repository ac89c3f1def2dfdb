"""The shared LFSR bank: one LFSR read by every lane through a phase shifter."""

from __future__ import annotations

from collections.abc import Callable

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import BinarizerSpec, SharedLfsrSpec

from .compress import family, mux_lut
from .lfsr import linear_map

#: Lanes that read one copy of the state (there are at least two copies). Each state bit
#: fans out to about ``3 * act_bits / width`` LUTs a lane, and that routing is the
#: binarizer's slowest path on ECP5. A copy costs flip-flops and one LUT (its enable):
#: all copies load the same next state, computed once from the first copy.
REPLICA_LANES = 8


class SharedLfsrBank(wiring.Component):
    """One Galois LFSR for ``lanes * act_bits`` random bits a beat
    (``docs/formats.md`` section 3b): exactly :func:`model.lfsr.shared_codes`.

    Lane ``j``'s code bit ``b`` is the XOR of the ``taps`` state bits of output
    ``j * act_bits + b`` of :meth:`spec.SharedLfsrSpec.output_map`, straight from the
    state register: a consumer that registers what it computes from the code (the
    binarizer's comparator) takes the XOR into its own logic, so each output bit costs
    no look-up table of its own. An accepted beat moves the state ``steps`` steps (a
    flat XOR a state bit, from :meth:`spec.SharedLfsrSpec.beat_map`). The state is
    kept in identical copies, one per :data:`REPLICA_LANES` lanes and at least two, to
    bound its fan-out; all load one next state, computed from the first copy.

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

        #: The state register, one copy per :data:`REPLICA_LANES` lanes and at least two
        #: (for a consumer that reads the taps itself, as the binarizer's comparators
        #: do: :meth:`state_for`).
        start = self.spec.shared.start(self.spec.seed)
        self.states = [Signal(self.spec.shared.width, init=start, name=f"state{g}")
                       for g in range(max(2, -(-lanes // REPLICA_LANES)))]  # fmt: skip
        #: ``o.ready`` as a function of the consumer's own signals, ``(inputs, fn)`` with
        #: at most four inputs, for a consumer that sets it before elaboration: the
        #: state's clock enable is then one ECP5 slice from those signals, not two
        #: levels (the consumer's ``o.ready`` logic, then the bank's). ``o.ready`` must
        #: still be driven, and equal ``fn(*inputs)``.
        self.ready_terms: tuple[list[Value], Callable[..., Value]] | None = None

    def state_for(self, lane: int) -> Signal:
        """The copy of the state that lane ``lane`` reads its taps from."""
        return self.states[lane * len(self.states) // self.spec.lanes]

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
        # refuses a zero seed. Every copy loads the next state computed from the first,
        # under an enable of its own: a primitive on xc7 and ECP5 (hw.compress.mux_lut),
        # so that Yosys keeps the copies apart, one level deep. The next state's LUTs
        # then drive several flip-flops each, which also keeps nextpnr's packer from
        # pairing a state bit's LUT with a comparator's tap XOR, far from its carry chain.
        ready_inputs, ready_fn = self.ready_terms or ([self.o.ready], lambda ready: ready)
        follow = ([pending, nonzero], lambda p, n: (p ^ 1) | n)
        step = linear_map(source.beat_map(), self.states[0], source.width)
        following = Signal.like(self.states[0], name="state_next")
        m.d.comb += following.eq(Mux(pending, seed, step))
        target = family(platform)
        for k, state in enumerate(self.states):
            advance = mux_lut(m, f"advance{k}", self.busy, follow, (ready_inputs, ready_fn),
                              family=target)  # fmt: skip
            with m.If(advance):
                m.d.sync += state.eq(following)
        return m

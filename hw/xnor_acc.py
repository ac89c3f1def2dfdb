"""The XNOR / AND / code accumulate datapath (SPEC section 6): one beat of ``lanes``
weight bits and operands per cycle, one signed sum per dot product."""

from __future__ import annotations

from collections.abc import Iterable

from amaranth import C, Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spec import DatapathSpec, Mode

__all__ = ["ALL_MODES", "XnorAccumulator", "beat_layout"]

#: Every mode; the default build.
ALL_MODES = (Mode.XNOR, Mode.AND, Mode.CODE)

#: Full-adder levels of the compressor tree between two pipeline registers. Three levels
#: plus the lane logic close 150 MHz on ECP5 with margin at lanes=32, act_bits=8 (nextpnr-
#: ecp5 0.11, LFE5U-85F, register-to-register: about 195 MHz xnor-only, 185 MHz all modes);
#: four levels fail it in the all-mode build (about 148 MHz).
LEVELS_PER_STAGE = 3

#: Rows the full-adder tree stops at; the beat-sum stage adds them. Stopping at four
#: rather than two saves the two most expensive full-adder levels (a full adder is two
#: LUTs for one bit of reduction) for about 6% fewer LUTs in Yosys synth_xilinx.
FINAL_ROWS = 4


def beat_layout(spec: DatapathSpec) -> data.StructLayout:
    """The payload of one input beat, LSB first: ``w`` (bit ``j`` = lane ``j``'s weight,
    1 = +1), ``a`` (lane ``j``'s operand in bits ``j*act_bits ...``), ``valid`` (bit ``j``
    set iff lane ``j`` carries an element), ``first``, ``last``."""
    return data.StructLayout(
        {
            "w": unsigned(spec.lanes),
            "a": data.ArrayLayout(unsigned(spec.act_bits), spec.lanes),
            "valid": unsigned(spec.lanes),
            "first": unsigned(1),
            "last": unsigned(1),
        }
    )


class XnorAccumulator(wiring.Component):
    """Binary-weight dot products, one beat of ``lanes`` elements per cycle (SPEC 6).

    Each accepted beat adds, for every lane ``j`` whose ``valid`` bit is set, the
    contribution of the beat's mode (``mode`` is sampled together with the beat):

    - ``XNOR``: ``2*xnor(a, w) - 1``, the activation bit as +-1. Only bit 0 of ``a[j]``
      is read; higher bits are ignored.
    - ``AND``: ``a ? 2w - 1 : 0``, the activation bit as 0/1. Only bit 0 of ``a[j]`` is
      read.
    - ``CODE``: ``(2w - 1) * q`` with ``q`` all ``act_bits`` bits of ``a[j]``, unsigned.

    Lanes whose ``valid`` bit is clear contribute 0, whatever their ``w`` and ``a``; any
    mask is allowed (:func:`model.xnor_acc.split_beats` makes lanes ``0..r-1`` valid in a
    partial last beat). A beat with ``first`` starts a new sum; a beat without it adds to
    the current one, even after a ``last`` (so every dot product must start with
    ``first``). A beat with ``last`` ends the dot product and its sum is emitted on ``o``;
    a one-beat dot product has both. The sum equals :func:`model.xnor_acc.dot`.

    ``mode`` belongs to each beat, like the payload. A dot product normally keeps one
    mode; one whose beats carry different modes gets the sum of each beat's contribution
    under its own mode (exact, and no more than ``max_beats`` code-mode beats can reach).
    A beat whose mode is not built (or is 3) sets the sticky ``error`` flag, cleared only
    by reset; what that beat adds is unspecified.

    **Latency**: the sum of a dot product is on ``o`` (``o.valid`` high) :attr:`latency`
    cycles after the cycle in which its ``last`` beat was accepted, when nothing stalls:
    ``2 + ceil(levels / 3)`` with ``levels`` the full-adder levels of the tree (at least
    one tree stage). At lanes=32 that is 4 for xnor/and-only builds and 5 with code mode
    (act_bits 4 or 8); 3 at lanes=1.
    **Throughput**: one beat per cycle in every mode, code mode included (all lanes and
    all code bits are summed by one parallel compressor tree, not bit-serially), and one
    sum per cycle for back-to-back one-beat dot products.
    **Back-pressure**: a global stall: every pipeline stage and the accumulator advance
    exactly when ``~o.valid | o.ready``, which is also ``i.ready``.
    **Bit order**: lane ``j`` is bit ``j`` of ``w`` and ``valid`` and element ``j`` of
    ``a`` (see :func:`beat_layout`); element ``k`` of a dot product travels in lane
    ``k % lanes`` of beat ``k // lanes``.

    Structure: per-lane logic turns every lane into a few weighted bits (two per lane in
    xnor/and-only builds, ``act_bits + 2`` with code mode; see :meth:`_lane_bits`), a
    Dadda tree of full adders reduces them to :data:`FINAL_ROWS` rows (the per-beat
    constant offset is folded in as constant bits), the beat-sum stage adds those rows,
    and the accumulator adds the beat sum. The accumulator is as wide as the built modes
    need for ``max_beats`` beats (at most ``acc_bits``); ``o`` carries it sign-extended
    to ``acc_bits``. A dot product longer than ``spec.max_beats`` is outside the contract
    and may wrap.

    Parameters
    ----------
    spec : DatapathSpec, optional
        Lanes, operand and accumulator widths, longest dot product; the default spec if
        omitted.
    modes : iterable of Mode
        The modes to build (default all three). ``(Mode.XNOR,)`` gives the smallest
        datapath: two bits per lane enter the tree. A datapath whose beats are always
        full can drop the mask: :class:`hw.xnor_full.FullBeatXnorAccumulator`.

    Attributes
    ----------
    i : In(stream.Signature(beat_layout(spec)))
        Beats: ``w``, ``a``, ``valid``, ``first``, ``last``.
    mode : In(2)
        The :class:`spec.Mode` value of the beat on ``i``; sampled with it.
    o : Out(stream.Signature(signed(spec.acc_bits)))
        One sum per dot product, in order.
    error : Out(1)
        Sticky: a beat with a mode that is not built was accepted.
    latency : int
        Cycles from accepting a ``last`` beat to its sum on ``o``.
    beat_bits, acc_width : int
        Width of one beat's signed sum and of the accumulator.

    Raises
    ------
    TypeError
        ``spec`` is not a :class:`~spec.DatapathSpec` or ``modes`` holds a non-Mode.
    ValueError
        ``modes`` is empty or repeats a mode.
    """

    #: Give the pipeline's control registers a reset (see :meth:`_control_bits`).
    RESET_CONTROL = False

    def __init__(
        self,
        spec: DatapathSpec | None = None,
        *,
        modes: Iterable[Mode] = ALL_MODES,
    ):
        spec = DatapathSpec() if spec is None else spec
        if not isinstance(spec, DatapathSpec):
            raise TypeError(f"spec must be a DatapathSpec, not {spec!r}")
        if isinstance(modes, Mode | str) or not isinstance(modes, Iterable):
            raise TypeError(f"modes must be an iterable of Mode, not {modes!r}")
        modes = tuple(modes)
        for mode in modes:
            if not isinstance(mode, Mode):
                raise TypeError(f"modes must hold Mode values, not {mode!r}")
        if not modes:
            raise ValueError("modes must name at least one Mode, not ()")
        if len(set(modes)) != len(modes):
            raise ValueError(f"modes must not repeat a mode, not {modes}")
        self.spec = spec
        self.modes = tuple(sorted(modes, key=lambda m: m.value))
        super().__init__(
            {
                "i": In(stream.Signature(beat_layout(spec))),
                "mode": In(2),
                "o": Out(stream.Signature(signed(spec.acc_bits))),
                "error": Out(1),
            }
        )
        self.beat_bits, self.acc_width, self.latency = self._plan()

    # -- sizes ------------------------------------------------------------------------

    @property
    def _code(self) -> bool:
        return Mode.CODE in self.modes

    @property
    def _max_lane(self) -> int:
        """Largest magnitude one lane can contribute in the built modes."""
        return (1 << self.spec.act_bits) - 1 if self._code else 1

    def _plan(self) -> tuple[int, int, int]:
        """(beat width, accumulator width, latency) of this build."""
        spec = self.spec
        beat_bits = (spec.lanes * self._max_lane).bit_length() + 1
        acc_width = (spec.max_beats * spec.lanes * self._max_lane).bit_length() + 1
        acc_width = min(acc_width, spec.acc_bits)  # the spec has proved the code bound fits
        # tree registers, the beat-sum register, the accumulator
        return beat_bits, acc_width, self._tree_stages(beat_bits) + 2

    def _tree_stages(self, beat_bits: int) -> int:
        """Pipeline registers of the compressor tree: one per :data:`LEVELS_PER_STAGE`
        full-adder levels, at least one."""
        heights = _column_heights(self.spec.lanes, self._lane_columns(), self._offset(), beat_bits)
        return max(1, -(-_dadda_levels(max(heights)) // LEVELS_PER_STAGE))

    def _lane_columns(self) -> list[int]:
        """Column (weight log2) of each bit one lane puts into the tree."""
        if self._code:
            b = self.spec.act_bits
            return [*range(b), 0, b]  # y bits, the +1 of a negation, the sign
        return [0, 1]

    def _offset(self) -> int:
        """Constant added to every beat's bit sum to make it the signed beat sum."""
        if self._code:
            return -(self.spec.lanes << self.spec.act_bits)
        return -self.spec.lanes

    # -- gateware ---------------------------------------------------------------------

    def _lane_bits(self, m: Module, j: int, beat: data.View) -> list[Value]:
        """The bits lane ``j`` puts into the columns of :meth:`_lane_columns`.

        xnor/and-only builds (offset ``-lanes``): a lane is ``g + 2*p - 1``. Xnor:
        ``p = valid & xnor(a, w)``, ``g = ~valid``, so a valid lane gives ``2*xnor - 1``
        and an invalid one ``1 + 0 - 1 = 0``. And: ``p = valid & a & w``,
        ``g = ~(valid & a)``, giving ``2w - 1`` when ``a`` and 0 otherwise.

        Code builds (offset ``-2**B * lanes``): ``w ? q : -q`` is ``q ^ ~w`` (B bits) minus
        ``2**B - 1`` when ``w`` is 0, so a lane is ``y + n + 2**B * ~n - 2**B`` with
        ``y = valid ? q ^ ~w : 0`` and ``n = valid & ~w``; an invalid lane gives
        ``0 + 0 + 2**B - 2**B = 0``. And mode is code mode with ``q = a[0]``. Xnor mode
        uses ``n = valid & ~xnor(a, w)`` and ``y = 1`` for a match, ``2**B - 2`` for a
        mismatch: ``+1`` and ``2**B - 2 + 1 - 2**B = -1``.
        """
        v = beat.valid[j]
        w = beat.w[j]
        a = beat.a[j]
        match = ~(a[0] ^ w)
        mode = self.mode
        built = set(self.modes)
        if not self._code:
            if built == {Mode.XNOR}:
                p, g = v & match, ~v
            elif built == {Mode.AND}:
                p, g = v & a[0] & w, ~(v & a[0])
            else:
                is_and = mode == Mode.AND.value
                p = v & Mux(is_and, a[0] & w, match)
                g = ~(v & (a[0] | ~is_and))
            bits = [g, p]
        else:
            b = self.spec.act_bits
            is_xnor = (mode == Mode.XNOR.value) if Mode.XNOR in built else C(0, 1)
            if built == {Mode.CODE}:
                is_code = C(1, 1)
            elif Mode.XNOR in built and Mode.AND in built:
                is_code = mode[1]
            elif Mode.XNOR in built:
                is_code = ~is_xnor
            else:
                is_code = mode != Mode.AND.value
            neg = Mux(is_xnor, ~match, ~w)
            y = [v & match]
            y += [v & Mux(is_code, ~(a[k] ^ w), neg) for k in range(1, b)]
            n = v & neg
            bits = [*y, n, ~n]
        out = []
        for k, e in enumerate(bits):
            s = Signal(name=f"lane{j}_b{k}")
            m.d.comb += s.eq(e)
            out.append(s)
        return out

    def elaborate(self, platform: object) -> Module:
        m = Module()
        beat_bits, acc_width = self.beat_bits, self.acc_width
        en = Signal()  # every stage advances
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        accept = self.i.valid & en

        legal = Cat(*(self.mode == mode.value for mode in self.modes)).any() & self._legal()
        with m.If(accept & ~legal):
            m.d.sync += self.error.eq(1)

        ctl = (accept, self.i.payload.first, self.i.payload.last)
        beat_row, ctl, n_stage = self._tree(m, en, ctl, platform)
        ctl_valid, ctl_first, ctl_last = ctl
        beat_sum = Signal(signed(beat_bits), reset_less=True)
        s_valid, s_first, s_last = Signal(), *self._control_bits("s")
        with m.If(en):
            m.d.sync += [
                beat_sum.eq(beat_row[:beat_bits].as_signed()),
                s_valid.eq(ctl_valid),
                s_first.eq(ctl_first),
                s_last.eq(ctl_last),
            ]

        # Accumulator, which is also the output register.
        acc = Signal(signed(acc_width), reset_less=True)
        with m.If(en):
            m.d.sync += self.o.valid.eq(s_valid & s_last)
            with m.If(s_valid):
                m.d.sync += acc.eq(self._accumulate(m, acc, s_first, beat_sum, platform))
        m.d.comb += self.o.payload.eq(acc)
        assert n_stage + 2 == self.latency, (n_stage, self.latency)
        return m

    def _accumulate(
        self, m: Module, acc: Value, first: Value, beat: Value, platform: object
    ) -> Value:
        """``(first ? 0 : acc) + beat``."""
        return Mux(first, 0, acc) + beat

    def _control_bits(self, name: str) -> tuple[Signal, Signal]:
        """A stage's first and last registers: reset-less unless :attr:`RESET_CONTROL`
        (a chain of reset-less registers becomes an SRL16 shift register in Yosys, which
        takes a LUT site that its LUT count would not show)."""
        return (
            Signal(name=f"{name}_first", reset_less=not self.RESET_CONTROL),
            Signal(name=f"{name}_last", reset_less=not self.RESET_CONTROL),
        )

    def _stage(self, m: Module, en: Value, name: str, ctl: tuple) -> tuple:
        """Registered copies of a beat's control (valid, first, last)."""
        valid = Signal(name=f"{name}_valid")
        first, last = self._control_bits(name)
        with m.If(en):
            m.d.sync += [valid.eq(ctl[0]), first.eq(ctl[1]), last.eq(ctl[2])]
        return valid, first, last

    def _legal(self) -> Value:
        """What else an accepted beat must satisfy not to set ``error``: nothing here."""
        return C(1, 1)

    def _tree(self, m: Module, en: Value, ctl: tuple, platform: object) -> tuple[Value, tuple, int]:
        """SPEC 6's beat sum from the lane bits of :meth:`_lane_bits`: a Dadda tree with a
        register after every :data:`LEVELS_PER_STAGE` levels and after the last (one
        register even when no level is needed), then :data:`FINAL_ROWS` rows added.
        Returns the beat sum (mod ``2**beat_bits``), its control and the stage count."""
        spec, beat_bits = self.spec, self.beat_bits
        cols: list[list[Value]] = [[] for _ in range(beat_bits)]
        for j in range(spec.lanes):
            bits = self._lane_bits(m, j, self.i.payload)
            for col, bit in zip(self._lane_columns(), bits, strict=True):
                cols[col].append(bit)
        offset = self._offset() % (1 << beat_bits)
        for col in range(beat_bits):
            if (offset >> col) & 1:
                cols[col].append(C(1, 1))

        def stage(name: str, cols: list[list[Value]], ctl: tuple) -> tuple:
            new_cols = []
            for c, bits in enumerate(cols):
                if not bits:
                    new_cols.append([])
                    continue
                r = Signal(len(bits), name=f"{name}_c{c}", reset_less=True)
                with m.If(en):
                    m.d.sync += r.eq(Cat(*bits))
                new_cols.append(list(r))
            return new_cols, self._stage(m, en, name, ctl)

        targets = _dadda_targets(max(len(c) for c in cols))
        n_stage = 0
        for level, target in enumerate(targets):
            cols = _reduce_level(m, cols, target, f"l{level}")
            if (level + 1) % LEVELS_PER_STAGE == 0 or level + 1 == len(targets):
                cols, ctl = stage(f"t{n_stage}", cols, ctl)
                n_stage += 1
        if not targets:
            cols, ctl = stage("t0", cols, ctl)
            n_stage += 1
        rows = [Cat(*[(c[r] if len(c) > r else C(0, 1)) for c in cols]) for r in range(FINAL_ROWS)]
        return sum(rows), ctl, n_stage


# -- compressor tree (pure helpers, also used to plan the pipeline) ---------------------


def _column_heights(lanes: int, lane_cols: list[int], offset: int, width: int) -> list[int]:
    """Bits per column before reduction: every lane's bits plus the offset's ones."""
    heights = [0] * width
    for col in lane_cols:
        if col < width:
            heights[col] += lanes
    for col in range(width):
        heights[col] += (offset % (1 << width)) >> col & 1
    return heights


def _dadda_targets(height: int) -> list[int]:
    """Dadda's column-height limits, largest first, to reduce ``height`` rows to
    ``FINAL_ROWS`` (Dadda 1965: d_1 = 2, d_{k+1} = floor(1.5 d_k), started here at
    FINAL_ROWS)."""
    seq = [FINAL_ROWS]
    while seq[-1] < height:
        seq.append(seq[-1] * 3 // 2)
    return [d for d in reversed(seq) if d < height]


def _dadda_levels(height: int) -> int:
    return len(_dadda_targets(height))


def _reduce_level(m: Module, cols: list[list[Value]], target: int, name: str) -> list[list]:
    """One Dadda level: full and half adders so that no column exceeds ``target`` bits.
    Carries out of the top column are dropped (the sum is taken mod 2**len(cols))."""
    new: list[list[Value]] = [[] for _ in cols]
    carries_in = 0
    for c, bits in enumerate(cols):
        bits = list(bits)
        excess = len(bits) + carries_in - target
        n_fa, n_ha = (excess // 2, excess % 2) if excess > 0 else (0, 0)
        assert 3 * n_fa + 2 * n_ha <= len(bits), "Dadda limits keep every column reducible"
        carries_in = 0
        for k in range(n_fa + n_ha):
            if k < n_fa:
                x, y, z = bits[:3]
                bits = bits[3:]
                s_e, c_e = x ^ y ^ z, (x & y) | (x & z) | (y & z)
            else:
                x, y = bits[:2]
                bits = bits[2:]
                s_e, c_e = x ^ y, x & y
            s = Signal(name=f"{name}_c{c}_s{k}")
            m.d.comb += s.eq(s_e)
            new[c].append(s)
            if c + 1 < len(cols):
                cy = Signal(name=f"{name}_c{c}_c{k}")
                m.d.comb += cy.eq(c_e)
                new[c + 1].append(cy)
                carries_in += 1
        new[c].extend(bits)
    return new

"""The full-beat XNOR datapath: SPEC 6's xnor mode without the per-lane mask, for
streams whose every beat is full."""

from __future__ import annotations

from collections.abc import Callable

from amaranth import C, Cat, Const, Module, Signal, Value

from spec import DatapathSpec, Mode

from .compress import Plan, build_round, carry_chain, count_bit, is_xc7, lut, plan, xnor_pairs
from .xnor_acc import XnorAccumulator

__all__ = ["FullBeatXnorAccumulator"]


class FullBeatXnorAccumulator(XnorAccumulator):
    """XNOR-mode dot products of whole beats: every lane of every beat counts.

    The same ports, stream protocol, latency rule and sums as an xnor-only
    :class:`~hw.xnor_acc.XnorAccumulator` (SPEC 6) for dot products whose length is a
    multiple of ``lanes``; SPEC 6's per-lane mask is what it drops (docs/formats.md,
    section 6). A beat whose last lane is not valid (a partial, prefix-masked beat) or
    whose mode is not ``XNOR`` sets the sticky ``error``; what it adds is unspecified.
    Without the mask a beat's sum is ``2*popcount(~(a ^ w)) - lanes``: lanes are counted
    three at a time by one LUT pair, and the counts are added by carry chains
    (:mod:`hw.compress`), placed as LUT6/CARRY4 primitives on a Xilinx 7-series
    platform: 60 LUTs at 32 lanes against 155 for the masked xnor-only build.

    Who can use it: a stream whose producer pads every dot product to whole beats with
    elements that add zero. XNOR elements are +-1, so padding cannot add zero; it suits
    layers whose dot-product length is a multiple of ``lanes`` (a 3x3 convolution over a
    multiple of ``lanes`` channels, say). The board top answers RUN_DOT requests of any
    length in three modes from words the host does not control past ``n``, so it keeps
    the masked datapath.

    **Latency**: ``2 + rounds`` of the carry-chain schedule (at least one), 5 at
    lanes=32.

    Parameters
    ----------
    spec : DatapathSpec, optional
        Lanes and widths (``act_bits`` only sizes the ``a`` field: bit 0 of each lane is
        read); the default spec if omitted.

    Raises
    ------
    TypeError
        ``spec`` is not a :class:`~spec.DatapathSpec`.
    """

    RESET_CONTROL = True

    def __init__(self, spec: DatapathSpec | None = None):
        super().__init__(spec, modes=(Mode.XNOR,))

    def _columns(
        self, beat_bits: int, lanes_in_chain: bool
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Token columns (bits, and lane tokens) of ``2*popcount(xnor) - lanes``.

        Lanes ``3g .. 3g+2`` give tokens ``2g`` (their count's bit 0, column 1) and
        ``2g + 1`` (bit 1, column 2). The one or two lanes left over do the same, or,
        with ``lanes_in_chain``, are lane tokens ``2g``, ``2g + 1`` that a chain counts
        directly. The offset's ones are tokens from ``2 * lanes`` up.
        """
        lanes = self.spec.lanes
        cols: list[list[int]] = [[] for _ in range(beat_bits)]
        lane_cols: list[list[int]] = [[] for _ in range(beat_bits)]
        full, rest = divmod(lanes, 3)
        for g in range(full):
            cols[1].append(2 * g)
            cols[2].append(2 * g + 1)
        if rest and lanes_in_chain:
            lane_cols[1] += [2 * full + k for k in range(rest)]
        elif rest:
            cols[1].append(2 * full)
            if rest == 2:
                cols[2].append(2 * full + 1)
        offset = -lanes % (1 << beat_bits)
        for col in range(beat_bits):
            if (offset >> col) & 1:
                cols[col].append(2 * lanes + col)
        return cols, lane_cols

    def _tree_stages(self, beat_bits: int) -> int:
        """A register per carry-chain round (at least one)."""
        self._compress, self._lanes_in_chain = self._best_plan(beat_bits)
        return max(1, len(self._compress.rounds))

    def _legal(self) -> Value:
        """A beat must be full: a prefix-masked one lacks its last lane."""
        return self.i.payload.valid[-1]

    def _best_plan(self, beat_bits: int) -> tuple[Plan, bool]:
        """The carry-chain plan with the fewest LUTs (then rounds): leftover lanes
        (``lanes % 3``) counted by their own LUTs, or inside a chain when one can."""
        lanes = self.spec.lanes
        options = []
        for in_chain in (False, True) if lanes % 3 else (False,):
            cols, lane_cols = self._columns(beat_bits, in_chain)
            found = plan(cols, first_free=2 * lanes + beat_bits, lanes=lane_cols)
            if found is not None:
                leftover_luts = 0 if in_chain else lanes % 3
                luts = found.positions + leftover_luts
                options.append((luts, len(found.rounds), in_chain, found))
        _, _, in_chain, best = min(options, key=lambda o: o[:3])
        return best, in_chain

    def _tree(self, m: Module, en: Value, ctl: tuple, platform: object) -> tuple[Value, tuple, int]:
        """The beat sum of every lane, ``2*popcount(~(a ^ w)) - lanes``: a LUT pair per
        three lanes, then the carry-chain rounds of :mod:`hw.compress`, registered after
        each round (once when there is none)."""
        lanes, beat_bits = self.spec.lanes, self.beat_bits
        xc7 = is_xc7(platform)
        beat = self.i.payload
        value: dict[int, Value] = {}
        for g in range(-(-lanes // 3)):
            group = range(3 * g, min(3 * g + 3, lanes))
            if len(group) < 3 and self._lanes_in_chain:
                for k, j in enumerate(group):
                    value[2 * g + k] = Cat(beat.a[j][0], beat.w[j])
                continue
            ins = [v for j in group for v in (beat.a[j][0], beat.w[j])]
            value[2 * g] = lut(m, f"cnt{g}_b0", ins, _xnor_count_bit(0), xc7=xc7)
            if len(group) > 1:
                value[2 * g + 1] = lut(m, f"cnt{g}_b1", ins, _xnor_count_bit(1), xc7=xc7)
        for col in range(beat_bits):
            value[2 * lanes + col] = C(1, 1)
        compress: Plan = self._compress
        n_stage = 0
        for k, chains in enumerate([*compress.rounds] or [()]):
            build_round(m, f"r{k}", chains, value, xc7=xc7)
            live = compress.needed_after(k)
            for t, v in list(value.items()):
                if t not in live:
                    del value[t]
                elif not isinstance(v, Const):
                    r = Signal(len(v), name=f"t{k}_{t}")  # reset: no SRL16
                    with m.If(en):
                        m.d.sync += r.eq(v)
                    value[t] = r
            ctl = self._stage(m, en, f"t{k}", ctl)
            n_stage += 1
        row = Cat(*(value[t] if t is not None else C(0, 1) for t in compress.row))
        return row, ctl, n_stage

    def _accumulate(
        self, m: Module, acc: Value, first: Value, beat: Value, platform: object
    ) -> Value:
        """``(first ? 0 : acc) + beat``. On Xilinx 7-series, one carry chain whose
        position LUTs compute ``(acc & ~first) ^ beat`` with the beat bit (a register) on
        DI: one LUT per accumulator bit, none for bit 0 when the lane count is even
        (every beat sum ``2*popcount - lanes`` is even, so it stays 0)."""
        if not is_xc7(platform):
            return super()._accumulate(m, acc, first, beat, platform)
        width, low = len(acc), 1 - self.spec.lanes % 2
        ext = [beat[min(i, len(beat) - 1)] for i in range(low, width)]
        terms = [([first, acc[i]], lambda f, x: x & (f ^ 1)) for i in range(low, width)]
        return Cat(C(0, low), carry_chain(m, "acc", ext, terms, C(0, 1), xc7=True)[: width - low])


def _xnor_count_bit(k: int) -> Callable[..., Value | int]:
    """Bit ``k`` of the number of matching (weight, activation) pairs among its
    arguments, given as ``a0, w0, a1, w1, ...``: one LUT of a lane group."""
    return lambda *aw: count_bit(xnor_pairs(aw, 0), k)

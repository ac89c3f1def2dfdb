"""The engine's ``lanes x lanes`` add/subtract array (no multiplier: binary weights)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MacArray"]

#: Codes summed per adder tree before a register.
CHUNK = 4


class MacArray(wiring.Component):
    """Accumulates, for each output lane ``q``, ``sum_p (w[q][p] ? +code[p] : -code[p])``
    over the steps of one output: ``en`` adds a step, ``first`` starts the sums afresh
    with it. A step shows on ``acc`` :attr:`latency` cycles after it is presented, one
    step a cycle.

    Each sum is ``2 * sum_{w=1} code - sum code``: the masked sums need only AND gates
    in front of the adders, and the plain sum is shared by every output lane. The
    trees are registered every :data:`CHUNK` codes, so that the array meets 100 MHz.

    Parameters
    ----------
    lanes : int
        Input and output lanes.
    code_bits : int
        Width of the unsigned codes.
    acc_bits : int
        Signed width of the sums (the caller bounds them: ``ConvLayer.acc_bound``).

    Attributes
    ----------
    codes : In(ArrayLayout(unsigned(code_bits), lanes))
        One code per input lane.
    weights : In(lanes * lanes)
        Bit ``q * lanes + p``: the weight of input ``p`` into output ``q`` (1 = +1).
    en, first : In(1)
        Add this step; start afresh with it.
    acc : Out(ArrayLayout(signed(acc_bits), lanes))
        The sums.
    latency : int
        Cycles from a step to its sum on ``acc`` (not a port).
    """

    latency = 3

    def __init__(self, *, lanes: int, code_bits: int, acc_bits: int):
        self.lanes, self.code_bits, self.acc_bits = lanes, code_bits, acc_bits
        super().__init__(
            {
                "codes": In(data.ArrayLayout(unsigned(code_bits), lanes)),
                "weights": In(lanes * lanes),
                "en": In(1),
                "first": In(1),
                "acc": Out(data.ArrayLayout(signed(acc_bits), lanes)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n, bits = self.lanes, self.code_bits
        chunks = [range(c, min(c + CHUNK, n)) for c in range(0, n, CHUNK)]
        part_bits = bits + max(len(c) for c in chunks).bit_length()
        sum_bits = bits + n.bit_length()

        def tree(name: str, terms: list) -> Signal:
            total = Signal(unsigned(sum_bits), name=name)
            m.d.comb += total.eq(sum(terms))
            return total

        # Stage 1: per chunk, the masked sums of every output lane and the plain sum.
        plain = [Signal(part_bits, name=f"plain{c}") for c in range(len(chunks))]
        masked = [[Signal(part_bits, name=f"masked{q}_{c}") for c in range(len(chunks))]
                  for q in range(n)]  # fmt: skip
        en1, first1 = Signal(), Signal()
        m.d.sync += [en1.eq(self.en), first1.eq(self.first)]
        for c, chunk in enumerate(chunks):
            m.d.sync += plain[c].eq(tree(f"plain_t{c}", [self.codes[p] for p in chunk]))
            for q in range(n):
                terms = [Mux(self.weights[q * n + p], self.codes[p], 0) for p in chunk]
                m.d.sync += masked[q][c].eq(tree(f"masked_t{q}_{c}", terms))

        # Stage 2: the whole sums.
        plain2 = Signal(sum_bits)
        masked2 = [Signal(sum_bits, name=f"masked2_{q}") for q in range(n)]
        en2, first2 = Signal(), Signal()
        m.d.sync += [en2.eq(en1), first2.eq(first1), plain2.eq(sum(plain))]
        m.d.sync += [masked2[q].eq(sum(masked[q])) for q in range(n)]

        # Stage 3: accumulate.
        for q in range(n):
            step = Signal(signed(sum_bits + 2), name=f"step{q}")
            m.d.comb += step.eq((masked2[q] << 1) - plain2)
            with m.If(en2):
                m.d.sync += self.acc[q].eq(Mux(first2, 0, self.acc[q]) + step)
        return m

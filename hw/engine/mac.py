"""The engine's ``lanes x lanes`` add/subtract array (no multiplier: binary weights)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MacArray"]


class MacArray(wiring.Component):
    """Accumulates, for each output lane ``q``, ``sum_p (w[q][p] ? +code[p] : -code[p])``
    over the cycles of one output: ``en`` adds a step, ``first`` starts the sums afresh
    with it. The sums are registered: a step's contribution shows on ``acc`` the cycle
    after it.

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
    """

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
        n = self.lanes
        for q in range(n):
            terms = []
            for p in range(n):
                code = self.codes[p]
                t = Signal(signed(self.code_bits + 1), name=f"t{q}_{p}")
                m.d.comb += t.eq(Mux(self.weights[q * n + p], code, -code))
                terms.append(t)
            step = Signal(signed(self.acc_bits), name=f"step{q}")
            m.d.comb += step.eq(sum(terms))
            with m.If(self.en):
                m.d.sync += self.acc[q].eq(Mux(self.first, 0, self.acc[q]) + step)
        return m

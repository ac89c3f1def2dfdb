"""The engine's requantization unit: ``lanes`` copies of the format's one rule."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RequantUnit"]


class RequantUnit(wiring.Component):
    """``y = floor((x * M + C) / 2**shift)``, clamped to ``0..hi`` when ``clamp``, per
    lane (``docs/formats.md`` section 6c); combinational (a DSP multiply and an add).

    Parameters
    ----------
    lanes : int
        Lanes.
    x_bits, mult_bits, add_bits, shift_bits, y_bits : int
        Signed widths of ``x``, ``M``, ``C`` and ``y``; width of ``shift``. The caller
        sizes them from the network's worst cases (``model.intnet.bounds``).

    Attributes
    ----------
    x, mult, add : In(ArrayLayout(signed(...), lanes))
        Inputs and the rule's per-lane integers.
    shift : In(shift_bits)
        The rule's shift.
    clamp : In(1)
        Clamp to ``0..hi`` (a code); ``hi`` (In(y_bits)) its top.
    y : Out(ArrayLayout(signed(y_bits), lanes))
        Results.
    """

    def __init__(self, *, lanes: int, x_bits: int, mult_bits: int, add_bits: int,
                 shift_bits: int, y_bits: int):  # fmt: skip
        self.lanes = lanes
        self.widths = (x_bits, mult_bits, add_bits)
        super().__init__(
            {
                "x": In(data.ArrayLayout(signed(x_bits), lanes)),
                "mult": In(data.ArrayLayout(signed(mult_bits), lanes)),
                "add": In(data.ArrayLayout(signed(add_bits), lanes)),
                "shift": In(shift_bits),
                "clamp": In(1),
                "hi": In(y_bits),
                "y": Out(data.ArrayLayout(signed(y_bits), lanes)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        x_bits, mult_bits, add_bits = self.widths
        wide = max(x_bits + mult_bits, add_bits) + 1
        for j in range(self.lanes):
            total = Signal(signed(wide), name=f"total{j}")
            m.d.comb += total.eq(self.x[j] * self.mult[j] + self.add[j])
            shifted = Signal(signed(wide), name=f"shifted{j}")
            m.d.comb += shifted.eq(total >> self.shift)  # arithmetic: floor
            hi = self.hi
            clamped = Mux(shifted < 0, 0, Mux(shifted > hi, hi, shifted))
            m.d.comb += self.y[j].eq(Mux(self.clamp, clamped, shifted))
        return m

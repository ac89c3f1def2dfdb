"""The engine's post-operation: ``lanes`` copies of the format's one rule, and the
residual add."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RequantUnit"]


class RequantUnit(wiring.Component):
    """``y = shortcut + floor((x * M + C) / 2**shift)``, or that floor clamped to
    ``0..hi`` when ``clamp`` (a code), per lane (``docs/formats.md`` section 6c).
    Pipelined: the product (a DSP multiply and add) is registered, then the shift,
    clamp and add; ``y`` shows the inputs of a cycle :attr:`latency` cycles later,
    ``valid`` and ``tag`` with it.

    Parameters
    ----------
    lanes : int
        Lanes.
    x_bits, mult_bits, add_bits, shift_bits, y_bits : int
        Signed widths of ``x``, ``M``, ``C`` and ``y`` (``shortcut`` too); width of
        ``shift``. The caller sizes them from the network's worst cases
        (``model.intnet.bounds``).
    tag_bits : int
        Width of ``tag``, carried along (the engine's output address).

    Attributes
    ----------
    x, mult, add, shortcut : In(ArrayLayout(signed(...), lanes))
        Inputs, the rule's per-lane integers and what to add the result to.
    shift : In(shift_bits)
        The rule's shift; with ``clamp`` and ``hi`` (In(y_bits)), held for a pass.
    valid, tag : In
        Carried along to ``y_valid`` and ``y_tag``.
    y : Out(ArrayLayout(signed(y_bits), lanes))
        Results.
    """

    latency = 2

    def __init__(self, *, lanes: int, x_bits: int, mult_bits: int, add_bits: int,
                 shift_bits: int, y_bits: int, tag_bits: int = 1):  # fmt: skip
        self.lanes = lanes
        self.widths = (x_bits, mult_bits, add_bits)
        super().__init__(
            {
                "x": In(data.ArrayLayout(signed(x_bits), lanes)),
                "mult": In(data.ArrayLayout(signed(mult_bits), lanes)),
                "add": In(data.ArrayLayout(signed(add_bits), lanes)),
                "shortcut": In(data.ArrayLayout(signed(y_bits), lanes)),
                "shift": In(shift_bits),
                "clamp": In(1),
                "hi": In(y_bits),
                "valid": In(1),
                "tag": In(tag_bits),
                "y": Out(data.ArrayLayout(signed(y_bits), lanes)),
                "y_valid": Out(1),
                "y_tag": Out(tag_bits),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        x_bits, mult_bits, add_bits = self.widths
        wide = max(x_bits + mult_bits, add_bits) + 1
        valid1, tag1 = Signal(), Signal.like(self.tag)
        m.d.sync += [valid1.eq(self.valid), tag1.eq(self.tag)]
        m.d.sync += [self.y_valid.eq(valid1), self.y_tag.eq(tag1)]
        for j in range(self.lanes):
            total = Signal(signed(wide), name=f"total{j}")
            shortcut = Signal.like(self.shortcut[j], name=f"shortcut{j}")
            m.d.sync += [total.eq(self.x[j] * self.mult[j] + self.add[j]),
                         shortcut.eq(self.shortcut[j])]  # fmt: skip
            shifted = Signal(signed(wide), name=f"shifted{j}")
            m.d.comb += shifted.eq(total >> self.shift)  # arithmetic: floor
            hi = self.hi
            clamped = Mux(shifted < 0, 0, Mux(shifted > hi, hi, shifted))
            m.d.sync += self.y[j].eq(Mux(self.clamp, clamped, shortcut + shifted))
        return m

"""The engine's post-operation: ``lanes`` copies of the format's one rule, and the
residual add."""

from __future__ import annotations

from amaranth.hdl import C, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RequantUnit"]

#: Bits of ``x`` per partial product: an unsigned 17-bit piece, zero-extended, is the
#: signed 18-bit operand of one ECP5 MULT18X18D or Xilinx DSP48E1 port.
CHUNK_BITS = 17


def _chunks(x: Value, x_bits: int) -> list[tuple[int, Value]]:
    """``x`` (signed, ``x_bits`` wide) as ``(low bit, signed piece)`` pairs whose
    weighted sum is ``x``: unsigned 17-bit pieces zero-extended, the top one signed.
    ``x * M`` as a sum of such products needs no adder between a DSP block and its
    output register, where one wide product does (the ECP5's path at 90 MHz)."""
    pieces = []
    for low in range(0, x_bits, CHUNK_BITS):
        high = min(low + CHUNK_BITS, x_bits)
        bits = x[low:high]
        pieces.append((low, bits.as_signed() if high == x_bits else Cat(bits, C(0, 1)).as_signed()))
    return pieces


class RequantUnit(wiring.Component):
    """``y = shortcut + floor((x * M + C) / 2**shift)``, or that floor clamped to
    ``0..hi`` when ``clamp`` (a code), per lane (``docs/formats.md`` section 6c).
    Four registered stages (the partial products in DSP blocks, their sum and the
    offset, the shift, the clamp or add), so that each meets 100 MHz on an ECP5:
    ``y`` shows the inputs of a cycle :attr:`latency` cycles later, ``valid`` and
    ``tag`` with it.

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

    latency = 4

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
        # valid and tag through the four stages
        valid, tag = [self.valid], [self.tag]
        for k in range(self.latency - 1):
            valid.append(Signal(name=f"valid{k + 1}"))
            tag.append(Signal.like(self.tag, name=f"tag{k + 1}"))
            m.d.sync += [valid[-1].eq(valid[-2]), tag[-1].eq(tag[-2])]
        m.d.sync += [self.y_valid.eq(valid[-1]), self.y_tag.eq(tag[-1])]
        for j in range(self.lanes):
            # 1: the partial products, one DSP multiply each, registered; the offset and
            # shortcut wait.
            parts = []
            for k, (low, chunk) in enumerate(_chunks(self.x[j], x_bits)):
                part = Signal(signed(len(chunk) + mult_bits), name=f"product{j}_{k}")
                m.d.sync += part.eq(chunk * self.mult[j])
                parts.append(part if low == 0 else part << low)
            add1 = Signal.like(self.add[j], name=f"add{j}")
            sc = [Signal.like(self.shortcut[j], name=f"shortcut{j}_{k}") for k in range(3)]
            m.d.sync += [add1.eq(self.add[j]), sc[0].eq(self.shortcut[j]), sc[1].eq(sc[0]),
                         sc[2].eq(sc[1])]  # fmt: skip
            # 2: their sum plus the offset.
            total = Signal(signed(wide), name=f"total{j}")
            m.d.sync += total.eq(sum(parts, add1))
            # 3: the shift (arithmetic: floor).
            shifted = Signal(signed(wide), name=f"shifted{j}")
            m.d.sync += shifted.eq(total >> self.shift)
            # 4: the clamp into a code, or the residual add.
            hi = self.hi
            clamped = Mux(shifted < 0, 0, Mux(shifted > hi, hi, shifted))
            m.d.sync += self.y[j].eq(Mux(self.clamp, clamped, sc[2] + shifted))
        return m

"""The engine's window walker: the read addresses of a pass, one step a cycle."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Geometry", "Step", "WindowWalker"]


def Geometry(size_bits: int, group_bits: int, addr_bits: int) -> data.StructLayout:
    """A pass's window geometry (fields as in :class:`spec.engine.Pass`):
    ``in_groups`` input groups summed per tap (1 for a window pass), ``src_groups``
    words per source pixel, ``out_groups`` output words per output pixel, ``read_go``
    (read the output's own group, a window pass), ``steps`` (``kernel**2 * in_groups``)
    and ``wbase`` (the first weight word)."""
    return data.StructLayout(
        {
            "size_in": unsigned(size_bits),
            "size_out": unsigned(size_bits),
            "kernel": unsigned(2),
            "stride2": unsigned(1),
            "in_groups": unsigned(group_bits),
            "src_groups": unsigned(group_bits),
            "out_groups": unsigned(group_bits),
            "row_words": unsigned(addr_bits),
            "read_go": unsigned(1),
            "steps": unsigned(addr_bits),
            "wbase": unsigned(addr_bits),
        }
    )


def Step(group_bits: int, addr_bits: int) -> data.StructLayout:
    """One step: ``addr`` (source word; meaningless unless ``inside``), ``inside`` (the
    tap lies in the map, else it reads the padding), ``waddr`` (weight word),
    ``first``/``last`` (of an output), ``out`` (the output word) and ``go`` (its
    group)."""
    return data.StructLayout(
        {
            "valid": unsigned(1),
            "first": unsigned(1),
            "last": unsigned(1),
            "inside": unsigned(1),
            "addr": unsigned(addr_bits),
            "waddr": unsigned(addr_bits),
            "out": unsigned(addr_bits),
            "go": unsigned(group_bits),
        }
    )


class WindowWalker(wiring.Component):
    """Walks a pass: for every output pixel (row-major) and output group, every tap
    ``(ky, kx)`` and input group, one step a cycle. The source word of tap
    ``(ky, kx)`` of output ``(oy, ox)`` is pixel ``(oy * stride + ky - kernel // 2,
    ox * stride + kx - kernel // 2)``, group ``gi`` (or ``go`` with ``read_go``), at
    ``(iy * size_in + ix) * src_groups + group``; a tap outside the map, or a group past
    ``src_groups``, reads the padding (``inside`` low).

    ``start`` (a pulse, with ``geometry`` held for the whole pass) begins; steps come out
    on ``step`` three cycles later, one a cycle with ``valid`` high (the position, the
    products of the address, the address: each stage registered). ``busy`` is high
    while steps remain to be issued: the last one is on ``step`` three cycles after it
    falls.

    Parameters
    ----------
    size_bits, group_bits, addr_bits : int
        Widths of a map's side, a group count and a word address.
    """

    def __init__(self, *, size_bits: int, group_bits: int, addr_bits: int):
        self.widths = (size_bits, group_bits, addr_bits)
        super().__init__(
            {
                "geometry": In(Geometry(size_bits, group_bits, addr_bits)),
                "start": In(1),
                "busy": Out(1),
                "step": Out(Step(group_bits, addr_bits)),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        size_bits, group_bits, addr_bits = self.widths
        g = self.geometry
        oy, ox, ky, kx = (Signal(size_bits, name=n) for n in ("oy", "ox", "ky", "kx"))
        go, gi = Signal(group_bits), Signal(group_bits)
        out, s, wgo = Signal(addr_bits), Signal(addr_bits), Signal(addr_bits)
        running = Signal()

        # Stage 1: the tap's position and whether it lies in the map.
        pad = g.kernel >> 1
        iy = Signal(signed(size_bits + 2))
        ix = Signal(signed(size_bits + 2))
        m.d.comb += [
            iy.eq(Mux(g.stride2, oy << 1, oy) + ky - pad),
            ix.eq(Mux(g.stride2, ox << 1, ox) + kx - pad),
        ]
        group = Mux(g.read_go, go, gi)
        a = Signal(Step(group_bits, addr_bits))
        ay, ax, agroup = Signal(size_bits), Signal(size_bits), Signal(group_bits)
        last_gi, last_kx, last_ky = gi == g.in_groups - 1, kx == g.kernel - 1, ky == g.kernel - 1
        last_go = go == g.out_groups - 1
        last_ox, last_oy = ox == g.size_out - 1, oy == g.size_out - 1
        last = last_gi & last_kx & last_ky
        inside = (iy >= 0) & (iy < g.size_in) & (ix >= 0) & (ix < g.size_in)
        inside &= group < g.src_groups
        m.d.sync += [
            a.valid.eq(running),
            a.first.eq((gi == 0) & (kx == 0) & (ky == 0)),
            a.last.eq(last),
            a.inside.eq(inside),
            a.waddr.eq(wgo + s),
            a.out.eq(out),
            a.go.eq(go),
            ay.eq(iy),
            ax.eq(ix),
            agroup.eq(group),
        ]
        # Stage 2: the products (DSP blocks, registered); stage 3: the word address.
        b = Signal.like(a)
        row, column, bgroup = Signal(addr_bits), Signal(addr_bits), Signal(group_bits)
        m.d.sync += [
            b.eq(a),
            row.eq(ay * g.row_words),
            column.eq(ax * g.src_groups),
            bgroup.eq(agroup),
        ]
        m.d.sync += [self.step.eq(b), self.step.addr.eq(row + column + bgroup)]

        m.d.comb += self.busy.eq(running)
        with m.If(self.start):
            m.d.sync += [running.eq(1), oy.eq(0), ox.eq(0), go.eq(0), ky.eq(0), kx.eq(0),
                         gi.eq(0), out.eq(0), s.eq(0), wgo.eq(g.wbase)]  # fmt: skip
        with m.Elif(running):
            m.d.sync += [gi.eq(Mux(last_gi, 0, gi + 1)), s.eq(Mux(last, 0, s + 1))]
            with m.If(last_gi):
                m.d.sync += kx.eq(Mux(last_kx, 0, kx + 1))
                with m.If(last_kx):
                    m.d.sync += ky.eq(Mux(last_ky, 0, ky + 1))
            with m.If(last):
                m.d.sync += [out.eq(out + 1), go.eq(Mux(last_go, 0, go + 1)),
                             wgo.eq(Mux(last_go, g.wbase, wgo + g.steps))]  # fmt: skip
                with m.If(last_go):
                    m.d.sync += ox.eq(Mux(last_ox, 0, ox + 1))
                    with m.If(last_ox):
                        m.d.sync += oy.eq(Mux(last_oy, 0, oy + 1))
                        with m.If(last_oy):
                            m.d.sync += running.eq(0)
        return m

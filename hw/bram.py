"""Block RAM with one write port and one read port, read latency 1 or 2.

Latency 2 registers the read data a second time: where block RAM has an output register
(Lattice ECP5's DP16KD ``REGMODE = "OUTREG"``), that register is the RAM's own, and the
read path's clock-to-out drops from 5.83 ns to 0.96 ns in nextpnr's ECP5 model. Yosys
(0.70) never infers that register from RTL (YosysHQ/yosys#5814: "only available through
explicit primitive instantiation"), so on an ECP5 platform this block instantiates
DP16KD itself; elsewhere it is an :class:`amaranth.lib.memory.Memory` read port plus a
register, which Yosys maps to block RAM (and, on 7 series, to the RAMB36 output register).
"""

from __future__ import annotations

import functools

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ECP5_MAX_DEPTH", "BlockRAM", "dp16kd_mode"]

#: DP16KD port widths and their depths (Lattice TN1264, ECP5 memory usage guide).
_DP16KD_MODES = ((18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
#: Deepest memory the ECP5 path tiles (one DP16KD row); deeper ones use the generic path.
ECP5_MAX_DEPTH = 16384


def dp16kd_mode(depth: int) -> tuple[int, int]:
    """The widest DP16KD port ``(width, address LSB)`` that holds ``depth`` words.

    A DP16KD has a 14-bit address ``AD[13:0]``; a ``width``-bit port uses
    ``AD[13:lsb]`` (x18: ``AD[13:4]``, its write port taking byte enables on
    ``AD[1:0]``; x9: ``AD[13:3]``; x4: ``AD[13:2]``; x2: ``AD[13:1]``; x1: all).
    """
    for (width, cap), lsb in zip(_DP16KD_MODES, (4, 3, 2, 1, 0), strict=True):
        if depth <= cap:
            return width, lsb
    raise ValueError(f"depth must be at most {ECP5_MAX_DEPTH} for one DP16KD row, not {depth}")


def _is_ecp5(platform: object) -> bool:
    return getattr(platform, "family", None) == "ecp5"


class BlockRAM(wiring.Component):
    """``depth`` words of ``width`` bits; write and read in the same clock domain.

    **Write**: in a cycle with ``w_en``, word ``w_addr`` becomes ``w_data`` at the edge.
    **Read**: with ``r_en`` high in cycle ``t``, ``r_data`` shows the word at ``r_addr``
    in cycle ``t + read_latency``; ``r_en`` low holds every stage of the read pipeline
    (so a stalled consumer loses nothing). Reading the address written in the same cycle
    gives the old word on the generic path and is not defined on ECP5 (DP16KD collision):
    callers must not rely on it.

    Parameters
    ----------
    width, depth : int
        Word width and count (positive).
    read_latency : int
        1 or 2 (see the module docstring).
    """

    def __init__(self, *, width: int, depth: int, read_latency: int = 1) -> None:
        for name, value in (("width", width), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if read_latency not in (1, 2):
            raise ValueError(f"read_latency must be 1 or 2, not {read_latency!r}")
        self.width, self.depth, self.read_latency = width, depth, read_latency
        super().__init__(
            {
                "w_addr": In(range(depth)),
                "w_data": In(width),
                "w_en": In(1),
                "r_addr": In(range(depth)),
                "r_en": In(1),
                "r_data": Out(width),
            }
        )

    @functools.cached_property
    def mem(self) -> memory.Memory:
        """The generic path's memory: what a simulation reads the words from. (Made on
        first use: an ECP5 build never elaborates it.)"""
        return memory.Memory(shape=unsigned(self.width), depth=self.depth, init=[])

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.read_latency == 2 and _is_ecp5(platform) and self.depth <= ECP5_MAX_DEPTH:
            self._dp16kd(m)
            return m
        m.submodules.mem = mem = self.mem
        wr, rd = mem.write_port(), mem.read_port()
        m.d.comb += [
            wr.addr.eq(self.w_addr),
            wr.data.eq(self.w_data),
            wr.en.eq(self.w_en),
            rd.addr.eq(self.r_addr),
            rd.en.eq(self.r_en),
        ]
        if self.read_latency == 1:
            m.d.comb += self.r_data.eq(rd.data)
        else:
            with m.If(self.r_en):
                m.d.sync += self.r_data.eq(rd.data)
        return m

    def _dp16kd(self, m: Module) -> None:
        """Columns of DP16KD side by side, port A writing, port B reading (OUTREG)."""
        width, lsb = dp16kd_mode(self.depth)
        abits = 14 - lsb
        low = [Const(1, 1)] * 2 + [Const(0, 1)] * (lsb - 2) if width == 18 else [Const(0, 1)] * lsb
        w_ad = Cat(*low, self.w_addr, Const(0, abits))[:14]
        r_ad = Cat(Const(0, lsb), self.r_addr, Const(0, abits))[:14]
        outs = []
        for col in range(-(-self.width // width)):
            data = self.w_data[col * width : (col + 1) * width]
            do = Signal(18, name=f"do{col}")
            ports = {
                "p_DATA_WIDTH_A": width,
                "p_DATA_WIDTH_B": width,
                "p_REGMODE_A": "NOREG",
                "p_REGMODE_B": "OUTREG",
                "p_WRITEMODE_A": "NORMAL",
                "p_WRITEMODE_B": "NORMAL",
                "p_CSDECODE_A": "0b000",
                "p_CSDECODE_B": "0b000",
                "i_CLKA": ClockSignal(),
                "i_CLKB": ClockSignal(),
                "i_CEA": 1,
                "i_OCEA": 1,
                "i_WEA": self.w_en,
                "i_RSTA": 0,
                "i_CEB": self.r_en,
                "i_OCEB": self.r_en,
                "i_WEB": 0,
                "i_RSTB": 0,
            }
            for k in range(3):
                ports[f"i_CSA{k}"] = 0
                ports[f"i_CSB{k}"] = 0
            for k in range(14):
                ports[f"i_ADA{k}"] = w_ad[k]
                ports[f"i_ADB{k}"] = r_ad[k]
            for k in range(18):
                ports[f"i_DIA{k}"] = data[k] if k < len(data) else 0
                ports[f"i_DIB{k}"] = 0
                ports[f"o_DOB{k}"] = do[k]
            m.submodules[f"ebr{col}"] = Instance("DP16KD", **ports)
            outs.append(do[: len(data)])
        m.d.comb += self.r_data.eq(Cat(*outs))

"""The FPGAs of the supported boards: what the board build reports utilization against
and what the estimator's fit answers use, defined once (vendor data sheets cited)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FPGAS", "Fpga"]

_KIB = 1024


@dataclass(frozen=True)
class Fpga:
    """One board's FPGA: logic, flip-flops, block RAM and DSP blocks.

    ``lut6`` is 0 for LUT4 devices (iCE40, ECP5) and ``bram36`` 0 outside Xilinx;
    ``bram_bits`` counts every device's block RAM in bits.
    """

    name: str
    device: str
    lut6: int
    ff: int
    bram36: int
    bram_bits: int
    dsp: int
    source: str


#: Board name -> its FPGA.
FPGAS: dict[str, Fpga] = {
    "arty_a7_35": Fpga(
        "arty_a7_35", "XC7A35T", 20_800, 41_600, 50, 50 * 36 * _KIB, 90,
        "Xilinx DS180 (7 Series overview), Artix-7 table: 50 RAMB36, 90 DSP48E1",
    ),
    "arty_a7_100": Fpga(
        "arty_a7_100", "XC7A100T", 63_400, 126_800, 135, 135 * 36 * _KIB, 240,
        "Xilinx DS180 (7 Series overview), Artix-7 table: 135 RAMB36, 240 DSP48E1",
    ),
    "icebreaker": Fpga(
        "icebreaker", "iCE40UP5K", 0, 5_280, 0, 30 * 4 * _KIB, 8,
        "Lattice FPGA-DS-02008 (iCE40 UltraPlus): 30 EBR x 4 Kib (SPRAM not counted), 8 DSP",
    ),
    "ulx3s": Fpga(
        "ulx3s", "LFE5U-85F", 0, 83_640, 0, 208 * 18 * _KIB, 156,
        "Lattice FPGA-DS-02012 (ECP5): 208 EBR x 18 Kib, 156 18x18 multipliers",
    ),
}  # fmt: skip

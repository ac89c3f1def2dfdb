"""The shared-source :class:`hw.binarizer.StochasticBinarizer` elaborated for Xilinx
7-series (each comparator a carry chain of LUT6 and CARRY4 primitives, the phase
shifter's taps in its LUTs: :meth:`~hw.binarizer.StochasticBinarizer._below_shared`)
and for ECP5 (the state's clock enable one slice of LUT4 and PFUMX primitives:
:func:`hw.compress.mux_lut`) equals the same block elaborated generically, cycle by
cycle, in Icarus.

The generic build is checked against :func:`model.binarize.binarize` in ``tests/hw`` and
in the cocotb cosimulation; this checks the primitive netlist against it. Both get the
same random codes (a tenth all zero, a tenth all ones, so that the chains carry end to
end), random valid/ready stalls and now and then a seed load (a sixteenth of them zero;
each good one busies the binarizer for its warm-up), and every output is compared on
every cycle.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hw.binarizer import StochasticBinarizer

from .tb.primitives import both_builds, run_side_by_side

CYCLES = 3000

TESTBENCH = """
`timescale 1ns/1ps
module tb;
  localparam PW = {payload_bits}, L = {lanes};
  reg clk = 0, rst = 1, i_valid = 0, o_ready = 0, load = 0, accepted = 0;
  reg [PW-1:0] pay = 0;
  reg [63:0] seed_in = 0;
  wire g_ready, g_ovalid, g_busy, g_err, x_ready, x_ovalid, x_busy, x_err;
  wire [L-1:0] g_bits, x_bits;
  dut_generic g(.clk(clk), .rst(rst), .i__valid(i_valid), .i__payload(pay),
    .o__ready(o_ready), .seed(seed_in), .load(load), .i__ready(g_ready),
    .o__valid(g_ovalid), .o__payload(g_bits), .busy(g_busy), .seed_error(g_err));
  dut_{family} x(.clk(clk), .rst(rst), .i__valid(i_valid), .i__payload(pay),
    .o__ready(o_ready), .seed(seed_in), .load(load), .i__ready(x_ready),
    .o__valid(x_ovalid), .o__payload(x_bits), .busy(x_busy), .seed_error(x_err));
  integer cycle, j, kind, beats = 0, loads = 0, seed = {seed};
  always #5 clk = ~clk;
  always @(posedge clk) accepted <= i_valid & g_ready;
  initial begin
    repeat (3) @(negedge clk);
    rst = 0;
    for (cycle = 0; cycle < {cycles}; cycle = cycle + 1) begin
      @(negedge clk);
      if ({{g_ready, g_ovalid, g_busy, g_err}} !== {{x_ready, x_ovalid, x_busy, x_err}}
          || (g_ovalid && g_bits !== x_bits)) begin
        $display("MISMATCH cycle %0d: generic %b%b%b%b %h, {family} %b%b%b%b %h", cycle,
          g_ready, g_ovalid, g_busy, g_err, g_bits, x_ready, x_ovalid, x_busy, x_err, x_bits);
        $finish;
      end
      if (g_ovalid && o_ready) beats = beats + 1;
      if (!i_valid || accepted) begin
        i_valid = ($random(seed) & 7) < 6;
        kind = $random(seed) & 15;
        for (j = 0; j < PW; j = j + 1) pay[j] = kind == 0 ? 0 : kind == 1 ? 1 : $random(seed);
      end
      load = ($random(seed) & 255) == 0;
      if (load) begin
        loads = loads + 1;
        seed_in = {{$random(seed), $random(seed)}};
        if (($random(seed) & 15) == 0) seed_in = 0;
      end
      o_ready = ($random(seed) & 7) < 6;
    end
    $display("DONE beats %0d loads %0d", beats, loads);
    $finish;
  end
endmodule
"""


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
@pytest.mark.parametrize(
    ("family", "lanes", "act_bits"),
    [("xc7", 1, 8), ("xc7", 3, 4), ("xc7", 33, 2), ("xc7", 5, 1), ("ecp5", 33, 2)],
)
def test_primitives_equal_generic(family: str, lanes: int, act_bits: int, tmp_path: Path) -> None:
    def build() -> StochasticBinarizer:
        return StochasticBinarizer(lanes=lanes, act_bits=act_bits, seed=0xACE1, source="shared")

    generic, vendor = both_builds(build, family)
    primitive = {"xc7": r"\bCARRY4\b", "ecp5": r"\bPFUMX\b"}[family]
    assert re.search(primitive, vendor) and not re.search(primitive, generic)
    testbench = TESTBENCH.format(payload_bits=lanes * act_bits, lanes=lanes, cycles=CYCLES,
                                 seed=lanes * 16 + act_bits, family=family)  # fmt: skip
    out = run_side_by_side(tmp_path, generic, vendor, testbench, family)
    done = re.search(r"DONE beats (\d+) loads (\d+)", out)
    assert done, out
    assert int(done[1]) >= CYCLES // 4 and int(done[2]) >= CYCLES // 512

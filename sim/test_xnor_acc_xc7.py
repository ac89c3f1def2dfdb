"""The :class:`hw.xnor_full.FullBeatXnorAccumulator` elaborated for Xilinx 7-series (LUT
and CARRY4 primitives placed by :mod:`hw.compress`) equals the same block elaborated
generically, cycle by cycle, in Icarus with Yosys's simulation models of the primitives.

The generic build is checked against :func:`model.xnor_acc.dot` in ``tests/hw``; this
closes the loop for the primitive netlist, whose LUT INIT values and carry wiring the
Amaranth simulator cannot run. Both builds get the same random beats (a tenth all
matching, a tenth all mismatching, so that the chains carry end to end; now and then a
partial mask or a bad mode, which sets ``error``) under random valid/ready stalls, and
every output is compared on every cycle.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hw.xnor_acc import beat_layout
from hw.xnor_full import FullBeatXnorAccumulator
from spec import DatapathSpec, Mode

from .tb.primitives import both_builds, run_side_by_side

CYCLES = 4000

TESTBENCH = """
`timescale 1ns/1ps
module tb;
  localparam L = {lanes}, AB = {act_bits}, PW = {payload_bits};
  reg clk = 0, rst = 1, i_valid = 0, o_ready = 0, accepted = 0;
  reg [1:0] mode = {xnor};
  reg [PW-1:0] pay = 0;
  wire g_ready, g_ovalid, g_error, x_ready, x_ovalid, x_error;
  wire [{acc_top}:0] g_sum, x_sum;
  dut_generic g(.clk(clk), .rst(rst), .i__valid(i_valid), .i__payload(pay), .mode(mode),
    .o__ready(o_ready), .i__ready(g_ready), .o__valid(g_ovalid), .o__payload(g_sum),
    .error(g_error));
  dut_xc7 x(.clk(clk), .rst(rst), .i__valid(i_valid), .i__payload(pay), .mode(mode),
    .o__ready(o_ready), .i__ready(x_ready), .o__valid(x_ovalid), .o__payload(x_sum),
    .error(x_error));
  integer cycle, j, kind, sums = 0, errors = 0, seed = {seed};
  reg wbit;
  always #5 clk = ~clk;
  always @(posedge clk) accepted <= i_valid & g_ready;
  initial begin
    repeat (3) @(negedge clk);
    rst = 0;
    for (cycle = 0; cycle < {cycles}; cycle = cycle + 1) begin
      @(negedge clk);
      if ({{g_ready, g_ovalid, g_error}} !== {{x_ready, x_ovalid, x_error}}
          || (g_ovalid && g_sum !== x_sum)) begin
        $display("MISMATCH cycle %0d: generic %b%b%b %0d, xc7 %b%b%b %0d", cycle,
          g_ready, g_ovalid, g_error, g_sum, x_ready, x_ovalid, x_error, x_sum);
        $finish;
      end
      if (g_ovalid && o_ready) sums = sums + 1;
      errors = g_error;
      if (!i_valid || accepted) begin
        i_valid = ($random(seed) & 7) < 6 || cycle == 0;
        kind = $random(seed) & 15;
        for (j = 0; j < PW; j = j + 1) pay[j] = $random(seed);
        for (j = 0; j < L; j = j + 1) begin
          wbit = pay[j];
          if (kind == 0) pay[L + j * AB] = wbit;
          if (kind == 1) pay[L + j * AB] = ~wbit;
        end
        if (($random(seed) & 63) != 0) pay[L + L * AB +: L] = {{L{{1'b1}}}};
        pay[PW - 2] = ($random(seed) & 3) == 0 || cycle == 0;  // first (the accumulator
                                                                // starts undefined)
        pay[PW - 1] = ($random(seed) & 3) == 0;  // last
        mode = (($random(seed) & 255) == 0) ? $random(seed) : {xnor};
      end
      o_ready = ($random(seed) & 7) < 6;
    end
    $display("DONE sums %0d error %0d", sums, errors);
    $finish;
  end
endmodule
"""


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed")
@pytest.mark.parametrize("lanes", [1, 2, 3, 5, 8, 32, 33])
def test_xc7_primitives_equal_generic(lanes: int, tmp_path: Path) -> None:
    spec = DatapathSpec(lanes=lanes, act_bits=2, acc_bits=20, max_beats=64)

    generic, xc7 = both_builds(lambda: FullBeatXnorAccumulator(spec))
    assert "CARRY4" in xc7 and (lanes < 3 or re.search(r"\bLUT6\b", xc7))
    assert "CARRY4" not in generic
    testbench = TESTBENCH.format(
        lanes=lanes,
        act_bits=spec.act_bits,
        payload_bits=beat_layout(spec).size,
        acc_top=spec.acc_bits - 1,
        xnor=Mode.XNOR.value,
        cycles=CYCLES,
        seed=lanes,
    )
    out = run_side_by_side(tmp_path, generic, xc7, testbench)
    done = re.search(r"DONE sums (\d+) error (\d+)", out)
    assert done, out
    assert int(done[1]) >= CYCLES // 20  # sums compared on the output, not just idle cycles

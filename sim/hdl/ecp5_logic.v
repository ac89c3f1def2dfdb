// Behavioural models of the two Lattice ECP5 logic primitives hw places by hand
// (hw.compress.mux_lut): for simulation only. LUT4: Z is bit {D, C, B, A} of INIT.
// PFUMX: the slice's mux between its two LUT4s, Z = C0 ? ALUT : BLUT.
`default_nettype none
module LUT4 #(
    parameter [15:0] INIT = 16'h0000
) (
    input wire A,
    input wire B,
    input wire C,
    input wire D,
    output wire Z
);
  assign Z = INIT[{D, C, B, A}];
endmodule

module PFUMX (
    input wire ALUT,
    input wire BLUT,
    input wire C0,
    output wire Z
);
  assign Z = C0 ? ALUT : BLUT;
endmodule
`default_nettype wire

// Behavioural model of the Lattice ECP5 DP16KD block RAM, as far as hw/bram.py uses it:
// for simulation only (Yosys ships DP16KD as a black box). Written from Lattice TN1264
// (ECP5 memory usage guide) and the port conventions of Yosys's own DP16KD techmap
// (lattice/brams_map_16kd.v): a W-bit port (W = 1, 2, 4, 9, 18) addresses words with
// AD[13:lsb], lsb = 0, 1, 2, 3, 4; data on DI/DO[W-1:0]; in x18 mode AD[1:0] of a
// writing port are byte enables (both must be 1 here). Both ports must use the same
// width. Port A writes (WEA, CEA); port B reads: with CEB the array word is latched; with
// REGMODE_B = "OUTREG" a second register, enabled by OCEB, gives DOB one cycle later.
// Not modelled: port-B writes, port-A reads, resets, chip selects, WRITEMODE, GSR, and
// collisions (reading the word written in the same cycle returns the old word here).
`default_nettype none
module DP16KD #(
    parameter integer DATA_WIDTH_A = 18,
    parameter integer DATA_WIDTH_B = 18,
    parameter REGMODE_A = "NOREG",
    parameter REGMODE_B = "NOREG",
    parameter RESETMODE = "SYNC",
    parameter ASYNC_RESET_RELEASE = "SYNC",
    parameter CSDECODE_A = "0b000",
    parameter CSDECODE_B = "0b000",
    parameter WRITEMODE_A = "NORMAL",
    parameter WRITEMODE_B = "NORMAL",
    parameter GSR = "ENABLED"
) (
    input wire DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9,
    input wire DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
    input wire ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4,
    input wire ADA3, ADA2, ADA1, ADA0,
    input wire CEA, OCEA, CLKA, WEA, RSTA, CSA2, CSA1, CSA0,
    output wire DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9,
    output wire DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
    input wire DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9,
    input wire DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
    input wire ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4,
    input wire ADB3, ADB2, ADB1, ADB0,
    input wire CEB, OCEB, CLKB, WEB, RSTB, CSB2, CSB1, CSB0,
    output wire DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9,
    output wire DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
    localparam integer W = DATA_WIDTH_A;
    localparam integer LSB = W == 18 ? 4 : W == 9 ? 3 : W == 4 ? 2 : W == 2 ? 1 : 0;
    localparam integer WORDS = 1 << (14 - LSB);

    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9,
                       DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4,
                       ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4,
                       ADB3, ADB2, ADB1, ADB0};

    reg [W-1:0] mem [0:WORDS-1];
    reg [W-1:0] latch;
    reg [W-1:0] outreg;
    wire [17:0] dob = {{(18 - W){1'b0}}, REGMODE_B == "OUTREG" ? outreg : latch};

    initial begin
        if (DATA_WIDTH_B != DATA_WIDTH_A || (W != 1 && W != 2 && W != 4 && W != 9 && W != 18))
            $fatal(1, "DP16KD model: both ports must have one width of 1, 2, 4, 9, 18");
    end

    always @(posedge CLKA)
        if (CEA && WEA && (W != 18 || ada[1:0] == 2'b11))
            mem[ada[13:LSB]] <= dia[W-1:0];

    always @(posedge CLKB) begin
        if (CEB)
            latch <= mem[adb[13:LSB]];
        if (OCEB)
            outreg <= latch;
    end

    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9,
            DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9,
            DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = 18'b0;
endmodule
`default_nettype wire

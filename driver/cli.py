"""The ``plasticore run`` command: a program file on a target, its results to a file.

Kept beside the driver so that :mod:`plasticore.cli` only registers it; nothing heavy is
imported until the command runs.  The work is :func:`plasticore.driver.runtime.run_program`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import TYPE_CHECKING

from plasticore.argtypes import add_json_options, positive_int

if TYPE_CHECKING:
    from .runtime import Progress

__all__ = ["add_driver_commands", "progress_printer"]


def add_driver_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``run`` and ``selftest`` on ``subparsers``."""
    p = subparsers.add_parser(
        "run", help="run a compiled program and save what it records",
        description="Run PROGRAM on a target and write the recorded spikes, potentials and "
                    "weights to RESULTS (.npz).  Targets: ref (the bit-exact reference), "
                    "virtual (the reference behind the link protocol), sim (the simulated "
                    "board: the real gateware, Verilated) or a board's serial URL.")
    p.add_argument("program", metavar="PROGRAM", help="a program written by `compile`")
    p.add_argument("--target", default="ref",
                   help="ref, virtual, sim or a board URL such as /dev/ttyUSB1 (default ref)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="timesteps (default: the length of the program's input)")
    p.add_argument("-o", "--output", required=True, metavar="RESULTS",
                   help="results file to write (.npz)")
    add_json_options(p, "with --json: also the text")
    p.set_defaults(func=_cmd_run)
    _add_selftest(subparsers)


def progress_printer(total: int, every_s: float = 1.0) -> Progress:
    """``progress(done, total)`` that prints to stderr at most every ``every_s`` seconds
    (and at the end of a run longer than that)."""
    state = {"last": time.perf_counter(), "t0": time.perf_counter()}

    def progress(done: int, total_: int = total) -> None:
        now = time.perf_counter()
        if now - state["last"] >= every_s or (done == total_ and now - state["t0"] >= every_s):
            state["last"] = now
            rate = done / max(now - state["t0"], 1e-9)
            print(f"plasticore run: step {done}/{total_} ({100 * done / total_:.0f} %, "
                  f"{rate:,.0f} steps/s)", file=sys.stderr, flush=True)
    return progress


def _cmd_run(args: argparse.Namespace) -> int:
    from plasticore.compiler.program import Program

    from .runtime import RunError, check_target, run_program

    check_target(args.target)
    program = Program.load(args.program)
    steps = args.steps if args.steps is not None else program.input_steps
    if steps < 1:
        raise RunError(f"Program {args.program!r} has no input steps; pass --steps.")
    if steps > program.input_steps:
        print(f"plasticore run: the input ends after {program.input_steps} steps; the "
              f"remaining {steps - program.input_steps} run without input.", file=sys.stderr)
    results = run_program(program, steps, target=args.target,
                          progress=progress_printer(steps))
    results.save(args.output)
    summary = {"results": args.output, **results.summary()}
    if not args.json or args.verbose:
        print(f"ran {args.program} on target {args.target}: {steps} steps in "
              f"{results.wall_s:.3f} s -> {args.output}")
        for name, counts in results.spike_counts().items():
            print(f"  {name:12s} {sum(counts):7d} spikes")
    if args.json:
        print(json.dumps(summary))
    return 0


def _add_selftest(subparsers: argparse._SubParsersAction) -> None:
    from plasticore.protocol import DEFAULT_BAUD

    p = subparsers.add_parser(
        "selftest", help="check a board: identify, line, memory march test, learning run",
        description="The first thing to run on a new board.  Identify (protocol, contract, "
                    "build, N, clock); a line check (growing payloads echoed, error counters "
                    "before and after); a march test of every writable memory region "
                    "(patterns written and read back, contents restored); a known-answer "
                    "learning run against the reference.  One PASS/FAIL line per check, with "
                    "what to do on failure; exit status 1 if any check fails.  Leaves the "
                    "core cleared.")
    p.add_argument("--target", required=True,
                   help="a board's serial URL (/dev/ttyUSB1, socket://HOST:PORT), sim (the "
                        "simulated board), netlist:BOARD (the synthesised netlist of icebreaker "
                        "or ulx3s, simulated) or virtual")
    p.add_argument("--neurons", type=positive_int, default=32,
                   help="neurons of the sim, netlist or virtual core (default 32; a board "
                        "reports its own)")
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD,
                   help=f"UART bit rate of a real board (default {DEFAULT_BAUD})")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for each answer (default 5)")
    p.add_argument("--json", action="store_true",
                   help="print the checks as one JSON object on the last line")
    p.set_defaults(func=_cmd_selftest)


def _open_failure_line(target: str, error: Exception) -> tuple[str, str]:
    """(check detail, advice) for a target that did not open or answer."""
    from .chip import NoAnswer, PortNotFound, WrongDevice

    if isinstance(error, PortNotFound):
        return str(error), "check the URL; plasticore sim prints the one it serves"
    if isinstance(error, WrongDevice):
        return str(error), ("wrong build: build and program the bitstream of this plasticore "
                            "version (plasticore build, plasticore program)")
    if isinstance(error, NoAnswer):
        return f"no answer from {target}: {error}", \
            ("is the board programmed (plasticore program) and --baud the rate it was built "
             "for? A board that answers nothing at all is not running plasticore")
    return f"{type(error).__name__}: {error}", "check the target and run again"


def _cmd_selftest(args: argparse.Namespace) -> int:
    import contextlib

    from .chip import Chip, DriverError, PortNotFound
    from .selftest import NO_CABLE, Check, run_checks
    from .targets import open_chip

    checks: list[Check] = []
    named = args.target in ("sim", "virtual") or args.target.startswith("netlist:")
    opener = open_chip(args.target, args.neurons, baud=args.baud, timeout=args.timeout) \
        if named else contextlib.nullcontext(Chip(args.target, baud=args.baud,
                                                  timeout=args.timeout))
    try:
        with opener as chip, chip:
            checks = run_checks(chip)
    except PortNotFound as e:
        if args.target.startswith(("/dev/", "COM")):
            # No board: one line, as `plasticore program` says it.
            print(f"plasticore selftest: error: {NO_CABLE} ({args.target} does not exist)",
                  file=sys.stderr)
            return 1
        checks = [Check("identify", False, *_open_failure_line(args.target, e))]
    except DriverError as e:
        checks = [Check("identify", False, *_open_failure_line(args.target, e))]
    for c in checks:
        print(c.line())
    ok = all(c.ok for c in checks) and len(checks) == 4
    print(f"selftest of {args.target}: {'PASS' if ok else 'FAIL'} "
          f"({sum(c.ok for c in checks)}/4 checks passed)")
    if args.json:
        print(json.dumps({"target": args.target, "ok": ok,
                          "checks": [dataclasses.asdict(c) for c in checks]}))
    return 0 if ok else 1

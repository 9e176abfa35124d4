"""The ``plasticore run`` command: a program file on a target, its results to a file.

Kept beside the driver so that :mod:`plasticore.cli` only registers it; nothing heavy is
imported until the command runs.  The work is :func:`plasticore.driver.runtime.run_program`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from plasticore.argtypes import add_json_options, positive_int

if TYPE_CHECKING:
    from .runtime import Progress

__all__ = ["add_driver_commands", "progress_printer"]


def add_driver_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``run`` on ``subparsers``."""
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

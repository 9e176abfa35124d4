"""The ``plasticore`` command: assembles the commands each package owns.

``info`` (the contract) is here; ``demo`` is :mod:`plasticore.demos.cli`, ``sim``
:mod:`plasticore.sim.cli`, ``compile`` :mod:`plasticore.compiler.cli`, ``run`` and ``selftest``
:mod:`plasticore.driver.cli`, ``build`` and ``program`` :mod:`plasticore.boards.cli`.  Each
registers its parser and imports its work only when its command runs.  Every error that is a
``ValueError`` (bad arguments, compile errors, run errors) exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["build_parser", "main"]


def _cmd_info(args: argparse.Namespace) -> int:
    from . import core, fixed, protocol

    desc = protocol.contract_description()
    if args.json:
        print(json.dumps({**desc, "contract_hash": f"{protocol.contract_hash():08x}"}))
        return 0
    print(f"plasticore contract {protocol.contract_hash():08x} (protocol {desc['protocol']})")
    print(f"neurons per core: {core.N_MIN} to {core.N_MAX} (default {core.N_DEFAULT})\n")
    print("numeric formats:")
    for fmt in fixed.FORMATS.values():
        print(f"  {fmt.describe()}")
    for name, layout in desc["layouts"].items():
        width = sum(w for _, _, w in layout)
        print(f"\n{name} word ({width} bits, first field = least significant):")
        for field, offset, w in layout:
            print(f"  [{offset + w - 1:3}:{offset:3}] {field}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from plasticore.boards.cli import add_board_commands
    from plasticore.compiler.cli import add_compiler_commands
    from plasticore.demos.cli import add_demo_commands
    from plasticore.driver.cli import add_driver_commands
    from plasticore.sim.cli import add_sim_commands

    parser = argparse.ArgumentParser(
        prog="plasticore",
        description="An open FPGA spiking-neural-network emulator with on-chip STDP.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("info", help="print the core's contract: formats, word layouts, hash")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_info)
    add_demo_commands(sub)
    add_sim_commands(sub)
    add_compiler_commands(sub)
    add_driver_commands(sub)
    add_board_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"plasticore {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (`plasticore info | head`): no traceback, and nothing more to flush
        # into the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``plasticore demo`` command: the digits demo (:mod:`.digits`) or, with ``--small``,
the small network (:mod:`.small`).  Nothing heavy is imported until the command runs."""

from __future__ import annotations

import argparse
import json
import sys

from plasticore.argtypes import add_json_options, positive_int

__all__ = ["add_demo_commands"]


def add_demo_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` on ``subparsers``."""
    p = subparsers.add_parser(
        "demo", help="the main job: learn the 8x8 digits on the chip with STDP",
        description="Train a 64-input -> 10-output network (written with the compiler) on "
                    "scikit-learn's 8x8 digits (1,203 training / 594 test images) with "
                    "supervised STDP on the chip, through the driver; test it with learning "
                    "off; check that the weights read back equal the reference model's bit "
                    "for bit; write plots to --out.  --small runs the old 16-neuron network "
                    "on the reference instead.")
    p.add_argument("--target", default="sim-bytes",
                   help="ref, virtual, sim-bytes (default: the simulated board, its link "
                        "driven byte by byte at the UART's line rate), sim (the same with "
                        "the UART at bit level: slower) or a board's serial URL")
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="passes over the training set (default 3)")
    p.add_argument("--train", type=positive_int, default=None, metavar="N",
                   help="use only the first N training images")
    p.add_argument("--test", type=positive_int, default=None, metavar="N",
                   help="use only the first N test images")
    p.add_argument("--out", default="out/demo", metavar="DIR",
                   help="folder for the plots, weights and summary (default out/demo)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the pixel phases and the training order (default 1)")
    p.add_argument("--rounding", choices=("nearest", "stochastic"), default="nearest",
                   help="rounding of the STDP weight updates: the core's round-to-nearest "
                        "(default) or stochastic rounding")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--small", action="store_true",
                   help="run the small 16-neuron learning network on the reference instead")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="with --small: timesteps to run (default 80)")
    add_json_options(p, "with --json: also the text report")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job: 8x8 digits learned on the chip with STDP (plasticore.demos.digits)."""
    if args.small:
        return _cmd_demo_small(args)
    if args.steps is not None:
        raise ValueError("--steps belongs to the small network (--small); the digits demo "
                         "runs 20 steps per image")
    from plasticore.driver import DriverError
    from plasticore.driver.runtime import check_target

    from .digits import format_summary, run_demo

    target = check_target(args.target)
    try:
        summary = run_demo(target=target, epochs=args.epochs, n_train=args.train,
                           n_test=args.test, seed=args.seed, out=args.out,
                           progress=not args.quiet, rounding=args.rounding)
    except DriverError as e:               # a target that fails exits 2, as under `run`
        print(f"plasticore demo: error: {e}", file=sys.stderr)
        return 2
    if not args.json or args.verbose:
        print(format_summary(summary))
    if args.json:
        summary.pop("confusion", None)
        print(json.dumps(summary))
    ok = summary["target"] == "ref" or (summary["weights_match"] and summary["spikes_match"])
    return 0 if ok else 1


def _cmd_demo_small(args: argparse.Namespace) -> int:
    from .small import run_small

    summary, text = run_small(80 if args.steps is None else args.steps, seed=args.seed)
    if not args.json or args.verbose:
        print(text)
    if args.json:
        print(json.dumps(summary))
    return 0

"""Argument types and options shared by the command modules of every package.

Each package owns its commands (``compiler/cli.py``, ``driver/cli.py``, ``sim/cli.py``,
``boards/cli.py``, ``demos/cli.py``); :mod:`plasticore.cli` assembles them.  This module
imports nothing but :mod:`argparse`.
"""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "non_negative_float", "add_json_options"]


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value


def add_json_options(parser: argparse.ArgumentParser, verbose_help: str) -> None:
    """``--json`` (a machine-readable summary on the last line) and ``-v/--verbose``."""
    parser.add_argument("--json", action="store_true",
                        help="print a machine-readable summary on the last line")
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)

"""One way to name where a program runs: ``ref``, ``virtual``, ``sim`` or a board's URL.

* ``ref`` -- the reference model, called directly (no protocol; fastest);
* ``virtual`` -- the reference model behind the full protocol (``virtual://?neurons=N``);
* ``sim`` -- the simulated board: the generated gateware, Verilated, behind its UART pins;
* anything else -- a pyserial URL or port (``/dev/ttyUSB1``, ``socket://127.0.0.1:PORT``).

:func:`open_chip` gives a connected :class:`~.chip.Chip` for every target but ``ref``;
:mod:`.runtime` puts every target, ``ref`` included, behind one session interface.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from plasticore.protocol import DEFAULT_BAUD

from .chip import Chip

__all__ = ["open_chip", "describe_target", "TARGET_HELP"]

TARGET_HELP = ("ref (the reference model), virtual (the reference behind the protocol), "
               "sim (the simulated board) or a board's serial URL such as /dev/ttyUSB1 or "
               "socket://127.0.0.1:PORT")


def describe_target(target: str) -> str:
    return {"ref": "the reference model", "virtual": "the virtual chip",
            "sim": "the simulated board"}.get(target, target)


@contextlib.contextmanager
def open_chip(target: str, neurons: int, *, baud: int = DEFAULT_BAUD, timeout: float = 5.0,
              board_options: dict[str, Any] | None = None,
              options: Iterable[str] = ()) -> Iterator[Chip]:
    """Context manager: an open :class:`Chip` of ``neurons`` neurons on ``target``.

    For ``sim`` the simulated board is built (cached) and started for the duration, with
    the learning ``options`` the gateware implements
    (:data:`plasticore.hdl.core.IMPLEMENTED_OPTIONS`; the program's others are refused by
    the driver); ``board_options`` go to :func:`plasticore.sim.board.board_top`
    (``clock_hz``, ``baud``).
    """
    if target == "ref":
        raise ValueError("target 'ref' runs the reference model directly; open_chip() is for "
                         "targets reached through the protocol")
    if target == "virtual":
        with Chip(f"virtual://?neurons={neurons}", neurons=neurons, timeout=timeout) as chip:
            yield chip
        return
    if target == "sim":
        from plasticore.hdl.core import IMPLEMENTED_OPTIONS
        from plasticore.sim.board import SimulatedBoard, board_top

        chosen = sorted(set(options) & set(IMPLEMENTED_OPTIONS))
        top, divisor = board_top(neurons, options=chosen, **(board_options or {}))
        name = "-".join([f"link-n{neurons}", *chosen])
        with SimulatedBoard(top, divisor=divisor, name=name) as board:
            # board.url is a str once the board has started (None only before)
            with Chip(board.url, neurons=neurons, timeout=timeout,  # type: ignore[arg-type]
                      build=top.build) as chip:
                yield chip
        return
    with Chip(target, neurons=neurons, baud=baud, timeout=timeout) as chip:
        yield chip

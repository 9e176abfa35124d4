"""Host driver: talks to a core over the UART protocol of :mod:`plasticore.protocol`.

``Chip(url)`` works unchanged with a board (``/dev/ttyUSB1``), the simulated board
(``socket://127.0.0.1:PORT``) and the virtual chip (``virtual://?neurons=N``), which this
package registers as a pyserial URL scheme on import.

* :mod:`.chip` -- :class:`Chip`, the session with one core, and the :class:`DriverError`
  family;
* :mod:`.targets` -- naming a target (``virtual``, ``sim``, a URL) and opening a chip on it;
* :mod:`.runtime` -- running a compiled program on any target (``ref`` included) and
  decoding its results;
* :mod:`.cli` -- the ``plasticore run`` command.

Names are imported on first use, so that importing the package (for the command line) is
cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import serial

if TYPE_CHECKING:
    from .chip import (
        Chip,
        Disconnected,
        DriverError,
        Identity,
        LinkError,
        NoAnswer,
        PortNotFound,
        RequestRejected,
        WrongDevice,
    )

if "plasticore.driver" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("plasticore.driver")

__all__ = ["Chip", "Disconnected", "DriverError", "Identity", "LinkError", "NoAnswer",
           "PortNotFound", "RequestRejected", "WrongDevice"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import chip
        return getattr(chip, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

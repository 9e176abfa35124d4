"""Host driver: talks to a core over the UART protocol of :mod:`plasticore.protocol`.

``Chip(url)`` works unchanged with a board (``/dev/ttyUSB1``), the simulated board
(``socket://127.0.0.1:PORT``) and the virtual chip (``virtual://?neurons=N``), which this
package registers as a pyserial URL scheme on import.
"""

import serial

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

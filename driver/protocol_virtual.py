"""pyserial URL handler ``virtual://?neurons=N``: a :class:`~.virtual.VirtualChip` as a port.

:mod:`plasticore.driver` registers this package with pyserial, so
``serial.serial_for_url("virtual://?neurons=32")`` opens a fresh virtual chip.  Answers are
computed during :meth:`Serial.write`, so :meth:`Serial.read` never waits: a read that finds
too few bytes returns at once, as a real port would after its timeout.
"""

from __future__ import annotations

import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from plasticore.core import OPTIONS, CoreParams

from .virtual import VirtualChip

__all__ = ["Serial"]


class Serial(SerialBase):
    """A serial port whose other end is a virtual chip."""

    is_open: bool       # set by SerialBase (untyped) and by open() and close()
    chip: VirtualChip
    _out: bytearray

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        parts = urllib.parse.urlsplit(self._port)
        if parts.scheme != "virtual":
            raise SerialException(f"expected a URL virtual://?neurons=N, not {self._port!r}")
        options = urllib.parse.parse_qs(parts.query)
        unknown = set(options) - {"neurons", "options"}
        if unknown:
            raise SerialException(f"unknown option(s) {sorted(unknown)} in {self._port!r}; "
                                  f"the options are neurons=N and options=a,b (of "
                                  f"{', '.join(OPTIONS)}, or none; default all)")
        try:
            neurons = int(options.get("neurons", ["256"])[0])
            chosen = options.get("options", [",".join(OPTIONS)])[0]
            names = [] if chosen == "none" else [k for k in chosen.split(",") if k]
            bad = sorted(set(names) - set(OPTIONS))
            if bad:
                raise ValueError(f"unknown learning option(s) {bad}; choose from "
                                 f"{', '.join(OPTIONS)} or none")
            self.chip = VirtualChip(neurons, CoreParams(neurons, **{k: True for k in names}))
        except (TypeError, ValueError) as e:
            raise SerialException(f"cannot open {self._port!r}: {e}") from None
        self._out = bytearray()
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        super().close()

    def _reconfigure_port(self, *args: object, **kwargs: object) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return len(self._out)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        self._out += self.chip.feed(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        self._out.clear()

    def reset_output_buffer(self) -> None:
        pass

    def flush(self) -> None:
        pass

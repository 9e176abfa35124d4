"""Whether a board's USB cable is attached: the FTDI bridges of the supported boards.

The iCEBreaker (FT2232H), the ULX3S (FT231X) and the Cmod A7 (FT2232HQ) all reach the host
through an FTDI USB bridge, vendor ID 0x0403.  :func:`ftdi_cables` lists those present, from
``/sys/bus/usb/devices`` (Linux; also sees a bridge whose JTAG channel has no tty) and from
pyserial's port list (every system), so ``plasticore program`` and ``plasticore selftest``
can say in one line that no board is plugged in instead of failing deep inside a tool.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FTDI_VID", "NO_CABLE", "ftdi_cables"]

#: The USB vendor ID of FTDI.
FTDI_VID = 0x0403
#: The line printed when no board is attached (``program`` and ``selftest`` alike).
NO_CABLE = "no FTDI cable found: is the board plugged in?"


def ftdi_cables(sysfs: Path | str = "/sys/bus/usb/devices") -> list[str]:
    """Descriptions of the FTDI devices attached (empty if none): ``"0403:6010 <product>"``
    per USB device, then serial ports with FTDI's vendor ID not already listed."""
    found: list[str] = []
    root = Path(sysfs)
    if root.is_dir():
        for dev in sorted(root.iterdir()):
            try:
                vid = (dev / "idVendor").read_text().strip()
            except OSError:
                continue
            if int(vid, 16) != FTDI_VID:
                continue
            pid = (dev / "idProduct").read_text().strip()
            product = (dev / "product").read_text().strip() if (dev / "product").exists() \
                else ""
            found.append(f"{vid}:{pid} {product}".strip())
    if not found:
        from serial.tools import list_ports
        found = [f"{p.device} ({p.description})" for p in list_ports.comports()
                 if p.vid == FTDI_VID]
    return found

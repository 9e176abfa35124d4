"""Shared test options.

``--target`` selects what the driver tests talk to, as a comma-separated list: ``virtual``
or ``ref`` (the reference model behind the protocol), ``sim`` (the simulated board: the generated
gateware, Verilated, UART at bit level), ``sim-bytes`` (the same with a byte-level link),
``netlist:BOARD`` (``icebreaker`` or ``ulx3s``: the board's synthesised netlist with Yosys's
cell models, Verilated, UART bit level; minutes to build per N) or the URL of a board
(``/dev/ttyUSB1``, ``socket://127.0.0.1:PORT``).  The default runs them on ``virtual`` and
``sim``; the same tests run unchanged on every target (``--target
virtual,sim,sim-bytes`` adds the byte link, paced at the UART's line rate:
docs/simulated-board.md).
tests/driver/test_transports.py compares the two transports in the default tier.
"""

import sys
from pathlib import Path

# The verification helpers in tests/support are imported as `support` from every test
# folder (and from the cocotb processes, which inherit sys.path).
TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


def pytest_addoption(parser):
    parser.addoption("--target", default="virtual,sim",
                     help="comma-separated driver test targets: virtual (or ref), sim, "
                          "sim-bytes, netlist:BOARD or a serial URL of a board "
                          "(default: virtual,sim)")

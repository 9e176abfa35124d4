"""Shared test options.

``--target`` selects what the driver tests talk to: ``virtual`` (the reference model behind
the protocol, the default), or the URL of a board (``/dev/ttyUSB1``,
``socket://127.0.0.1:PORT``).  The same tests run unchanged on every target.
"""

import pytest


def pytest_addoption(parser):
    parser.addoption("--target", default="virtual",
                     help="driver test target: virtual, or a serial URL of a board")


@pytest.fixture(scope="session")
def target(request):
    return request.config.getoption("--target")

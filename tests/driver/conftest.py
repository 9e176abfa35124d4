"""Fixtures of the driver tests: ``connect(n)`` gives a cleared core of ``n`` neurons on
each selected target (see ``--target`` in tests/conftest.py)."""

import time

import pytest

from plasticore import protocol as P
from plasticore.driver import Chip, PortNotFound


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        targets = [t for t in metafunc.config.getoption("--target").split(",") if t]
        metafunc.parametrize("target", targets, scope="session")


@pytest.fixture(scope="session")
def boards():
    """Simulated boards by size, built (cached) and started once per session."""
    from plasticore.sim import board as B

    running = {}

    def get(n, netlist=None):
        """The board of ``n`` neurons; with ``netlist`` (a board name), that board's
        synthesised netlist (plasticore.boards.netlist; synthesis and build cached)."""
        if (n, netlist) not in running:
            reason = B.have_verilator()
            if reason:
                pytest.skip(f"simulated board: {reason}")
            if netlist:
                from plasticore.boards.netlist import build_netlist_board
                nb = build_netlist_board(netlist, n)
                running[n, netlist] = (B.SimulatedBoard(build_result=nb.board).start(),
                                       nb.top.build)
            else:
                top, divisor = B.board_top(n)
                running[n, None] = (B.SimulatedBoard(top, divisor=divisor,
                                                     name=f"link-n{n}").start(), top.build)
        return running[n, netlist]

    yield get
    for b, _ in running.values():
        b.stop()


@pytest.fixture
def connect(target, request):
    """``connect(n, **chip_options)``: an open :class:`Chip` with ``n`` neurons on the
    target, every memory zero, learning off, state reset."""
    opened = []

    def _connect(n, **options):
        if target in ("virtual", "ref"):               # the reference behind the protocol
            url = f"virtual://?neurons={n}"
        elif target == "sim" or target.startswith("netlist:"):
            netlist = target.split(":", 1)[1] if ":" in target else None
            board, build = request.getfixturevalue("boards")(n, netlist)
            url = board.url
            options.setdefault("build", build)
            if netlist:                               # ~27,000 cycles/s: 100x slower
                options.setdefault("timeout", 30.0)
        else:
            url = target
        try:
            chip = Chip(url, **options).open()
        except PortNotFound as e:
            if url != target:
                raise
            # A board given with --target that is not there: one clear line, not the same
            # failure in every test.
            pytest.exit(f"--target {target}: {e}", returncode=pytest.ExitCode.USAGE_ERROR)
        opened.append(chip)
        if chip.n != n:
            pytest.skip(f"{url} has {chip.n} neurons; this test needs {n}")
        if target not in ("virtual", "ref"):
            chip.clear()
        return chip

    yield _connect
    for chip in opened:
        chip.close()


def packet(opcode, seq, payload=b"", length=None):
    """A request packet with any opcode byte and any length field (for malformed requests)."""
    length = len(payload) if length is None else length
    return bytes([getattr(opcode, "value", opcode), seq]) + length.to_bytes(2, "little") + \
        payload


def raw_request(chip, opcode, payload=b"", length=None):
    """Send one hand-made request through ``chip``'s port; return (status, payload) of its
    answer."""
    chip._seq = (chip._seq + 1) & 0xFF
    chip._write(P.encode_frame(packet(opcode, chip._seq, payload, length)))
    resp = chip._next_response(time.monotonic() + chip.timeout)
    assert resp is not None, f"no answer to a hand-made request {opcode}"
    status, seq, body = resp
    assert seq == chip._seq
    return status, body


@pytest.fixture
def raw():
    return raw_request


@pytest.fixture
def make_packet():
    return packet

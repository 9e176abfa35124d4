"""Fixtures of the driver tests: ``connect(n)`` gives a cleared core of ``n`` neurons on
each selected target (see ``--target`` in tests/conftest.py): the same tests, unchanged, on
the virtual chip and on both transports of the simulated board."""

import time

import pytest

from plasticore import protocol as P
from plasticore.driver import Chip, PortNotFound
from plasticore.driver.targets import SIM_TARGETS


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        targets = [t for t in metafunc.config.getoption("--target").split(",") if t]
        metafunc.parametrize("target", targets, scope="session")


@pytest.fixture(scope="session")
def boards():
    """``boards(n, transport="bytes")``: simulated boards by size and transport, built
    (cached, one build per design even across xdist workers) and started once per session."""
    from plasticore.sim import board as B

    running = {}

    def get(n, kind=B.DEFAULT_TRANSPORT):
        """The board of ``n`` neurons with transport ``kind``; ``kind`` = ``netlist:BOARD``
        gives that board's synthesised netlist (plasticore.boards.netlist; synthesis and
        build cached; UART bit level)."""
        if (n, kind) not in running:
            reason = B.have_verilator()
            if reason:
                pytest.skip(f"simulated board: {reason}")
            if kind.startswith("netlist:"):
                from plasticore.boards.netlist import build_netlist_board
                nb = build_netlist_board(kind.split(":", 1)[1], n)
                running[n, kind] = (B.SimulatedBoard(build_result=nb.board).start(),
                                    nb.top.build)
            else:
                top, divisor = B.board_top(n, transport=kind)
                board = B.SimulatedBoard(top, divisor=divisor, name=f"link-n{n}-{kind}",
                                         progress=False)
                running[n, kind] = (board.start(), top.build)
        return running[n, kind]

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
        elif target in SIM_TARGETS or target.startswith("netlist:"):
            kind = SIM_TARGETS.get(target, target)
            board, build = request.getfixturevalue("boards")(n, kind)
            url = board.url
            options.setdefault("build", build)
            # A simulated board on a loaded 2-core machine runs 100x slower than real time
            # or worse (a netlist board ~27,000 cycles/s): the RUN queued behind a long one
            # would time out at the default 2 s.
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

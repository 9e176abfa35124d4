import time

import pytest

from plasticore import protocol as P
from plasticore.driver import Chip


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


@pytest.fixture
def connect(target):
    """``connect(n, **chip_options)``: an open :class:`Chip` with ``n`` neurons on the
    selected target, loaded with nothing (all zero) and reset."""
    opened = []

    def _connect(n, **options):
        if target == "virtual":
            url = f"virtual://?neurons={n}"
        else:
            url = target
        chip = Chip(url, **options).open()
        opened.append(chip)
        if chip.n != n:
            pytest.skip(f"{url} has {chip.n} neurons; this test needs {n}")
        return chip

    yield _connect
    for chip in opened:
        chip.close()

"""The host link's shared definitions.

The UART protocol (opcodes as :mod:`amaranth.lib.enum`, frame headers as
:mod:`amaranth.lib.data` layouts) is defined here, once, and used by both the gateware
dispatcher and the host driver.  What every version of the protocol carries is
:func:`contract_hash`: a digest of every numeric format and word layout of the contract,
which the identify command returns so that a host refuses a core built from a different
contract.

Framing
-------
A packet travels as one *frame*: the packet, then its CRC-16/IBM-3740 (polynomial 0x1021,
initial value 0xFFFF, most significant byte first, so that the CRC over packet + CRC is 0),
all COBS-encoded (Cheshire & Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM ToN 1999)
and followed by one 0x00 delimiter.  COBS removes every 0x00 from the frame, so a receiver
finds the next frame after any loss, insertion or corruption of bytes at the next 0x00
without timeouts; it costs at most one byte per 254.  The gateware half of this codec is
:mod:`plasticore.hdl.framing` (CRC from :mod:`amaranth.lib.crc`); the host half is here and
uses :func:`binascii.crc_hqx`; the two are tested against each other.
"""

from __future__ import annotations

import binascii
import hashlib

from amaranth.lib import data
from amaranth.lib.crc import catalog

from . import core, fixed

__all__ = [
    "PROTOCOL_VERSION", "contract_description", "contract_hash",
    "CRC_ALGORITHM", "FramingError", "crc16", "cobs_encode", "cobs_decode", "encode_frame",
    "FrameDecoder",
]

#: CRC of every frame; :func:`crc16` is the host implementation of the same function.
CRC_ALGORITHM = catalog.CRC16_IBM_3740


class FramingError(ValueError):
    """A frame that cannot be decoded: bad COBS, or a CRC mismatch."""


def crc16(payload: bytes) -> int:
    """CRC-16/IBM-3740 of ``payload`` (the host twin of ``CRC_ALGORITHM``)."""
    return binascii.crc_hqx(payload, 0xFFFF)


def cobs_encode(payload: bytes) -> bytes:
    """COBS-encode ``payload``: the result contains no 0x00 byte."""
    out = bytearray()
    block = bytearray()
    for byte in payload:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(encoded: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`FramingError` on malformed input."""
    out = bytearray()
    k = 0
    while k < len(encoded):
        code = encoded[k]
        if code == 0:
            raise FramingError(f"COBS data contains a 0x00 byte at offset {k}")
        block = encoded[k + 1:k + code]
        if len(block) != code - 1 or 0 in block:
            raise FramingError(f"COBS block at offset {k} is truncated or contains 0x00")
        out += block
        k += code
        if code != 255 and k < len(encoded):
            out.append(0)
    return bytes(out)


def encode_frame(packet: bytes) -> bytes:
    """The bytes that carry ``packet`` on the line: COBS(packet + CRC) + 0x00."""
    return cobs_encode(packet + crc16(packet).to_bytes(2, "big")) + b"\0"


class FrameDecoder:
    """Incremental frame decoder for the host.

    :meth:`feed` takes any chunk of received bytes and returns the list of frames that the
    chunk completed, each either the packet (bytes, CRC removed) or a :class:`FramingError`
    describing why that frame was dropped.  Empty frames (two delimiters in a row) are
    skipped, so a sender may flush the line with a 0x00 at any time.
    """

    def __init__(self, max_frame: int = 1 << 16):
        self.max_frame = max_frame
        self._buf = bytearray()
        self._overflow = False

    def feed(self, chunk: bytes) -> list:
        chunk = bytes(chunk)
        frames = []
        start = 0
        while True:
            end = chunk.find(0, start)
            if end < 0:
                self._append(chunk[start:])
                return frames
            self._append(chunk[start:end])
            if self._buf or self._overflow:
                frames.append(self._finish())
            self._buf.clear()
            self._overflow = False
            start = end + 1

    def _append(self, part):
        if len(self._buf) + len(part) > self.max_frame:
            self._overflow = True
        else:
            self._buf += part

    def _finish(self):
        if self._overflow:
            return FramingError(f"frame longer than {self.max_frame} bytes")
        try:
            raw = cobs_decode(bytes(self._buf))
        except FramingError as e:
            return e
        if len(raw) < 2:
            return FramingError(f"frame of {len(raw)} bytes is shorter than its CRC")
        if crc16(raw) != 0:
            return FramingError(f"CRC mismatch in a frame of {len(raw)} bytes")
        return raw[:-2]

PROTOCOL_VERSION = 1


def _layout_description(layout: data.StructLayout):
    return [(name, field.offset, field.width) for name, field in layout]


def contract_description() -> dict:
    """Everything two builds must agree on to exchange words, as plain data."""
    return {
        "protocol": PROTOCOL_VERSION,
        "formats": {k: repr(v) for k, v in sorted(fixed.FORMATS.items())},
        "constants": {"decay_frac": fixed.DECAY_FRAC, "stdp_shift": fixed.STDP_SHIFT},
        "layouts": {
            "neuron_params": _layout_description(core.NEURON_PARAMS),
            "learning_params": _layout_description(core.LEARNING_PARAMS),
            "neuron_state": _layout_description(core.NEURON_STATE),
            "synapse": _layout_description(core.SYNAPSE),
        },
    }


def contract_hash() -> int:
    """32-bit digest of :func:`contract_description` (stable across Python runs)."""
    text = repr(contract_description()).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")

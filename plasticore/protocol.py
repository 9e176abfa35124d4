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
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from amaranth.lib import data

if TYPE_CHECKING:
    # mypy does not see amaranth.lib.enum.Enum as an enum (amaranth ships no type
    # information: its members would be plain ints); the standard one has the same members.
    import enum
else:
    from amaranth.lib import enum
from amaranth.lib.crc import catalog

from . import core, fixed

__all__ = [
    "PROTOCOL_VERSION", "DEFAULT_BAUD", "contract_description", "contract_hash",
    "CRC_ALGORITHM", "FramingError", "crc16", "cobs_encode", "cobs_decode", "encode_frame",
    "FrameDecoder",
    "MAX_PAYLOAD", "RX_BUFFERS", "Opcode", "Status", "WireRegion", "wire_bytes", "region_words",
    "REQUEST_HEADER", "RESPONSE_HEADER", "HEADER_BYTES", "ACCESS", "ACCESS_BYTES", "CONTROL",
    "RUN_HEADER", "RUN_HEADER_BYTES",
    "IDENTITY", "IDENTITY_BYTES", "STATUS_WORD", "STATUS_BYTES", "pack", "unpack",
    "DENSE", "MODULATED", "COUNT_MASK", "encode_record", "decode_record", "decode_step",
    "record_bytes_max", "encode_dense", "region_present", "CONTROL_BYTES",
    "run_answer_split", "RECORD_FIELDS", "record_mask", "record_names", "field_bytes",
    "state_bytes", "step_record_bytes", "record_fits", "streamable", "encode_state", "decode_state",
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

    def __init__(self, max_frame: int = 1 << 16) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._overflow = False

    def feed(self, chunk: bytes) -> list[bytes | FramingError]:
        chunk = bytes(chunk)
        frames: list[bytes | FramingError] = []
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

    def _append(self, part: bytes) -> None:
        if len(self._buf) + len(part) > self.max_frame:
            self._overflow = True
        else:
            self._buf += part

    def _finish(self) -> bytes | FramingError:
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

#: The line rate every host and board uses unless told otherwise: 1 Mbaud, an exact divisor
#: of the 12 MHz oscillators of the iCEBreaker and Cmod A7 (and of the simulated board), and
#: within the reach of every FTDI/CH340-class USB-UART bridge.  Not part of the contract: a
#: build's rate is its own (``plasticore build --baud``).
DEFAULT_BAUD = 1_000_000


def _layout_description(layout: data.StructLayout) -> list[tuple[str, int, int]]:
    return [(name, field.offset, field.width) for name, field in layout]


def contract_description() -> dict[str, Any]:
    """Everything two builds must agree on to exchange words, as plain data."""
    return {
        "protocol": PROTOCOL_VERSION,
        "formats": {k: repr(v) for k, v in sorted(fixed.FORMATS.items())},
        "constants": {"decay_frac": fixed.DECAY_FRAC, "stdp_shift": fixed.STDP_SHIFT,
                      "triplet_shift": fixed.TRIPLET_SHIFT, "mod_shift": fixed.MOD_SHIFT,
                      "mix": fixed.MIX_MUL, "hash_step": fixed.HASH_STEP,
                      "options": core.OPTIONS,
                      "option_fields": {k: list(v) for k, v in core.OPTION_FIELDS.items()}},
        "layouts": {
            "neuron_params": _layout_description(core.NEURON_PARAMS),
            "learning_params": _layout_description(core.LEARNING_PARAMS),
            "neuron_state": _layout_description(core.NEURON_STATE),
            "synapse": _layout_description(core.SYNAPSE),
            "rule_params": _layout_description(core.RULE_PARAMS),
            "triplet_state": _layout_description(core.TRIPLET_STATE),
            "request_header": _layout_description(REQUEST_HEADER),
            "response_header": _layout_description(RESPONSE_HEADER),
            "access": _layout_description(ACCESS),
            "run_header": _layout_description(RUN_HEADER),
            "identity": _layout_description(IDENTITY),
            "status": _layout_description(STATUS_WORD),
        },
        "enums": {e.__name__: [(m.name, m.value) for m in e]
                  for e in (core.ResetMode, core.Target, core.Rounding, Opcode, Status,
                            WireRegion)},
        "link": {"max_payload": MAX_PAYLOAD, "rx_buffers": RX_BUFFERS, "dense": DENSE},
    }


def contract_hash() -> int:
    """32-bit digest of :func:`contract_description` (stable across Python runs)."""
    text = repr(contract_description()).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")


# -- packets ---------------------------------------------------------------------------------
#
# Every packet starts with a 4-byte header.  A request names an opcode; every request frame
# (good or bad) is answered by exactly one final response, and a RUN request may be preceded
# by partial responses (Status.MORE) carrying the spikes of its first steps.

#: Largest payload of one packet, either direction: header (4) + payload + CRC (2) = 512
#: bytes, so one receive buffer is one 4-kbit block RAM of an iCE40.
MAX_PAYLOAD = 506
#: Request packets the core buffers.  The host may have this many requests outstanding
#: (sent, final response not yet received); more are answered with Status.BUSY.
RX_BUFFERS = 2


class Opcode(enum.Enum, shape=8):
    """What a request asks for.  Payloads are little-endian; layouts below."""
    #: -> IDENTITY.
    IDENTIFY = 0x01
    #: Zero all neuron state, spikes, forced bits and the step counter (weights and
    #: parameters stay).  -> empty.
    RESET = 0x02
    #: ACCESS header + words (region's wire size each).  -> empty.
    WRITE = 0x03
    #: ACCESS header (``count`` words).  -> the words.
    READ = 0x04
    #: CONTROL payload.  -> empty.
    CONTROL = 0x05
    #: RUN_HEADER, then ``steps`` spike records (the forced neurons of each step; a record
    #: with the MODULATED bit is followed by one MODULATOR byte ``r`` for its step).  -> one
    #: dense spike record per step (the neurons that fired), followed by the NEURON_STATE
    #: fields that RUN_HEADER.record selects, of every neuron after that step
    #: (:func:`encode_state`); :func:`run_answer_split`.
    RUN = 0x06
    #: -> STATUS.
    STATUS = 0x07
    #: Stop a RUN at the next step boundary; requests queued behind it are answered ABORTED.
    #: Never refused as BUSY.  -> empty.
    ABORT = 0x08


class Status(enum.Enum, shape=8):
    """First byte of every response."""
    OK = 0x00
    #: Partial response of a RUN; more follow.
    MORE = 0x01
    #: The frame's CRC did not match (or its COBS was malformed); nothing was executed.
    BAD_CRC = 0x02
    UNKNOWN_OPCODE = 0x03
    #: The payload length does not fit the opcode (or exceeds MAX_PAYLOAD).
    BAD_LENGTH = 0x04
    #: A region or word address outside the core.
    BAD_ADDRESS = 0x05
    #: All receive buffers were full; the request was dropped unexecuted.
    BUSY = 0x06
    #: A RUN stopped (or a queued request dropped) because of ABORT.
    ABORTED = 0x07
    #: A written word holds a value outside its format (a decay factor above 1.0, or set
    #: padding bits), or a RUN's spike record is malformed; nothing of the request happened.
    BAD_VALUE = 0x08
    #: A RUN's ``first_step`` is not the core's step counter: an earlier RUN was lost or
    #: rejected, so this one would run out of order.  Nothing happened.
    OUT_OF_SEQUENCE = 0x09


class WireRegion(enum.Enum, shape=8):
    """Memory regions as the protocol addresses them (a word = WIRE_BYTES[region] bytes)."""
    #: Signed 8-bit weight of synapse ``j * N + i`` (row j = pre, column i = post).
    WEIGHTS = 0
    #: Plasticity bits, 8 synapses per byte, LSB = lowest synapse index; word k holds
    #: synapses 8k .. 8k+7 (bits past N*N are 0).
    PLASTIC = 1
    #: NEURON_PARAMS word of neuron n.
    NEURON_PARAMS = 2
    #: LEARNING_PARAMS word of neuron n.
    LEARNING_PARAMS = 3
    #: NEURON_STATE word of neuron n.
    NEURON_STATE = 4
    #: Spike bits of the last step, 8 neurons per byte (like PLASTIC).
    SPIKES = 5
    #: Signed 7-bit eligibility of synapse ``j * N + i``, one byte each (option eligibility).
    ELIGIBILITY = 6
    #: RULE_PARAMS word of neuron n (a core with at least one option; the fields of the
    #: options it lacks must be 0).
    RULE_PARAMS = 7
    #: TRIPLET_STATE word of neuron n (option triplet).
    TRIPLET_STATE = 8


def region_present(region: WireRegion, options: Iterable[str]) -> bool:
    """True if a core with the learning ``options`` has ``region`` (a core without it
    answers BAD_ADDRESS)."""
    options = set(options)
    return {WireRegion.ELIGIBILITY: "eligibility" in options,
            WireRegion.RULE_PARAMS: bool(options),
            WireRegion.TRIPLET_STATE: "triplet" in options}.get(WireRegion(region), True)


def wire_bytes(region: WireRegion) -> int:
    """Bytes of one word of ``region`` on the wire: its layout's bits, rounded up to bytes;
    unused high bits are 0."""
    layout = {WireRegion.NEURON_PARAMS: core.NEURON_PARAMS,
              WireRegion.LEARNING_PARAMS: core.LEARNING_PARAMS,
              WireRegion.NEURON_STATE: core.NEURON_STATE,
              WireRegion.RULE_PARAMS: core.RULE_PARAMS,
              WireRegion.TRIPLET_STATE: core.TRIPLET_STATE}.get(WireRegion(region))
    return 1 if layout is None else core.word_bytes(layout)


def region_words(region: WireRegion, n: int) -> int:
    """Number of words in ``region`` of a core of ``n`` neurons."""
    region = WireRegion(region)
    if region in (WireRegion.WEIGHTS, WireRegion.ELIGIBILITY):
        return n * n
    if region == WireRegion.PLASTIC:
        return (n * n + 7) // 8
    if region == WireRegion.SPIKES:
        return (n + 7) // 8
    return n


REQUEST_HEADER = data.StructLayout({"opcode": Opcode, "seq": 8, "length": 16})
RESPONSE_HEADER = data.StructLayout({"status": Status, "seq": 8, "length": 16})
HEADER_BYTES = 4

#: Payload of READ and WRITE (followed by the words for WRITE).
ACCESS = data.StructLayout({"region": WireRegion, "count": 16, "start": 32})
ACCESS_BYTES = 7
#: The NEURON_STATE fields a RUN can stream with its answers: bit k of RUN_HEADER.record
#: (and of IDENTITY.record) is field k, in the layout's order.
RECORD_FIELDS: tuple[str, ...] = tuple(core.NEURON_STATE.members)
#: Start of a RUN payload.  ``first_step`` must equal the core's step counter, so that a RUN
#: queued behind a lost one is refused (OUT_OF_SEQUENCE) instead of running out of order.
#: ``steps`` has 10 bits (a payload holds at most 250 records of 2 bytes); ``record``
#: (the 6 bits above it, 0 in the RUNs of protocol version 1 as they were) selects the
#: NEURON_STATE fields streamed after each step's spike record (:func:`encode_state`).
RUN_HEADER = data.StructLayout({"first_step": 32, "steps": 10,
                                "record": len(RECORD_FIELDS)})
RUN_HEADER_BYTES = 6
#: Payload of CONTROL: the learning switch and the SEED of stochastic rounding (a core
#: without the stochastic option keeps the seed too: it is just not used).
CONTROL = data.StructLayout({"learning": 1, "reserved": 7, "seed": 32})
CONTROL_BYTES = 5
#: Payload of the response to IDENTIFY.
IDENTITY = data.StructLayout({
    "protocol": 8,            # PROTOCOL_VERSION
    "neurons": 16,            # N
    "contract": 32,           # contract_hash()
    "build": 32,              # hash of the generated gateware (0 for the virtual chip)
    "max_payload": 16,        # MAX_PAYLOAD
    "rx_buffers": 8,          # RX_BUFFERS
    "clock_hz": 32,           # core clock (0 if not a clocked device)
    "kind": 2,                # 0: gateware (board or simulated board), 1: virtual chip
    "record": 6,              # the NEURON_STATE fields a RUN can stream (RECORD_FIELDS bits)
    "options": 8,             # CoreParams.options_mask: the learning options of the core
})
IDENTITY_BYTES = IDENTITY.size // 8
#: Payload of the response to STATUS.
STATUS_WORD = data.StructLayout({
    "step": 32,               # steps since the last RESET
    "learning": 8,
    "frames": 16,             # frames received (wrapping counters: differences are exact)
    "crc_errors": 16,         # frames dropped for CRC or COBS errors
    "uart_errors": 16,        # bytes with a bad stop bit, and receive overruns
    "rejected": 16,           # frames answered with any other error status
})
STATUS_BYTES = STATUS_WORD.size // 8


#: Per layout of plain fields (unsigned ints and enums): ``(size in bytes, [(name, offset,
#: mask), ...])``, or None for a layout that needs Amaranth's ``Layout.const``.  Keyed by
#: ``id``; the layout is kept with its entry so that the id stays its own.
_Spec = tuple[int, list[tuple[str, int, int, Any]]]
_PLAIN: dict[int, tuple[data.StructLayout, _Spec | None]] = {}


def _plain(layout: data.StructLayout) -> _Spec | None:
    entry = _PLAIN.get(id(layout))
    if entry is None:
        fields: list[tuple[str, int, int, Any]] | None = []
        for name, field in layout:
            shape = field.shape
            plain = isinstance(shape, int) or (
                isinstance(shape, type) and issubclass(shape, enum.Enum))
            if not plain or fields is None:
                fields = None
                break
            fields.append((name, field.offset, (1 << field.width) - 1,
                           None if isinstance(shape, int) else shape))
        entry = _PLAIN[id(layout)] = (
            layout, None if fields is None else ((layout.size + 7) // 8, fields))
    return entry[1]


def pack(layout: data.StructLayout, fields: Mapping[str, Any]) -> bytes:
    """``fields`` as the little-endian bytes of ``layout`` (its size rounded up to bytes);
    a field missing from ``fields`` is 0 and a value wider than its field keeps its low
    bits, as ``layout.const(fields)`` does.

    Layouts of plain unsigned and enum fields (every packet header) are packed with
    shifts: ``Layout.const`` costs ~0.3 ms a call, which a one-step exchange of the closed
    loop pays three times."""
    plain = _plain(layout)
    if plain is None:
        return int(layout.const(fields).as_bits()).to_bytes((layout.size + 7) // 8, "little")
    size, spec = plain
    unknown = set(fields) - {name for name, _, _, _ in spec}
    if unknown:
        raise NameError(f"fields {sorted(unknown)} are not in the layout")
    bits = 0
    for name, offset, mask, kind in spec:
        if name not in fields:
            continue                    # 0, as Layout.const leaves it (enums included)
        value = fields[name]
        if kind is not None:            # an enum: a value that is no member is a ValueError
            value = kind(value).value
        bits |= (int(value) & mask) << offset
    return bits.to_bytes(size, "little")


def unpack(layout: data.StructLayout, raw: bytes) -> dict[str, Any]:
    """Inverse of :func:`pack`: a dict of ints, enum fields as their members (or as the raw
    int if the value is not a member: a peer may send anything)."""
    plain = _plain(layout)
    if plain is not None:
        size, spec = plain
        bits = int.from_bytes(raw[:size], "little")
        return {name: (bits >> offset) & mask if kind is None else
                kind._value2member_map_.get((bits >> offset) & mask, (bits >> offset) & mask)
                for name, offset, mask, kind in spec}
    bits = int.from_bytes(raw[:(layout.size + 7) // 8], "little")
    out: dict[str, Any] = {}
    for name, field in layout:
        value = (bits >> field.offset) & ((1 << field.width) - 1)
        shape = field.shape
        if isinstance(shape, type) and issubclass(shape, enum.Enum):
            out[name] = shape._value2member_map_.get(value, value)
        elif isinstance(shape, fixed.Format):
            out[name] = shape.from_bits(value)
        else:
            out[name] = value
    return out


# -- spike records ---------------------------------------------------------------------------
#
# One timestep's set of neurons (forced inputs, or spikes out) is one record: a u16 head
# whose bit 15 selects the form, bit 14 marks a modulated step (requests only) and bits 0-13
# count, then either ``count`` u16 neuron indices in ascending order (sparse form) or a
# ceil(N/8)-byte bitmap (dense form, bit 15 set, count = number of set bits), then, if bit
# 14 is set, one byte: the step's MODULATOR r (two's complement).  The sender picks the
# shorter form.

DENSE = 0x8000
MODULATED = 0x4000
COUNT_MASK = 0x3FFF


def encode_record(indices: Iterable[int], n: int, modulator: int | None = None) -> bytes:
    """Record of the sorted, distinct neuron ``indices`` of a core of ``n`` neurons, with
    the step's raw MODULATOR ``r`` if it is not None (a modulated step)."""
    idx = sorted({int(k) for k in indices})
    if idx and (idx[0] < 0 or idx[-1] >= n):
        raise ValueError(f"neuron indices must be in [0, {n - 1}], got {idx[0]} .. {idx[-1]}")
    mod = b""
    flag = 0
    if modulator is not None:
        r = fixed.MODULATOR.check(modulator, "modulator r")
        mod, flag = (int(r) & 0xFF).to_bytes(1, "little"), MODULATED
    bitmap_bytes = (n + 7) // 8
    if 2 * len(idx) <= bitmap_bytes:
        return ((flag | len(idx)).to_bytes(2, "little")
                + b"".join(k.to_bytes(2, "little") for k in idx) + mod)
    bits = 0
    for k in idx:
        bits |= 1 << k
    return ((DENSE | flag | len(idx)).to_bytes(2, "little")
            + bits.to_bytes(bitmap_bytes, "little") + mod)


def decode_record(raw: bytes, offset: int, n: int) -> tuple[list[int], int]:
    """``(indices, next_offset)`` of the record at ``offset``; ValueError if malformed or
    modulated (:func:`decode_step` reads those)."""
    idx, modulator, offset = decode_step(raw, offset, n)
    if modulator is not None:
        raise ValueError("spike record is modulated where no modulator is allowed")
    return idx, offset


def decode_step(raw: bytes, offset: int, n: int) -> tuple[list[int], int | None, int]:
    """``(indices, modulator, next_offset)`` of the record at ``offset`` (``modulator``
    None for an unmodulated step); ValueError if malformed."""
    if offset + 2 > len(raw):
        raise ValueError("spike record truncated in its head")
    head = int.from_bytes(raw[offset:offset + 2], "little")
    idx, offset = _decode_indices(raw, offset + 2, head, n)
    if not head & MODULATED:
        return idx, None, offset
    if offset + 1 > len(raw):
        raise ValueError("modulated spike record truncated before its modulator")
    return idx, fixed.MODULATOR.from_bits(raw[offset]), offset + 1


def _decode_indices(raw: bytes, offset: int, head: int, n: int) -> tuple[list[int], int]:
    count = head & COUNT_MASK
    if head & DENSE:
        size = (n + 7) // 8
        if offset + size > len(raw):
            raise ValueError("dense spike record truncated")
        bits = int.from_bytes(raw[offset:offset + size], "little")
        idx = [k for k in range(n) if bits >> k & 1]
        if len(idx) != count or bits >> n:
            raise ValueError("dense spike record count does not match its bitmap")
        return idx, offset + size
    if offset + 2 * count > len(raw):
        raise ValueError("sparse spike record truncated")
    idx = [int.from_bytes(raw[offset + 2 * k:offset + 2 * k + 2], "little")
           for k in range(count)]
    if any(k >= n for k in idx) or any(a >= b for a, b in zip(idx, idx[1:], strict=False)):
        raise ValueError("sparse spike record holds indices out of range or out of order")
    return idx, offset + 2 * count


def record_bytes_max(n: int) -> int:
    """The largest record of a core of ``n`` neurons: the dense form."""
    return 2 + (n + 7) // 8


def encode_dense(indices: Iterable[int], n: int) -> bytes:
    """The dense record of ``indices``: what a core answers for every step of a RUN."""
    bits = 0
    idx = {int(k) for k in indices}
    for k in idx:
        bits |= 1 << k
    return (DENSE | len(idx)).to_bytes(2, "little") + bits.to_bytes((n + 7) // 8, "little")


def run_answer_split(steps: int, n: int, record: int = 0) -> list[int]:
    """Records in each answer to a RUN of ``steps`` steps that streams the fields of the
    ``record`` mask (:func:`step_record_bytes`): as many as fit in MAX_PAYLOAD per MORE
    answer, the rest (possibly none) in the final OK answer.  Every answer's length is known
    before its first step runs, so the gateware needs no transmit buffer.  ValueError if one
    step's record does not fit a packet (:func:`record_fits`)."""
    if not record_fits(n, record):
        raise ValueError(f"a step's record of {step_record_bytes(n, record)} bytes (N = {n}, "
                         f"recording {', '.join(record_names(record))}) does not fit in a "
                         f"packet of {MAX_PAYLOAD} bytes")
    per = MAX_PAYLOAD // step_record_bytes(n, record)
    split = []
    while steps > per:
        split.append(per)
        steps -= per
    return [*split, steps]


# -- state streamed with a RUN ---------------------------------------------------------------
#
# A RUN whose header sets ``record`` (a mask of RECORD_FIELDS) answers, after the dense spike
# record of each step, the selected NEURON_STATE fields of every neuron after that step:
# neuron 0 first, and for each neuron its selected fields in the layout's order (v, i, acc,
# ref, x, y), each in its own width rounded up to whole bytes, little-endian, the bits above
# the field 0 (a signed field is not sign-extended: the receiver reads its low bits).  So a
# step costs ``N * state_bytes(record)`` more bytes, and the core reads each neuron's state
# word once per step.


def record_mask(names: Iterable[str]) -> int:
    """The RUN_HEADER.record mask of the NEURON_STATE field ``names``; ValueError naming an
    unknown one."""
    mask = 0
    for name in names:
        if name not in RECORD_FIELDS:
            raise ValueError(f"cannot record {name!r}: the neuron state has "
                             f"{', '.join(RECORD_FIELDS)}")
        mask |= 1 << RECORD_FIELDS.index(name)
    return mask


def record_names(mask: int) -> list[str]:
    """The field names of a ``record`` mask, in the order they travel."""
    return [name for k, name in enumerate(RECORD_FIELDS) if mask >> k & 1]


def field_bytes(name: str) -> int:
    """Bytes of the NEURON_STATE field ``name`` when streamed: its width rounded up."""
    return (core.NEURON_STATE[name].width + 7) // 8


def state_bytes(record: int) -> int:
    """Bytes per neuron and step that a RUN streaming the ``record`` mask adds."""
    return sum(field_bytes(name) for name in record_names(record))


def step_record_bytes(n: int, record: int = 0) -> int:
    """Bytes of one step of a RUN's answer: the dense spike record and the streamed state."""
    return record_bytes_max(n) + n * state_bytes(record)


def record_fits(n: int, record: int) -> bool:
    """True if one step's answer record fits in one packet (a RUN streaming more is refused
    BAD_LENGTH; recording v, 3 bytes a neuron, fits up to N = 161)."""
    return step_record_bytes(n, record) <= MAX_PAYLOAD


def streamable(n: int, names: Iterable[str]) -> tuple[str, ...]:
    """Of the fields ``names``, those a core of ``n`` neurons can stream: whose record of
    one step, with that field alone, fits a packet (what IDENTITY.record of a build that
    was asked to stream ``names`` reports; v up to N = 161, ref up to N = 448)."""
    return tuple(name for name in record_names(record_mask(names))
                 if record_fits(n, record_mask([name])))


def encode_state(state: Mapping[str, Any], n: int, record: int) -> bytes:
    """The streamed state of one step: ``state[name]`` (n ints, in the field's format) for
    every field of ``record``, interleaved per neuron (see above)."""
    import numpy as np

    names = record_names(record)
    if not names:
        return b""
    cols = []
    for name in names:
        width = core.NEURON_STATE[name].width
        values = np.asarray(state[name], dtype=np.int64).reshape(n) & ((1 << width) - 1)
        cols += [((values >> (8 * b)) & 0xFF).astype(np.uint8) for b in range(field_bytes(name))]
    return np.stack(cols, axis=1).tobytes()


def decode_state(raw: bytes, offset: int, n: int, record: int) -> tuple[dict[str, Any], int]:
    """``(fields, next_offset)``: the streamed state at ``offset`` as ``{name: int64 array of
    n values}`` (signed fields sign-extended); ValueError if ``raw`` is too short."""
    import numpy as np

    size = n * state_bytes(record)
    if offset + size > len(raw):
        raise ValueError(f"streamed state truncated: {len(raw) - offset} of {size} bytes")
    table = np.frombuffer(raw, np.uint8, size, offset).reshape(n, -1).astype(np.int64)
    out: dict[str, Any] = {}
    col = 0
    for name in record_names(record):
        fmt = core.NEURON_STATE[name].shape
        width = core.NEURON_STATE[name].width
        value = np.zeros(n, np.int64)
        for b in range(field_bytes(name)):
            value |= table[:, col + b] << (8 * b)
        col += field_bytes(name)
        if value.max(initial=0) >> width:
            raise ValueError(f"streamed {name} has bits set above its {width}-bit field")
        if getattr(fmt, "signed", False):
            value = np.where(value >> (width - 1) & 1, value - (1 << width), value)
        out[name] = value
    return out, offset + size

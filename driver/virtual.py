"""The virtual chip: the reference model behind the same byte protocol as the gateware.

:class:`VirtualChip` takes the bytes a host sends and returns the bytes a core would answer,
frame by frame, executing each request on a :class:`plasticore.sim.Reference`.  It is the
executable specification of the command dispatcher: for the same request stream the gateware
answers the same bytes (``tests/link`` checks this).  The driver reaches it through pyserial
with the URL ``virtual://?neurons=N`` (see :mod:`plasticore.driver.protocol_virtual`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    OPTION_FIELDS,
    RULE_PARAMS,
    TRIPLET_STATE,
    CoreConfig,
    CoreParams,
    Table,
)
from plasticore.sim.reference import Reference

__all__ = ["VirtualChip", "RequestError"]

_TABLES = {P.WireRegion.NEURON_PARAMS: NEURON_PARAMS,
           P.WireRegion.LEARNING_PARAMS: LEARNING_PARAMS,
           P.WireRegion.NEURON_STATE: NEURON_STATE,
           P.WireRegion.RULE_PARAMS: RULE_PARAMS,
           P.WireRegion.TRIPLET_STATE: TRIPLET_STATE}



class RequestError(Exception):
    """A request that is answered with an error status and not executed."""

    def __init__(self, status: P.Status) -> None:
        super().__init__(status.name)
        self.status = status


class VirtualChip:
    """A core of ``neurons`` neurons, all memories zero, learning off, as after power-up.

    ``params`` chooses the learning options it has (default: all of them); without an
    option it refuses what a gateware build without it refuses (its regions: BAD_ADDRESS;
    its RULE_PARAMS fields non-zero, a modulated RUN record: BAD_VALUE).

    ``stuck`` injects memory faults for the self-test's own tests: ``(region, word, bit,
    value)`` makes that bit of that word always read ``value`` (writes to it are lost), as a
    stuck-at fault in a RAM would.  ``bit`` counts from the least significant bit of the
    word's wire bytes.

    ``stream`` names the NEURON_STATE fields a RUN may stream with its answers (default all
    of them, :data:`~plasticore.protocol.RECORD_FIELDS`; those whose record of one step
    cannot fit a packet at this N are left out, :func:`~plasticore.protocol.streamable`); a
    RUN asking for another is refused BAD_VALUE, as by a gateware build that streams fewer.
    """

    def __init__(self, neurons: int = 256, params: CoreParams | None = None,
                 stuck: list[tuple[P.WireRegion, int, int, int]] | None = None,
                 stream: tuple[str, ...] = P.RECORD_FIELDS) -> None:
        self.stuck = [(P.WireRegion(r), int(w), int(b), int(v) & 1)
                      for r, w, b, v in (stuck or [])]
        self.params = CoreParams.full(neurons) if params is None else params
        self.n = self.params.n
        self.stream_mask = P.record_mask(P.streamable(self.n, stream))
        self.ref = Reference(CoreConfig(self.params))
        self.forced = np.zeros(self.n, bool)
        self._decoder = P.FrameDecoder(max_frame=2 * (P.MAX_PAYLOAD + 16))
        self.counters = {"frames": 0, "crc_errors": 0, "uart_errors": 0, "rejected": 0}

    # -- bytes in, bytes out ------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Process received bytes; return every byte the chip sends in answer."""
        out = bytearray()
        for frame in self._decoder.feed(data):
            for status, seq, payload in self.handle(frame):
                header = P.pack(P.RESPONSE_HEADER, {"status": status, "seq": seq,
                                                     "length": len(payload)})
                out += P.encode_frame(header + payload)
        return bytes(out)

    def handle(self, frame: bytes | P.FramingError) -> list[tuple[P.Status, int, bytes]]:
        """Responses ``[(status, seq, payload), ...]`` to one decoded frame (bytes, or a
        :class:`~plasticore.protocol.FramingError` for a frame that failed its checks)."""
        self.counters["frames"] += 1
        if isinstance(frame, P.FramingError):
            self.counters["crc_errors"] += 1
            return [(P.Status.BAD_CRC, 0, b"")]
        if len(frame) < P.HEADER_BYTES:
            self.counters["rejected"] += 1
            return [(P.Status.BAD_LENGTH, frame[1] if len(frame) > 1 else 0, b"")]
        head = P.unpack(P.REQUEST_HEADER, frame)
        opcode, seq, length = head["opcode"], head["seq"], head["length"]
        payload = frame[P.HEADER_BYTES:]
        try:
            if length != len(payload) or length > P.MAX_PAYLOAD:
                raise RequestError(P.Status.BAD_LENGTH)
            if not isinstance(opcode, P.Opcode):      # unpack leaves an unknown code an int
                raise RequestError(P.Status.UNKNOWN_OPCODE)
            handler = getattr(self, f"_do_{opcode.name.lower()}")
            return [(status, seq, body) for status, body in handler(payload)]
        except RequestError as e:
            self.counters["rejected"] += 1
            return [(e.status, seq, b"")]

    # -- commands -------------------------------------------------------------------------

    def _expect(self, payload: bytes, size: int) -> None:
        if len(payload) != size:
            raise RequestError(P.Status.BAD_LENGTH)

    def _do_identify(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        self._expect(payload, 0)
        yield P.Status.OK, P.pack(P.IDENTITY, {
            "protocol": P.PROTOCOL_VERSION, "neurons": self.n, "contract": P.contract_hash(),
            "build": 0, "max_payload": P.MAX_PAYLOAD, "rx_buffers": P.RX_BUFFERS,
            "clock_hz": 0, "kind": 1, "record": self.stream_mask,
            "options": self.params.options_mask})

    def _do_reset(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        self._expect(payload, 0)
        self.ref.reset()
        self.forced[:] = False
        yield P.Status.OK, b""

    def _do_control(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        self._expect(payload, P.CONTROL_BYTES)
        control = P.unpack(P.CONTROL, payload)
        if control["reserved"]:
            raise RequestError(P.Status.BAD_VALUE)
        self.ref.learning = bool(control["learning"])
        self.ref.seed = control["seed"]
        yield P.Status.OK, b""

    def _do_status(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        self._expect(payload, 0)
        c = self.counters
        yield P.Status.OK, P.pack(P.STATUS_WORD, {
            "step": self.ref.t & 0xFFFFFFFF, "learning": int(self.ref.learning),
            **{k: v & 0xFFFF for k, v in c.items()}})

    def _do_abort(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        self._expect(payload, 0)
        yield P.Status.OK, b""

    def _access(self, payload: bytes, writing: bool) -> tuple[P.WireRegion, int, int, int]:
        if len(payload) < P.ACCESS_BYTES:
            raise RequestError(P.Status.BAD_LENGTH)
        access = P.unpack(P.ACCESS, payload)
        region, count, start = access["region"], access["count"], access["start"]
        if not isinstance(region, P.WireRegion):      # unpack leaves an unknown code an int
            raise RequestError(P.Status.BAD_ADDRESS)
        if not P.region_present(region, self.params.options):
            raise RequestError(P.Status.BAD_ADDRESS)
        size = P.wire_bytes(region)
        if writing and len(payload) != P.ACCESS_BYTES + count * size:
            raise RequestError(P.Status.BAD_LENGTH)
        if not writing and (len(payload) != P.ACCESS_BYTES or count * size > P.MAX_PAYLOAD):
            raise RequestError(P.Status.BAD_LENGTH)
        if start + count > P.region_words(region, self.n):
            raise RequestError(P.Status.BAD_ADDRESS)
        return region, start, count, size

    def _do_read(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        region, start, count, size = self._access(payload, writing=False)
        yield P.Status.OK, self.read_region(region, start, count)

    def _do_write(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        region, start, count, size = self._access(payload, writing=True)
        self.write_region(region, start, payload[P.ACCESS_BYTES:])
        yield P.Status.OK, b""

    def _do_run(self, payload: bytes) -> Iterator[tuple[P.Status, bytes]]:
        if len(payload) < P.RUN_HEADER_BYTES:
            raise RequestError(P.Status.BAD_LENGTH)
        head = P.unpack(P.RUN_HEADER, payload)
        mask = head["record"]
        # checked before the records, in the gateware's order
        if mask & ~self.stream_mask:
            raise RequestError(P.Status.BAD_VALUE)
        if not P.record_fits(self.n, mask):
            raise RequestError(P.Status.BAD_LENGTH)
        records, offset = [], P.RUN_HEADER_BYTES
        try:
            for _ in range(head["steps"]):
                idx, modulator, offset = P.decode_step(payload, offset, self.n)
                records.append((idx, modulator))
        except ValueError:
            raise RequestError(P.Status.BAD_VALUE) from None
        if "eligibility" not in self.params.options and any(r is not None for _, r in records):
            raise RequestError(P.Status.BAD_VALUE)
        if offset != len(payload):
            raise RequestError(P.Status.BAD_LENGTH)
        if head["first_step"] != self.ref.t & 0xFFFFFFFF:
            raise RequestError(P.Status.OUT_OF_SEQUENCE)
        k = 0
        split = P.run_answer_split(len(records), self.n, mask)
        for j, count in enumerate(split):
            body = bytearray()
            for idx, modulator in records[k:k + count]:
                self.forced[idx] = True
                spikes = self.ref.step(self.forced, modulator)
                self.forced[:] = False
                body += P.encode_dense(np.flatnonzero(spikes), self.n)
                if mask:
                    body += P.encode_state(self._state_fields(mask), self.n, mask)
            k += count
            yield (P.Status.MORE if j < len(split) - 1 else P.Status.OK), bytes(body)

    def _state_fields(self, mask: int) -> dict[str, np.ndarray]:
        """The fields of ``mask`` as the core holds them (through its NEURON_STATE words, so
        that a stuck bit shows in the stream as it does in a READ)."""
        if not self.stuck:          # the same values, without packing N words a step
            return {name: getattr(self.ref, name) for name in P.record_names(mask)}
        table = Table.from_bytes(NEURON_STATE, self.read_region(P.WireRegion.NEURON_STATE, 0,
                                                                self.n))
        return {name: table[name] for name in P.record_names(mask)}

    # -- regions as bytes -------------------------------------------------------------------

    def read_region(self, region: P.WireRegion, start: int, count: int) -> bytes:
        data = bytearray(self._read_region(region, start, count))
        size = P.wire_bytes(region)
        for r, word, bit, value in self.stuck:
            if r == region and start <= word < start + count:
                k = (word - start) * size + bit // 8
                data[k] = (data[k] & ~(1 << bit % 8)) | (value << bit % 8)
        return bytes(data)

    def _read_region(self, region: P.WireRegion, start: int, count: int) -> bytes:
        n, ref = self.n, self.ref
        if region in (P.WireRegion.WEIGHTS, P.WireRegion.ELIGIBILITY):
            src = ref.weights if region == P.WireRegion.WEIGHTS else ref.elig
            return src.reshape(-1)[start:start + count].astype(np.int8).tobytes()
        if region in (P.WireRegion.PLASTIC, P.WireRegion.SPIKES):
            bits = ref.plastic.reshape(-1) if region == P.WireRegion.PLASTIC else ref.spikes
            padded = np.zeros(P.region_words(region, n) * 8, bool)
            padded[:bits.size] = bits
            return np.packbits(padded, bitorder="little")[start:start + count].tobytes()
        layout = _TABLES[region]
        table = {P.WireRegion.NEURON_STATE: ref.state, P.WireRegion.TRIPLET_STATE: ref.triplet,
                 P.WireRegion.NEURON_PARAMS: ref.config.neurons,
                 P.WireRegion.RULE_PARAMS: ref.config.rules}.get(region, ref.config.learning)
        sub = Table(layout, count)
        for name in sub.names:
            sub[name] = table[name][start:start + count]
        return sub.to_bytes()

    def write_region(self, region: P.WireRegion, start: int, data: bytes) -> None:
        """Write words; raises RequestError(BAD_VALUE) and changes nothing if any is bad."""
        n, ref = self.n, self.ref
        target: np.ndarray | Table   # the bits of PLASTIC or SPIKES, or a parameter table
        if region in (P.WireRegion.WEIGHTS, P.WireRegion.ELIGIBILITY):
            w = np.frombuffer(data, np.int8).astype(np.int64)
            if region == P.WireRegion.ELIGIBILITY and not F.ELIGIBILITY.contains(w):
                raise RequestError(P.Status.BAD_VALUE)
            dest = ref.weights if region == P.WireRegion.WEIGHTS else ref.elig
            dest.reshape(-1)[start:start + w.size] = w
            return
        if region in (P.WireRegion.PLASTIC, P.WireRegion.SPIKES):
            total = n * n if region == P.WireRegion.PLASTIC else n
            bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little").astype(bool)
            lo = start * 8
            if bits[max(0, total - lo):].any():
                raise RequestError(P.Status.BAD_VALUE)   # bits past the last synapse/neuron
            bits = bits[:max(0, total - lo)]
            target = ref.plastic.reshape(-1) if region == P.WireRegion.PLASTIC else ref.spikes
            target[lo:lo + bits.size] = bits
            return
        try:
            # ValueError for padding bits set; RangeError (a ValueError) for a value outside
            # its format, which a whole word can hold only in a decay factor above 1.0.
            table = Table.from_bytes(_TABLES[region], data)
        except ValueError:
            raise RequestError(P.Status.BAD_VALUE) from None
        if region == P.WireRegion.RULE_PARAMS:
            # RULE_PARAMS fields of an option the core lacks must be 0 (the gateware does
            # not store them)
            for option, names in OPTION_FIELDS.items():
                if option not in self.params.options and any(table[k].any() for k in names):
                    raise RequestError(P.Status.BAD_VALUE)
        sl = slice(start, start + table.n)
        if region in (P.WireRegion.NEURON_STATE, P.WireRegion.TRIPLET_STATE):
            for name in table.names:
                getattr(ref, name)[sl] = table[name]
        else:
            cfg = ref.config
            tables = {P.WireRegion.NEURON_PARAMS: cfg.neurons.copy(),
                      P.WireRegion.LEARNING_PARAMS: cfg.learning.copy(),
                      P.WireRegion.RULE_PARAMS: cfg.rules.copy()}
            target = tables[region]
            for name in table.names:
                target[name][sl] = table[name]
            self._rebuild(*tables.values())

    def _rebuild(self, neurons: Table, learning: Table, rules: Table) -> None:
        """A new reference with new parameters and the old weights, state and counter."""
        old = self.ref
        cfg = CoreConfig(self.params, neurons, learning, old.weights, old.plastic,
                         rules=rules, elig=old.elig, seed=old.seed)
        self.ref = Reference(cfg, learning=old.learning)
        self.ref.state, self.ref.triplet = old.state, old.triplet
        self.ref.spikes, self.ref.t = old.spikes.copy(), old.t

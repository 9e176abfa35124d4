"""The host driver: one :class:`Chip` session per core, over any pyserial URL.

The same code talks to a board (``/dev/ttyUSB1``), the simulated board
(``socket://127.0.0.1:PORT`` or a PTY path) and the virtual chip (``virtual://?neurons=N``).
Every request is one frame (:mod:`plasticore.protocol`); the driver keeps up to
``rx_buffers`` requests in flight so the line never idles, retries what is safe to retry,
and turns every failure into a :class:`DriverError` subclass that names the problem.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import serial
from amaranth.lib import data as amaranth_data

from plasticore import protocol as P
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    RULE_PARAMS,
    TRIPLET_STATE,
    CoreConfig,
    CoreParams,
    Table,
)
from plasticore.sim.reference import Record, Snapshot

__all__ = ["Chip", "Identity", "Exchange", "DriverError", "PortNotFound", "NoAnswer", "WrongDevice",
           "MissingOption", "LinkError", "Disconnected", "RequestRejected"]


class DriverError(Exception):
    """Base of every error the driver raises."""


class PortNotFound(DriverError):
    """The serial port or URL cannot be opened."""


class NoAnswer(DriverError):
    """The device did not answer within the timeout (after the allowed retries)."""


class WrongDevice(DriverError):
    """The device answers, but is not a plasticore core of the expected build."""


class LinkError(DriverError):
    """Frames keep arriving corrupted, or data was lost on the line."""


class Disconnected(DriverError):
    """The port went away while in use."""


class MissingOption(DriverError):
    """The program needs a learning option (:data:`plasticore.core.OPTIONS`) that the
    connected core was built without."""


class RequestRejected(DriverError):
    """The device refused a request; ``status`` says why."""

    def __init__(self, message: str, status: P.Status | int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Identity:
    protocol: int
    neurons: int
    contract: int
    build: int
    max_payload: int
    rx_buffers: int
    clock_hz: int
    kind: int
    options: int = 0
    #: The NEURON_STATE fields a RUN can stream with its answers (RECORD_FIELDS bits).
    record: int = 0

    @property
    def option_names(self) -> frozenset[str]:
        """The learning options of the core (:data:`plasticore.core.OPTIONS`)."""
        return CoreParams.options_from_mask(self.options)

    @property
    def kind_name(self) -> str:
        return {0: "gateware", 1: "virtual chip"}.get(self.kind, f"kind {self.kind}")

    def __repr__(self) -> str:
        # The hashes in hex, as `plasticore info` and `plasticore build` print them.
        return (f"Identity(protocol={self.protocol}, neurons={self.neurons}, "
                f"contract={self.contract:08x}, build={self.build:08x}, "
                f"max_payload={self.max_payload}, rx_buffers={self.rx_buffers}, "
                f"clock_hz={self.clock_hz}, kind={self.kind_name!r}, "
                f"options={sorted(self.option_names)}, "
                f"record={P.record_names(self.record)})")


#: Requests that change nothing when executed twice: retried after a timeout.
_IDEMPOTENT = {P.Opcode.IDENTIFY, P.Opcode.READ, P.Opcode.WRITE, P.Opcode.CONTROL,
               P.Opcode.STATUS, P.Opcode.RESET}
#: Statuses that mean "not executed, try again".
_RESEND = {P.Status.BAD_CRC, P.Status.BUSY}


class _StaleStep(Exception):
    """The first RUN of a run was refused as out of sequence: the step counter that the
    session remembered is stale, and nothing ran."""


@dataclass
class Exchange:
    """One request and its answers as they crossed the line, for :attr:`Chip.traffic`.

    ``request_bytes`` and ``answer_bytes`` count wire bytes (COBS frames with their CRC and
    delimiter; a retried request counts every attempt); ``pipelined`` is True if the request
    went out while an earlier one was still unanswered; ``learning`` is the learning flag as
    last set or read (None if unknown); ``spikes`` holds, for a RUN, the number of neurons
    that fired in each step, and ``record`` the state fields it streamed (RUN_HEADER.record).
    :mod:`plasticore.sim.projection` turns these into the time a board would take."""

    opcode: P.Opcode
    request_bytes: int = 0
    answer_bytes: int = 0
    pipelined: bool = False
    learning: bool | None = None
    spikes: list[int] = field(default_factory=list)
    record: int = 0


@dataclass
class _Request:
    opcode: P.Opcode
    payload: bytes
    seq: int = 0
    sent_at: float = 0.0
    tries: int = 0
    exchange: Exchange | None = None


def _open_failure(url: str, error: Exception) -> str:
    """One line on why ``url`` did not open, naming it once (pyserial's own message repeats
    the path up to three times) and saying what to try."""
    code = getattr(error, "errno", None) or getattr(error.__context__, "errno", None)
    if code == errno.ECONNREFUSED:
        return (f"cannot open {url!r}: connection refused. Is a simulated board serving "
                f"there? (plasticore sim prints the URL it serves)")
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (f"cannot open {url!r}: no such device. Is the board plugged in? "
                f"(--target sim runs the simulated board)")
    if code in (errno.EACCES, errno.EPERM):
        return (f"cannot open {url!r}: permission denied (add yourself to the group that "
                f"owns it, e.g. dialout)")
    if code == errno.EBUSY:
        return f"cannot open {url!r}: it is in use by another program"
    return f"cannot open {url!r}: {error}"


class Chip:
    """A session with one core.

    Parameters
    ----------
    url : str
        ``/dev/ttyUSB1``, ``socket://127.0.0.1:PORT``, ``virtual://?neurons=N``, ...
    baud : int
        Line rate for real serial ports (ignored by sockets and the virtual chip).
    timeout : float
        Seconds to wait for an answer before retrying (idempotent requests) or giving up.
    retries : int
        Extra attempts for a request that was not executed or not answered.
    neurons, build : int or None
        If given, :meth:`open` refuses a device of another size or gateware build.
    """

    def __init__(self, url: str, *, baud: int = P.DEFAULT_BAUD, timeout: float = 2.0,
                 retries: int = 3, neurons: int | None = None, build: int | None = None) -> None:
        self.url, self.baud, self.timeout, self.retries = url, baud, timeout, retries
        self.expect_neurons, self.expect_build = neurons, build
        self.port: serial.SerialBase | None = None
        self.identity: Identity | None = None
        self._decoder = P.FrameDecoder(max_frame=2 * (P.MAX_PAYLOAD + 16))
        self._frames: list[bytes | P.FramingError] = []
        self._seq = 0
        self._seed = 0
        self.stats = {"sent": 0, "retries": 0, "bad_frames": 0}
        #: None, or a list that receives an :class:`Exchange` per request (set it to [] to
        #: record the line traffic of a session).
        self.traffic: list[Exchange] | None = None
        self._learning: bool | None = None
        # The device's step counter as this session last set or read it (None: unknown), so
        # that a RUN after a RESET or a RUN needs no STATUS round trip first.  A stale value
        # costs one refused RUN (OUT_OF_SEQUENCE, nothing executed) and a STATUS.
        self._step: int | None = None
        #: Record state by streaming it with the RUNs where the device can (set False to
        #: read it back after every step instead, e.g. to compare the two).
        self.stream_state = True

    # -- session ----------------------------------------------------------------------------

    def open(self) -> Self:
        """Open the port, resynchronise the line and identify the device."""
        import plasticore.driver  # noqa: F401  (registers the virtual:// URL scheme)
        try:
            self.port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.02,
                                              write_timeout=self.timeout)
        except (serial.SerialException, ValueError, OSError) as e:
            raise PortNotFound(_open_failure(self.url, e)) from None
        # A lone delimiter ends whatever partial frame the device may hold.
        self._write(b"\0")
        self.identity = self.identify()
        ident = self.identity
        if ident.protocol != P.PROTOCOL_VERSION or ident.contract != P.contract_hash():
            self.close()
            raise WrongDevice(
                f"{self.url} speaks protocol {ident.protocol} with contract "
                f"{ident.contract:08x}, but this driver needs protocol {P.PROTOCOL_VERSION} "
                f"with contract {P.contract_hash():08x}: rebuild the gateware from this "
                f"version of plasticore")
        if self.expect_neurons is not None and ident.neurons != self.expect_neurons:
            self.close()
            raise WrongDevice(f"{self.url} has {ident.neurons} neurons, expected "
                              f"{self.expect_neurons}")
        if self.expect_build is not None and ident.build != self.expect_build:
            self.close()
            raise WrongDevice(f"{self.url} runs gateware build {ident.build:08x}, expected "
                              f"{self.expect_build:08x}")
        return self

    def close(self) -> None:
        if self.port is not None:
            # pyserial's socket:// close() skips the socket's close() when shutdown() fails,
            # as it does on a peer that died: close it here too (a second close is harmless).
            sock = getattr(self.port, "_socket", None)
            try:
                self.port.close()
            finally:
                if sock is not None:
                    sock.close()
                self.port = None

    def __enter__(self) -> Self:
        return self.open() if self.port is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def n(self) -> int:
        return self._opened.neurons

    @property
    def _opened(self) -> Identity:
        """The device's identity; DriverError if the session was never opened."""
        if self.identity is None:
            raise DriverError("the session is closed; call open() first")
        return self.identity

    # -- bytes ------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.port is None:
            raise DriverError("the session is closed; call open() first")
        try:
            self.port.write(data)
        except serial.SerialTimeoutException:
            raise NoAnswer(f"{self.url} does not accept data (write timed out after "
                           f"{self.timeout} s)") from None
        except (serial.SerialException, OSError) as e:
            raise Disconnected(f"{self.url} went away while sending: {e}") from None

    def _poll(self) -> bool:
        """Read what has arrived; append decoded frames to the queue."""
        if self.port is None:
            raise DriverError("the session is closed; call open() first")
        try:
            data = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError, TypeError) as e:
            raise Disconnected(f"{self.url} went away while receiving: {e}") from None
        if data:
            self._frames += self._decoder.feed(data)
        return bool(data)

    # -- requests ---------------------------------------------------------------------------

    def _send(self, req: _Request) -> None:
        self._seq = (self._seq + 1) & 0xFF
        req.seq = self._seq
        req.tries += 1
        req.sent_at = time.monotonic()
        header = P.pack(P.REQUEST_HEADER, {"opcode": req.opcode, "seq": req.seq,
                                           "length": len(req.payload)})
        frame = P.encode_frame(header + req.payload)
        self._write(frame)
        self.stats["sent"] += 1
        if req.exchange is not None:
            req.exchange.request_bytes += len(frame)

    def _next_response(self, deadline: float) -> tuple[P.Status | int, int, bytes] | None:
        """The next decoded response (status, seq, payload), or None at the deadline."""
        while True:
            while self._frames:
                frame = self._frames.pop(0)
                if isinstance(frame, P.FramingError) or len(frame) < P.HEADER_BYTES:
                    self.stats["bad_frames"] += 1
                    continue
                head = P.unpack(P.RESPONSE_HEADER, frame)
                body = frame[P.HEADER_BYTES:]
                if head["length"] != len(body):
                    self.stats["bad_frames"] += 1
                    continue
                return head["status"], head["seq"], body
            if time.monotonic() > deadline:
                return None
            if not self._poll():
                time.sleep(0)

    def _transact(self, requests: Sequence[_Request],
                  on_more: Callable[[int, bytes], object] | None = None,
                  on_final: Callable[[int, bytes], object] | None = None) -> list[bytes]:
        """Run ``requests`` in order, up to ``rx_buffers`` in flight; return their final
        payloads.  ``on_more(index, payload)`` receives the partial answers (MORE) and
        ``on_final(index, payload)`` each final one as it arrives.  ``requests`` may be a
        list that ``on_final`` extends: the new requests are sent as the window allows (the
        closed loop, :mod:`.loop`, produces its requests so)."""
        window = self.identity.rx_buffers if self.identity else 1
        results: list[Any] = []     # all bytes by the end of the loop
        pending: list[int] = []     # indices in flight, oldest first
        nxt = 0
        while nxt < len(requests) or pending:
            while nxt < len(requests) and len(pending) < window:
                self._track(requests[nxt], pipelined=bool(pending))
                self._send(requests[nxt])
                pending.append(nxt)
                nxt += 1
            k = pending[0]
            req = requests[k]
            resp = self._next_response(req.sent_at + self.timeout)
            if resp is None:
                if req.opcode in _IDEMPOTENT and req.tries <= self.retries:
                    self._resend(requests, pending)
                    continue
                raise NoAnswer(f"no answer from {self.url} to {req.opcode.name} within "
                               f"{self.timeout} s (tried {req.tries} times)")
            status, seq, body = resp
            if req.exchange is not None and seq == req.seq:
                _count_answer(req.exchange, status, seq, body)
            if seq != req.seq:
                if any(requests[j].seq == seq for j in pending[1:]):
                    # A later request was answered first: the oldest request, or its answer,
                    # was lost.  A later RUN refused as OUT_OF_SEQUENCE proves the oldest
                    # never ran, so even a RUN can then be sent again.
                    never_ran = status == P.Status.OUT_OF_SEQUENCE
                    if (req.opcode in _IDEMPOTENT or never_ran) and req.tries <= self.retries:
                        self._resend(requests, pending)
                        continue
                    raise LinkError(
                        f"a {req.opcode.name} request to {self.url} was lost on the line"
                        if never_ran else f"the answer to a {req.opcode.name} request from "
                        f"{self.url} was lost on the line; its effect is unknown")
                continue        # a stale answer to an earlier attempt
            if status == P.Status.MORE:
                req.sent_at = time.monotonic()      # a long RUN is alive: restart its clock
                if on_more is not None:
                    on_more(k, body)
                continue
            if status in _RESEND:
                if req.tries <= self.retries:
                    self._resend(requests, pending)
                    continue
                raise LinkError(f"{self.url} reported {status.name} for {req.opcode.name} "
                                f"{req.tries} times; the line is corrupting frames")
            if status != P.Status.OK:
                name = status.name if isinstance(status, P.Status) else f"status {status}"
                raise RequestRejected(f"{self.url} refused {req.opcode.name}: {name} "
                                      f"({_STATUS_TEXT.get(status, 'unknown status')})", status)
            results.extend([None] * (k + 1 - len(results)))
            results[k] = body
            pending.pop(0)
            if on_final is not None:
                on_final(k, body)
        return results

    def _track(self, req: _Request, pipelined: bool) -> None:
        """Log ``req`` in :attr:`traffic` (if recording) before it is first sent."""
        if self.traffic is not None and req.exchange is None:
            req.exchange = Exchange(req.opcode, pipelined=pipelined, learning=self._learning)
            if req.opcode == P.Opcode.RUN:
                req.exchange.record = P.unpack(P.RUN_HEADER, req.payload)["record"]
            self.traffic.append(req.exchange)

    def _resend(self, requests: Sequence[_Request], pending: Iterable[int]) -> None:
        """Resend every request in flight, oldest first (later ones may have been refused
        as out of order or be waiting behind a lost one)."""
        self.stats["retries"] += 1
        self._write(b"\0")
        for j in pending:
            self._send(requests[j])

    def request(self, opcode: P.Opcode | int, payload: bytes = b"") -> bytes:
        """Send one request and return the payload of its final answer."""
        return self._transact([_Request(P.Opcode(opcode), bytes(payload))])[0]

    # -- commands ---------------------------------------------------------------------------

    def identify(self) -> Identity:
        raw = self.request(P.Opcode.IDENTIFY)
        if len(raw) != P.IDENTITY_BYTES:
            raise WrongDevice(f"{self.url} answered IDENTIFY with {len(raw)} bytes; a "
                              f"plasticore core answers {P.IDENTITY_BYTES}")
        return Identity(**P.unpack(P.IDENTITY, raw))

    def reset(self) -> None:
        """Zero all neuron state, spikes and the step counter; weights and parameters stay."""
        self._step = None
        self.request(P.Opcode.RESET)
        self._step = 0

    def status(self) -> dict[str, Any]:
        status = P.unpack(P.STATUS_WORD, self.request(P.Opcode.STATUS))
        self._learning, self._step = bool(status["learning"]), status["step"]
        return status

    @property
    def learning(self) -> bool:
        return bool(self.status()["learning"])

    @learning.setter
    def learning(self, on: bool) -> None:
        self._learning = bool(on)
        self._control()

    @property
    def seed(self) -> int:
        """The SEED of stochastic rounding last set through this driver (a core does not
        report it; 0 after opening)."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        from plasticore.fixed import SEED
        self._seed = int(SEED.check(value, "rounding seed"))
        self._learning = self.learning
        self._control()

    def _control(self) -> None:
        self.request(P.Opcode.CONTROL, P.pack(P.CONTROL, {"learning": int(bool(self._learning)),
                                                          "seed": self._seed}))

    def require(self, needs: Iterable[str], what: str = "the program") -> None:
        """Raise :class:`MissingOption` if the core lacks one of the options ``needs``."""
        missing = sorted(set(needs) - self._opened.option_names)
        if missing:
            have = ", ".join(sorted(self._opened.option_names)) or "none"
            raise MissingOption(
                f"{what} needs the learning option(s) {', '.join(missing)}, but {self.url} "
                f"was built without (its options: {have}); build it with "
                f"CoreParams({', '.join(f'{k}=True' for k in missing)}) or use the "
                f"virtual chip")

    def has(self, option: str) -> bool:
        return option in self._opened.option_names

    # -- regions ----------------------------------------------------------------------------

    def _check_range(self, region: P.WireRegion, start: int, count: int) -> None:
        total = P.region_words(region, self.n)
        if start < 0 or count < 0 or start + count > total:
            raise ValueError(f"words {start} .. {start + count - 1} are outside region "
                             f"{region.name}, which has {total} words")

    def write_region(self, region: P.WireRegion | int, start: int, data: bytes) -> None:
        """Write whole words of ``region`` from ``start``; split into as many frames as
        needed and pipelined."""
        region = P.WireRegion(region)
        size = P.wire_bytes(region)
        if len(data) % size:
            raise ValueError(f"{len(data)} bytes are not whole {size}-byte words of "
                             f"{region.name}")
        count = len(data) // size
        self._check_range(region, start, count)
        per = (self._opened.max_payload - P.ACCESS_BYTES) // size
        reqs = []
        for k in range(0, count, per):
            c = min(per, count - k)
            head = P.pack(P.ACCESS, {"region": region, "count": c, "start": start + k})
            reqs.append(_Request(P.Opcode.WRITE, head + data[k * size:(k + c) * size]))
        self._transact(reqs)

    def read_region(self, region: P.WireRegion | int, start: int, count: int) -> bytes:
        region = P.WireRegion(region)
        size = P.wire_bytes(region)
        self._check_range(region, start, count)
        per = self._opened.max_payload // size
        reqs = [_Request(P.Opcode.READ, P.pack(P.ACCESS, {
            "region": region, "count": min(per, count - k), "start": start + k}))
            for k in range(0, count, per)]
        return b"".join(self._transact(reqs))

    def _write_table(self, region: P.WireRegion, table: Table) -> None:
        if table.n != self.n:
            raise ValueError(f"a table of {table.n} neurons does not fit a core of {self.n}")
        self.write_region(region, 0, table.to_bytes())

    def _read_table(self, region: P.WireRegion, layout: amaranth_data.StructLayout) -> Table:
        return Table.from_bytes(layout, self.read_region(region, 0, self.n))

    def write_weights(self, weights: npt.ArrayLike) -> None:
        w = np.asarray(weights)
        if w.shape != (self.n, self.n):
            raise ValueError(f"weights must have shape ({self.n}, {self.n}), not {w.shape}")
        from plasticore.fixed import WEIGHT
        self.write_region(P.WireRegion.WEIGHTS, 0,
                          WEIGHT.check(w, "weights").astype(np.int8).tobytes())

    def read_weights(self) -> np.ndarray:
        raw = self.read_region(P.WireRegion.WEIGHTS, 0, self.n * self.n)
        return np.frombuffer(raw, np.int8).astype(np.int64).reshape(self.n, self.n)

    def write_elig(self, elig: npt.ArrayLike) -> None:
        """Write the eligibility of every synapse (option eligibility)."""
        e = np.asarray(elig)
        if e.shape != (self.n, self.n):
            raise ValueError(f"eligibility must have shape ({self.n}, {self.n}), not {e.shape}")
        from plasticore.fixed import ELIGIBILITY
        self.require({"eligibility"}, "writing the eligibility")
        self.write_region(P.WireRegion.ELIGIBILITY, 0,
                          ELIGIBILITY.check(e, "eligibility").astype(np.int8).tobytes())

    def read_elig(self) -> np.ndarray:
        """The eligibility of every synapse (option eligibility)."""
        self.require({"eligibility"}, "reading the eligibility")
        raw = self.read_region(P.WireRegion.ELIGIBILITY, 0, self.n * self.n)
        return np.frombuffer(raw, np.int8).astype(np.int64).reshape(self.n, self.n)

    def write_rule_params(self, table: Table) -> None:
        """Write the RULE_PARAMS words (a core with at least one option)."""
        self._require_any("writing rule parameters")
        self._write_table(P.WireRegion.RULE_PARAMS, table)

    def read_rule_params(self) -> Table:
        self._require_any("reading rule parameters")
        return self._read_table(P.WireRegion.RULE_PARAMS, RULE_PARAMS)

    def _require_any(self, what: str) -> None:
        if not self._opened.option_names:
            raise MissingOption(f"{what} needs a core with a learning option, but {self.url} "
                                f"was built without any")

    def write_triplet_state(self, table: Table) -> None:
        self.require({"triplet"}, "writing the slow traces")
        self._write_table(P.WireRegion.TRIPLET_STATE, table)

    def read_triplet_state(self) -> Table:
        self.require({"triplet"}, "reading the slow traces")
        return self._read_table(P.WireRegion.TRIPLET_STATE, TRIPLET_STATE)

    def _write_bits(self, region: P.WireRegion, bits: npt.ArrayLike, total: int) -> None:
        padded = np.zeros(P.region_words(region, self.n) * 8, bool)
        padded[:total] = np.asarray(bits, bool).reshape(-1)
        self.write_region(region, 0, np.packbits(padded, bitorder="little").tobytes())

    def _read_bits(self, region: P.WireRegion, total: int) -> np.ndarray:
        raw = self.read_region(region, 0, P.region_words(region, self.n))
        return np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[:total] \
            .astype(bool)

    def write_plastic(self, plastic: npt.ArrayLike) -> None:
        p = np.asarray(plastic)
        if p.shape != (self.n, self.n):
            raise ValueError(f"plasticity bits must have shape ({self.n}, {self.n}), "
                             f"not {p.shape}")
        self._write_bits(P.WireRegion.PLASTIC, p, self.n * self.n)

    def read_plastic(self) -> np.ndarray:
        return self._read_bits(P.WireRegion.PLASTIC, self.n * self.n).reshape(self.n, self.n)

    def read_spikes(self) -> np.ndarray:
        return self._read_bits(P.WireRegion.SPIKES, self.n)

    def write_neuron_params(self, table: Table) -> None:
        self._write_table(P.WireRegion.NEURON_PARAMS, table)

    def read_neuron_params(self) -> Table:
        return self._read_table(P.WireRegion.NEURON_PARAMS, NEURON_PARAMS)

    def write_learning_params(self, table: Table) -> None:
        self._write_table(P.WireRegion.LEARNING_PARAMS, table)

    def read_learning_params(self) -> Table:
        return self._read_table(P.WireRegion.LEARNING_PARAMS, LEARNING_PARAMS)

    def write_state(self, table: Table) -> None:
        self._write_table(P.WireRegion.NEURON_STATE, table)

    def read_state(self) -> Table:
        return self._read_table(P.WireRegion.NEURON_STATE, NEURON_STATE)

    def load(self, config: CoreConfig, *, verify: bool = False) -> None:
        """Upload a compiled program: weights, plasticity bits, neuron and learning
        parameters; then reset the state.  ``verify`` reads everything back."""
        config.validate()
        if config.n != self.n:
            raise WrongDevice(f"the program is for {config.n} neurons, but {self.url} has "
                              f"{self.n}")
        self.require(config.needs())
        self.write_weights(config.weights)
        self.write_plastic(config.plastic)
        self.write_neuron_params(config.neurons)
        self.write_learning_params(config.learning)
        if self._opened.option_names:
            self.write_rule_params(config.rules)
        if self.has("eligibility"):
            self.write_elig(config.elig)
        self.seed = config.seed
        self.reset()
        if verify:
            back = self.read_config()
            if back != config:
                raise LinkError(f"{self.url} reads back a different program than was loaded")

    def clear(self) -> None:
        """Zero every memory (weights, plasticity bits, parameters, state), switch learning
        off and reset: the state of a freshly configured core."""
        self.load(CoreConfig(self.n))
        self.learning = False

    def read_config(self) -> CoreConfig:
        """The program in the core (the seed is the one last set through this driver; a
        core without an option has the option's parts at zero)."""
        return CoreConfig(
            self.n, self.read_neuron_params(), self.read_learning_params(),
            self.read_weights(), self.read_plastic(),
            rules=self.read_rule_params() if self._opened.option_names else None,
            elig=self.read_elig() if self.has("eligibility") else None, seed=self.seed)

    def snapshot(self) -> Snapshot:
        """Everything the reference's :meth:`~plasticore.sim.Reference.snapshot` holds (the
        slow traces and eligibility only if the core has their options)."""
        return Snapshot(self.status()["step"], self.read_spikes(), self.read_state(),
                        self.read_weights(),
                        self.read_triplet_state() if self.has("triplet") else None,
                        self.read_elig() if self.has("eligibility") else None)

    # -- running ----------------------------------------------------------------------------

    def run(self, steps: int, inputs: np.ndarray | Sequence[Iterable[int]] | None = None,
            progress: Callable[[int, int], object] | None = None,
            record: Sequence[str] = (), reset: bool = False,
            modulators: Sequence[int | None] | None = None) -> Record:
        """Run ``steps`` timesteps, forcing ``inputs`` (None, a bool array (steps, n), or
        ``steps`` lists of neuron indices); return the spikes of every step, and in
        ``state[name]`` (int, steps x n) the NEURON_STATE fields named in ``record`` after
        every step.

        ``modulators``: None, or ``steps`` entries, each None (an unmodulated step) or the
        raw MODULATOR ``r`` of that step (three-factor learning: option eligibility; see
        :meth:`plasticore.sim.Reference.step`).

        Steps go out in RUN frames as large as the payload allows, with up to ``rx_buffers``
        frames in flight, so the line streams both ways without pause.  With ``record``, the
        RUNs ask the device to stream those fields with each step's answer (RUN_HEADER.record:
        3 bytes per neuron and step for v) when it can (:meth:`streams`: IDENTITY.record
        names them, and one step's record fits a packet: v up to N = 161); otherwise each
        step is a RUN of one step followed by READs of the neuron state, all pipelined the
        same way (the line carries the whole NEURON_STATE words, 14 bytes per neuron and
        step).  With ``reset``, a RESET goes
        first, pipelined with the RUNs: as :meth:`reset` then :meth:`run`, one round trip
        shorter.  ``progress(done, total)`` is called as answers arrive.
        """
        names = list(record)
        unknown = [name for name in names if name not in NEURON_STATE.members]
        if unknown:
            raise ValueError(f"cannot record {', '.join(map(repr, unknown))}: the neuron state "
                             f"has {', '.join(NEURON_STATE.members)}")
        mask = P.record_mask(names) if self.streams(names) else 0
        steps = int(steps)
        if steps < 0:
            raise ValueError(f"number of steps must be >= 0, not {steps}")
        records = self._input_records(steps, inputs, modulators)
        known, self._step = (0 if reset else self._step), None
        first = known if known is not None else self.status()["step"]
        state = {name: np.zeros((steps, self.n), np.int64) for name in names}
        try:
            spikes = self._run(records, first, progress, state, reset=reset,
                               stale_ok=not reset, record=mask)
        except _StaleStep:
            # The step counter changed behind this session's back (a raw request): nothing
            # ran; read it and start again.
            first = self.status()["step"]
            self._step = None
            spikes = self._run(records, first, progress, state, stale_ok=False, record=mask)
        self._step = (first + steps) & 0xFFFFFFFF
        return Record(spikes, state)

    def run_each(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run each of ``inputs`` (bool arrays, steps x n, the forced neurons) from a reset:
        the same as :meth:`reset` and then :meth:`run` for each in turn, and the same
        answers, but sent as one stream of requests (a RESET and the RUNs of each, up to
        ``rx_buffers`` in flight), so that the core never waits for a round trip between
        two of them.  Returns the spikes of each (bool, steps x n).  Raises as :meth:`run`
        (a lost RUN frame is not resent: :class:`LinkError`)."""
        reqs: list[_Request] = []
        counts: list[int] = []
        for forced in inputs:
            runs, run_counts = self._run_requests(self._input_records(len(forced), forced), 0)
            reqs += [_Request(P.Opcode.RESET, b""), *runs]
            counts += [0, *run_counts]
        self._step = None
        spikes = np.zeros((sum(counts), self.n), bool)
        done = [0] * len(reqs)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)

        def take(k: int, body: bytes) -> None:
            offset = 0
            while offset < len(body):
                if done[k] >= counts[k]:
                    raise LinkError(f"{self.url} sent more spike records than steps")
                idx, offset = self._take_step(body, offset, 0, {}, 0)
                spikes[starts[k] + done[k], idx] = True
                done[k] += 1
                exchange = reqs[k].exchange
                if exchange is not None:
                    exchange.spikes.append(len(idx))

        try:
            self._transact(reqs, on_more=take, on_final=take)
        except RequestRejected as e:
            if e.status == P.Status.OUT_OF_SEQUENCE:
                raise LinkError(f"a RUN frame to {self.url} was lost") from None
            raise
        if done != counts:
            raise LinkError(f"{self.url} answered {sum(done)} of {sum(counts)} steps")
        if inputs:
            self._step = len(inputs[-1]) & 0xFFFFFFFF
        bounds = np.cumsum([0, *(len(forced) for forced in inputs)])
        return [spikes[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def streams(self, names: Iterable[str]) -> bool:
        """True if a RUN on this device can stream the NEURON_STATE fields ``names`` with its
        answers (:meth:`run` then does), False if recording them takes READs."""
        mask = P.record_mask(names)
        return (self.stream_state and bool(mask) and not mask & ~self._opened.record
                and P.record_fits(self.n, mask))

    def _state_reads(self) -> list[_Request]:
        """The READs of the whole NEURON_STATE region, as :meth:`read_region` splits it."""
        region = P.WireRegion.NEURON_STATE
        per = self._opened.max_payload // P.wire_bytes(region)
        return [_Request(P.Opcode.READ, P.pack(P.ACCESS, {
            "region": region, "count": min(per, self.n - k), "start": k}))
            for k in range(0, self.n, per)]

    def _run(self, records: Sequence[bytes], first: int,
             progress: Callable[[int, int], object] | None,
             state: dict[str, np.ndarray] | None = None, reset: bool = False,
             stale_ok: bool = True, record: int = 0) -> np.ndarray:
        """The RUNs of ``records`` from step ``first`` on (after a RESET if ``reset``); the
        spikes of every step, and the fields of ``state`` (filled in) after every step:
        streamed with the RUNs' answers if ``record`` (their mask) is set, else read.
        Raises :class:`_StaleStep` if ``stale_ok`` and the first RUN was refused as out of
        sequence (so none ran)."""
        steps = len(records)
        reads = len(self._state_reads()) if state and not record else 0
        reqs, counts = self._recording_requests(records, first, reads, reset, record)
        take_state = _StateTaker(state or {}, reads, offset=int(reset))
        spikes = np.zeros((steps, self.n), bool)
        got = [0] * len(reqs)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)

        def take(k: int, body: bytes) -> None:
            if reqs[k].opcode == P.Opcode.READ:
                take_state(k, body)
                return
            if reqs[k].opcode == P.Opcode.RESET:
                return
            offset = 0
            while offset < len(body):
                if got[k] >= counts[k]:
                    raise LinkError(f"{self.url} sent more spike records than steps")
                idx, offset = self._take_step(body, offset, record, state or {},
                                              starts[k] + got[k])
                spikes[starts[k] + got[k], idx] = True
                got[k] += 1
                exchange = reqs[k].exchange
                if exchange is not None:
                    exchange.spikes.append(len(idx))
            if progress is not None:
                progress(int(sum(got)), steps)

        try:
            # Answers are taken (and progress reported) as they arrive, so that an interrupt
            # from the progress callback stops the run while it is under way.
            self._transact(reqs, on_more=take, on_final=take)
        except KeyboardInterrupt:
            self.abort()
            raise
        except RequestRejected as e:
            if e.status == P.Status.OUT_OF_SEQUENCE:
                if stale_ok and sum(got) == 0:
                    raise _StaleStep from None
                raise LinkError(f"a RUN frame to {self.url} was lost; the run stopped at "
                                f"step {self.status()['step'] - first} of {steps}") from None
            raise
        for k in range(len(reqs)):
            if got[k] != counts[k]:
                raise LinkError(f"{self.url} answered {got[k]} of {counts[k]} steps of a RUN")
        return spikes

    def _take_step(self, body: bytes, offset: int, record: int,
                   state: dict[str, np.ndarray], row: int) -> tuple[list[int], int]:
        """The step record at ``offset`` of a RUN's answer: ``(neurons that fired, offset
        after it)``; its streamed fields (``record``) go into ``state[...][row]``."""
        try:
            idx, offset = P.decode_record(body, offset, self.n)
        except ValueError as e:
            raise LinkError(f"malformed spike record from {self.url}: {e}") from None
        if not record:
            return idx, offset
        try:
            fields, offset = P.decode_state(body, offset, self.n, record)
        except ValueError as e:
            raise LinkError(f"malformed streamed state from {self.url}: {e}") from None
        for name, values in fields.items():
            if name in state:
                state[name][row] = values
        return idx, offset

    def _recording_requests(self, records: Sequence[bytes], first: int, reads: int,
                            reset: bool, record: int = 0) -> tuple[list[_Request], list[int]]:
        """:meth:`_run_requests` (streaming the fields of ``record``), or with ``reads`` > 0
        a RUN of one step followed by the ``reads`` READs of the neuron state for every step
        (0 steps counted for a READ); with ``reset``, a RESET first (0 steps)."""
        reqs: list[_Request] = [_Request(P.Opcode.RESET, b"")] if reset else []
        counts: list[int] = [0] if reset else []
        if not reads:
            runs, run_counts = self._run_requests(records, first, record=record)
            return reqs + runs, counts + run_counts
        for k, rec in enumerate(records):
            reqs += self._run_requests([rec], (first + k) & 0xFFFFFFFF)[0] + self._state_reads()
            counts += [1] + [0] * reads
        return reqs, counts

    def _run_requests(self, records: Sequence[bytes], first: int,
                      ramp: Sequence[int] = (8, 64),
                      record: int = 0) -> tuple[list[_Request], list[int]]:
        """RUN requests carrying ``records`` from step ``first`` on, as large as the payload
        allows, and the number of steps in each: ``(requests, counts)``.

        A core starts a RUN only once its whole frame has arrived, so by default the first
        frames are kept short (``ramp``: at most 8, then 64 steps): the answers start flowing
        after 8 steps' worth of input, not after a full frame (~5 ms at 1 Mbaud), and the
        window fills while they run."""
        limit = self._opened.max_payload - P.RUN_HEADER_BYTES
        reqs: list[_Request] = []
        counts: list[int] = []
        chunk: list[bytes] = []
        size = 0
        for rec in [*records, None]:
            most = ramp[len(reqs)] if len(reqs) < len(ramp) else None
            if rec is None or (chunk and (size + len(rec) > limit or len(chunk) == most)):
                head = P.pack(P.RUN_HEADER, {"first_step": (first + sum(counts)) & 0xFFFFFFFF,
                                             "steps": len(chunk), "record": record})
                if chunk:
                    reqs.append(_Request(P.Opcode.RUN, head + b"".join(chunk)))
                    counts.append(len(chunk))
                chunk, size = [], 0
            if rec is not None:
                chunk.append(rec)
                size += len(rec)
        return reqs, counts

    def abort(self, quiet: float = 0.3) -> int:
        """Stop a RUN in progress (at its next answer) and drop the RUNs queued behind it,
        then drain every answer still on its way, so the session can go on.  Returns the
        number of answers drained."""
        self._seq = (self._seq + 1) & 0xFF
        self._step = None
        seq = self._seq
        header = P.pack(P.REQUEST_HEADER, {"opcode": P.Opcode.ABORT, "seq": seq, "length": 0})
        self._write(b"\0" + P.encode_frame(header))
        drained, seen = 0, False
        deadline = time.monotonic() + self.timeout
        while True:
            resp = self._next_response(min(deadline, time.monotonic() + quiet) if seen
                                       else deadline)
            if resp is None:
                if not seen:
                    raise NoAnswer(f"no answer from {self.url} to ABORT within "
                                   f"{self.timeout} s")
                return drained
            drained += 1
            seen = seen or (resp[1] == seq and resp[0] == P.Status.OK)

    def _input_records(self, steps: int,
                       inputs: np.ndarray | Sequence[Iterable[int]] | None,
                       modulators: Sequence[int | None] | None = None) -> list[bytes]:
        n = self.n
        mods: Sequence[int | None] = [None] * steps if modulators is None else modulators
        if len(mods) != steps:
            raise ValueError(f"modulators given for {len(mods)} steps, but running {steps}")
        if any(r is not None for r in mods):
            self.require({"eligibility"}, "a run with modulators")
        if inputs is None:
            rows: Sequence[Iterable[int]] = [()] * steps
        elif isinstance(inputs, np.ndarray) and inputs.dtype == bool:
            if inputs.shape != (steps, n):
                raise ValueError(f"input raster must have shape ({steps}, {n}), "
                                 f"not {inputs.shape}")
            rows = [np.flatnonzero(row) for row in inputs]
        elif len(inputs) != steps:
            raise ValueError(f"inputs given for {len(inputs)} steps, but running {steps}")
        else:
            rows = [row for row in inputs]  # noqa: C416 (a list, whatever the sequence)
        return [P.encode_record(row, n, r) for row, r in zip(rows, mods, strict=True)]


class _StateTaker:
    """Collects the READ answers of a recording run: request ``k`` (counted from the first
    RUN, ``offset`` requests in) is the ``k % (reads+1)``-th request of step
    ``k // (reads+1)`` (its RUN first); the step's last READ completes the
    NEURON_STATE table, whose fields named in ``state`` go into row ``step``."""

    def __init__(self, state: dict[str, np.ndarray], reads: int, offset: int = 0) -> None:
        self.state, self.reads, self.offset = state, reads, offset
        self.words = bytearray()

    def __call__(self, k: int, body: bytes) -> None:
        k -= self.offset                    # the requests before the first RUN
        self.words.extend(body)
        if k % (self.reads + 1) == self.reads:
            table = Table.from_bytes(NEURON_STATE, bytes(self.words))
            for name, rows in self.state.items():
                rows[k // (self.reads + 1)] = table[name]
            self.words.clear()


def _count_answer(ex: Exchange, status: P.Status | int, seq: int, body: bytes) -> None:
    """Add the wire bytes of an answer frame (header, payload, CRC, COBS, delimiter)."""
    if isinstance(status, P.Status):
        head = P.pack(P.RESPONSE_HEADER, {"status": status, "seq": seq, "length": len(body)})
        ex.answer_bytes += len(P.encode_frame(head + body))


_STATUS_TEXT: dict[P.Status | int, str] = {
    P.Status.BAD_LENGTH: "the payload length does not fit the request",
    P.Status.BAD_ADDRESS: "an address outside the core",
    P.Status.UNKNOWN_OPCODE: "the device does not know this request",
    P.Status.BAD_VALUE: "a value outside its format; nothing was changed",
    P.Status.ABORTED: "stopped by ABORT",
    P.Status.OUT_OF_SEQUENCE: "an earlier RUN was lost",
}

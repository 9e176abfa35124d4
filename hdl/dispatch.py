"""The command dispatcher: protocol requests (:mod:`plasticore.protocol`) on the core's
access port.

::

                +-----------+  rd_offset / rd_data  +------------+  source (answer bytes)
   sink ------->| RxBuffers |<--------------------->| ByteEngine |------------------------>
   (TOKEN)      +-----------+                       +------------+
                  | ready, length, pending, abort,     ^  fetch / emit strobes, word
                  | counters                           |
                  v                                    |
                +------------------------------------------+  req / rsp
                | Dispatcher: the request sequencer (FSM)  |<-----------> Core access port
                |   checker | IDENTIFY, RESET, CONTROL,    |
                |           | STATUS | READ, WRITE | RUN   |
                +------------------------------------------+

:class:`RxBuffers` stores whole checked frames; :class:`ByteEngine` moves bytes: from a
buffer into the fetch register, and from the answer sources to ``source``.  The sequencer
is one FSM whose states each opcode family adds (``_Checker``, ``_Simple``, ``_Access``,
``_Run``); the families share the engine, the core port and the walk registers (``left``,
``caddr``, ``bit``), so that the iCE40 build holds one copy of each.

The answers are byte for byte those of the virtual chip (:mod:`plasticore.driver.virtual`,
the executable specification); ``tests/link/test_dispatcher.py`` checks this.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib import stream as _stream  # where a parameter is named stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    OPTION_FIELDS,
    RULE_PARAMS,
    SYNAPSE,
    TRIPLET_STATE,
    CoreParams,
)

from .access import COMMAND_WORD, DATA_WIDTH, Command, Region, Register, request_layout
from .framing import TOKEN

__all__ = ["BUFFER_BYTES", "WORD_BYTES", "STREAM_DEFAULT", "Answer", "RxBuffers", "ByteEngine",
           "Dispatcher", "stream_cycles"]

#: The NEURON_STATE fields a RUN streams by default (``Dispatcher(stream=...)``): the
#: membrane potential, what a recording run asks for most.  v sits in the low 24 bits of
#: the state word, so it streams straight from the word read with no field multiplexer.
STREAM_DEFAULT: tuple[str, ...] = ("v",)

#: Bits of the register that a streamed field is moved into (the widest field, 24 bits).
_FIELD_BITS = 8 * max(P.field_bytes(name) for name in P.RECORD_FIELDS)


def stream_cycles(n: int, record: int, stream: tuple[str, ...] = STREAM_DEFAULT) -> int:
    """Dispatcher cycles that streaming the fields of ``record`` adds to a step of a core of
    ``n`` neurons built with ``stream``, when the line takes every byte at once: per neuron,
    the state word's read (2 cycles when the core is idle: request, response), a state per
    field the build streams (1 each; a selected field is moved into the answer word there),
    a byte per cycle, and 1 to go to the next neuron.  At 1 Mbaud on a 12 MHz clock the line
    takes a byte per 120 cycles, so the line, not these cycles, sets the pace (N = 96, v:
    672 cycles of dispatcher against 34,560 cycles of line per step)."""
    if not record:
        return 0
    return n * (2 + len(stream) + P.state_bytes(record) + 1)

#: Bytes of one receive buffer: header + largest payload + CRC.
BUFFER_BYTES = P.HEADER_BYTES + P.MAX_PAYLOAD + 2
assert BUFFER_BYTES == 512
#: Bits of a byte offset in one buffer.
OFFSET_BITS = (BUFFER_BYTES - 1).bit_length()
assert P.HEADER_BYTES + P.MAX_PAYLOAD < 1 << OFFSET_BITS

#: Bytes of the fetch register: the largest wire word (NEURON_PARAMS, 15 bytes), and above
#: it the byte a fetch shifts in, so that bytes fetched last stay out of a request's data.
WORD_BYTES = max(P.wire_bytes(r) for r in P.WireRegion) + 1
assert WORD_BYTES == 16 and DATA_WIDTH <= 8 * (WORD_BYTES - 1)
assert max(s.value for s in P.Status) < 16

#: Bits of an answer's length that can be set (the rest of RESPONSE_HEADER.length is 0).
LENGTH_BITS = P.MAX_PAYLOAD.bit_length()

#: The u16 head of a spike record (:func:`plasticore.protocol.encode_record`).
RECORD_HEAD = data.StructLayout({"count": P.COUNT_MASK.bit_length(), "modulated": 1,
                                  "dense": 1})
assert RECORD_HEAD.const({"dense": 1}).as_value().value == P.DENSE
assert RECORD_HEAD.const({"modulated": 1}).as_value().value == P.MODULATED

assert (SYNAPSE["weight"].offset, SYNAPSE["plastic"].offset) == (0, 8)

_WORD_LAYOUTS = {P.WireRegion.NEURON_PARAMS: (Region.NEURON_PARAMS, NEURON_PARAMS),
                 P.WireRegion.LEARNING_PARAMS: (Region.LEARNING_PARAMS, LEARNING_PARAMS),
                 P.WireRegion.NEURON_STATE: (Region.NEURON_STATE, NEURON_STATE),
                 P.WireRegion.RULE_PARAMS: (Region.RULE_PARAMS, RULE_PARAMS),
                 P.WireRegion.TRIPLET_STATE: (Region.TRIPLET_STATE, TRIPLET_STATE)}


class Answer(enum.Enum, shape=2):
    """Where :class:`ByteEngine` takes the answer byte ``k`` from."""
    WORD = 0            # byte k of the last core response
    HEADER = 1          # byte k of the RESPONSE_HEADER
    IDENTITY = 2        # byte k of the IDENTITY answer (a constant)
    BITS = 3            # the byte of bits read one by one


def _at_most(value, limit: int):
    """``value <= limit`` for a constant ``limit``; a power of two as a test of the high bits
    (a comparator costs about twice the LUTs)."""
    if limit & (limit - 1) == 0 and limit.bit_length() <= len(value):
        low = limit.bit_length() - 1
        return (value[low:] == 0) | (value == limit)
    return value <= limit


def _below(value, limit: int):
    """``value < limit`` for a small constant ``limit``, as a test of the high bits and a
    match of the low ones: LUT logic only, where a comparator takes a carry chain that the
    iCE40 packs into logic cells of its own (one per bit)."""
    low = max(1, (limit - 1).bit_length())
    return (value[low:] == 0) & value[:low].matches(*range(limit))


def _word_ok(layout: data.StructLayout, word):
    """True if ``word`` (a wire word of ``layout``) has zero padding and every decay factor
    at most 1.0: the checks the virtual chip makes before it writes."""
    size = (layout.size + 7) // 8 * 8
    ok = word[layout.size:size] == 0 if size > layout.size else Const(1)
    view = data.View(layout, word[:layout.size])
    for name, field in layout:
        if field.shape is F.DECAY:
            ok = ok & _at_most(view[name], F.DECAY.max)
    return ok


def _by_region(region, values: dict, width: int):
    """``values[region]`` (a constant per :class:`~plasticore.protocol.WireRegion`)."""
    out = Const(0, width)
    for r, v in values.items():
        out = Mux(region == r.value, v, out)
    return out


class RxBuffers(wiring.Component):
    """The receive side: :data:`~plasticore.protocol.RX_BUFFERS` buffers of
    :data:`BUFFER_BYTES` bytes in one block RAM, filled in turn, read in the same turn.

    A frame (``sink``, after the CRC check) is stored whole with its length, its CRC verdict
    and whether it overflowed the buffer; the buffer is then ``ready`` (the one at the read
    turn) until ``free``.  A frame that finds its buffer full is dropped; it leaves a pending
    answer (``pending``: BUSY, BAD_CRC if it was corrupted, OK for an ABORT), one at a time
    (further ones are dropped silently), until ``take``.  A good ABORT frame raises
    ``abort`` until ``clear_abort`` or until the sequencer is ``idle`` with nothing received
    or buffered.  Counters wrap; ``reject`` (or a ``take`` of a BUSY answer) counts a
    rejected frame.

    Latency: ``sink`` is always ready, one byte per cycle; a frame is ``ready`` the cycle
    after its end token.  ``rd_data`` is the byte at ``rd_offset`` of the read buffer one
    cycle later.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
    uart_error, reject : In(1)
        Count a byte the UART dropped, a frame answered with an error status.
    rd_offset : In(9), rd_data : Out(8)
        The read port on the buffer at the read turn.
    ready, crc_error, overflow : Out(1); length : Out(10)
        The buffer at the read turn holds a frame; its verdicts and byte count.
    free : In(1)
        Strobe: done with that buffer; the turn goes to the next.
    pending : Out(1); pending_status : Out(4); pending_seq : Out(8); take : In(1)
        The answer owed to a dropped frame.
    abort : Out(1); clear_abort, idle : In(1)
    frames, crc_errors, uart_errors, rejected : Out(16)
    busy : Out(1)
        A frame is being received, buffered, or owed an answer.
    """

    def __init__(self):
        super().__init__({
            "sink": In(stream.Signature(TOKEN)),
            "uart_error": In(1), "reject": In(1),
            "rd_offset": In(OFFSET_BITS), "rd_data": Out(8),
            "ready": Out(1), "crc_error": Out(1), "overflow": Out(1),
            "length": Out(range(BUFFER_BYTES + 1)), "free": In(1),
            "pending": Out(1), "pending_status": Out(4), "pending_seq": Out(8), "take": In(1),
            "abort": Out(1), "clear_abort": In(1), "idle": In(1),
            "frames": Out(16), "crc_errors": Out(16), "uart_errors": Out(16),
            "rejected": Out(16),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        nbuf = P.RX_BUFFERS
        assert nbuf == 2, "the buffer index is one bit"
        m.submodules.mem = mem = Memory(shape=8, depth=nbuf * BUFFER_BYTES, init=[])
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=())
        full, bad, over = Signal(nbuf), Signal(nbuf), Signal(nbuf)
        flen = [Signal(range(BUFFER_BYTES + 1), name=f"flen{b}") for b in range(nbuf)]
        wbuf, rbuf = Signal(), Signal()
        wptr = Signal(range(BUFFER_BYTES + 1))
        receiving, discard, overflow = Signal(), Signal(), Signal()
        first = Signal(P.REQUEST_HEADER)    # its opcode and seq: the first two bytes
        tok = self.sink.payload

        m.d.comb += [self.sink.ready.eq(1), rd.en.eq(1), rd.addr.eq(Cat(self.rd_offset, rbuf)),
                     self.rd_data.eq(rd.data)]
        with m.If(self.uart_error):
            m.d.sync += self.uart_errors.eq(self.uart_errors + 1)

        with m.If(self.sink.valid & ~tok.end):
            with m.If(~receiving):
                m.d.sync += [receiving.eq(1), discard.eq(full.bit_select(wbuf, 1)),
                             wptr.eq(1), overflow.eq(0), first.opcode.eq(tok.data),
                             first.seq.eq(0)]
                m.d.comb += [wr.en.eq(~full.bit_select(wbuf, 1)), wr.addr.eq(wbuf << OFFSET_BITS),
                             wr.data.eq(tok.data)]
            with m.Else():
                with m.If(wptr == 1):
                    m.d.sync += first.seq.eq(tok.data)
                with m.If(wptr == BUFFER_BYTES):
                    m.d.sync += overflow.eq(1)
                with m.Else():
                    m.d.sync += wptr.eq(wptr + 1)
                    m.d.comb += [wr.en.eq(~discard), wr.addr.eq(Cat(wptr[:OFFSET_BITS], wbuf)),
                                 wr.data.eq(tok.data)]
        good_abort = Signal()
        m.d.comb += good_abort.eq(~tok.error & (wptr == P.HEADER_BYTES + 2)
                                  & (first.opcode == P.Opcode.ABORT))
        with m.If(self.sink.valid & tok.end):
            m.d.sync += [receiving.eq(0), self.frames.eq(self.frames + 1)]
            with m.If(tok.error):
                m.d.sync += self.crc_errors.eq(self.crc_errors + 1)
            with m.If(good_abort):
                m.d.sync += self.abort.eq(1)
            with m.If(receiving & ~discard):
                for b in range(nbuf):
                    with m.If(wbuf == b):
                        m.d.sync += [full[b].eq(1), bad[b].eq(tok.error),
                                     over[b].eq(overflow), flen[b].eq(wptr)]
                m.d.sync += wbuf.eq(~wbuf)
            with m.Elif(receiving & ~self.pending):
                m.d.sync += [self.pending.eq(1),
                             self.pending_status.eq(Mux(tok.error, P.Status.BAD_CRC.value,
                                                        Mux(good_abort, P.Status.OK.value,
                                                            P.Status.BUSY.value))),
                             self.pending_seq.eq(Mux(tok.error, 0, first.seq))]

        # -- the sequencer's side --------------------------------------------------------------
        with m.If(self.clear_abort | (self.idle & ~full.any() & ~receiving)):
            m.d.sync += self.abort.eq(0)
        with m.If(self.take):
            m.d.sync += self.pending.eq(0)
        with m.If(self.reject | (self.take & (self.pending_status == P.Status.BUSY.value))):
            m.d.sync += self.rejected.eq(self.rejected + 1)
        with m.If(self.free):
            for b in range(nbuf):
                with m.If(rbuf == b):
                    m.d.sync += full[b].eq(0)
            m.d.sync += rbuf.eq(~rbuf)
        m.d.comb += [self.ready.eq(full.bit_select(rbuf, 1)),
                     self.crc_error.eq(bad.bit_select(rbuf, 1)),
                     self.overflow.eq(over.bit_select(rbuf, 1)),
                     self.length.eq(Mux(rbuf, flen[1], flen[0])),
                     self.busy.eq(full.any() | receiving | self.pending)]
        return m


class ByteEngine(wiring.Component):
    """Moves a request's bytes into the fetch register and an answer's bytes out.

    Fetch: while ``fetch`` (and not ``stop``), the byte at ``offset`` of the read buffer
    shifts into the top of ``word`` (``pad``: a zero instead, ``offset`` stays) and
    ``offset`` advances: one byte per cycle, the first fetched byte of a run of n ending in
    byte ``WORD_BYTES - n``.  A fetch that starts (byte counter 0) zeroes the rest of
    ``word``; so does ``clear``.  ``seek`` sets ``offset`` to ``seek_to`` for the next cycle.

    Emit: while ``emit``, ``source`` offers byte ``k`` of the ``sel`` source (the response
    header, the identity constant, ``bits``, or the core word ``rword``); ``end`` offers the
    end token.

    Both count bytes in ``k``, which returns to 0 after byte ``last_index`` (``last`` is
    high on it) or on ``stop``, and advances one per fetched byte or per byte taken by
    ``source``.  ``done``: the last byte of a fetch or emit moves this cycle.

    Latency: none (``rd_offset`` is ``offset`` of the next cycle, so ``rd_data`` is always
    the byte at ``offset``).  Throughput: one byte per cycle either way.

    Members
    -------
    fetch, pad, stop, clear, seek : In(1); seek_to : In(9)
    offset : Out(9)
        The byte of the read buffer that ``rd_data`` holds.  A request never reaches the
        buffer's last bytes (it ends at ``HEADER_BYTES + MAX_PAYLOAD`` at most).
    rd_offset : Out(9); rd_data : In(8)
        The buffer read port (:class:`RxBuffers`).
    word : Out(8 * WORD_BYTES)
    emit, end : In(1); sel : In(Answer); last_index : In(5)
    header : In(RESPONSE_HEADER); bits : In(8); rword : In(DATA_WIDTH)
    k : Out(5); last, done : Out(1)
    source : Out(stream.Signature(TOKEN))
    """

    def __init__(self, identity: bytes):
        self.identity = identity
        super().__init__({
            "fetch": In(1), "pad": In(1), "stop": In(1), "clear": In(1),
            "seek": In(1), "seek_to": In(OFFSET_BITS), "offset": Out(OFFSET_BITS),
            "rd_offset": Out(OFFSET_BITS), "rd_data": In(8),
            "word": Out(8 * WORD_BYTES),
            "emit": In(1), "end": In(1), "sel": In(Answer),
            "last_index": In(range(len(identity))),
            "header": In(P.RESPONSE_HEADER), "bits": In(8), "rword": In(DATA_WIDTH),
            "k": Out(range(len(identity))), "last": Out(1), "done": Out(1),
            "source": Out(stream.Signature(TOKEN)),
        })

    def elaborate(self, platform):
        m = Module()
        k = self.k
        word = self.word
        shift = Signal()
        advance = Signal()
        offset_next = Signal.like(self.offset)
        m.d.comb += [
            shift.eq(self.fetch & ~self.stop),
            offset_next.eq(Mux(self.seek, self.seek_to,
                               Mux(shift & ~self.pad, self.offset + 1, self.offset))),
            self.rd_offset.eq(offset_next),
            self.last.eq(k == self.last_index),
            advance.eq(shift | (self.emit & self.source.ready)),
            self.done.eq(advance & self.last),
        ]
        m.d.sync += self.offset.eq(offset_next)
        with m.If(shift):
            m.d.sync += word.eq(Cat(word[8:], Mux(self.pad, 0, self.rd_data)))
        with m.If((shift & (k == 0)) | self.clear):
            m.d.sync += word[:-8].eq(0)
        with m.If(self.stop):
            m.d.sync += k.eq(0)
        with m.Elif(advance):
            m.d.sync += k.eq(Mux(self.last, 0, k + 1))

        identity = Signal(8)
        with m.Switch(k):
            for i, byte in enumerate(self.identity):
                with m.Case(i):
                    m.d.comb += identity.eq(byte)
        header = self.header.as_value()
        m.d.comb += [
            self.source.valid.eq(self.emit | self.end),
            self.source.payload.end.eq(self.end),
            self.source.payload.data.eq(
                Mux(self.sel == Answer.HEADER, header.word_select(k[:2], 8),
                    Mux(self.sel == Answer.IDENTITY, identity,
                        Mux(self.sel == Answer.BITS, self.bits,
                            self.rword.word_select(k[:4], 8))))),
        ]
        return m


class Dispatcher(wiring.Component):
    """Executes protocol requests on the core's access port.

    Receive side (:class:`RxBuffers`): frames arrive as :data:`~.framing.TOKEN` s (after
    the CRC check) and are stored whole in one of :data:`~plasticore.protocol.RX_BUFFERS`
    512-byte buffers (one block RAM), so that a request is checked completely before any of
    it executes: a corrupted or malformed request changes nothing.  While every buffer holds
    a request, a further frame is dropped and answered BUSY (BAD_CRC if it was corrupted);
    an ABORT is never refused.

    Execute side (the request FSM, with :class:`ByteEngine`): requests run in arrival order.
    Answers stream straight to ``source`` (header first: every answer length is known
    before the answer starts).  A request is read from its buffer one byte per cycle into a
    shift register, where every field sits at a fixed place and is read through a view of
    its contract layout.  READ, WRITE and RUN walk their payload twice with the same states:
    the first walk checks it (lengths, addresses, values; a READ's walk counts the answer's
    bytes), the second executes it.

    Throughput: far above a UART's (10 bit times per byte, 240 cycles at 24 cycles per bit).
    Measured at N = 16: a WRITE takes about 8 cycles per weight byte and 38 per parameter
    word, a READ 3 cycles per word before its answer starts (the first walk), then about 5
    per weight byte and 2 per parameter byte, about 30 per byte of PLASTIC or SPIKES bits;
    a RUN costs, per step, the core's step plus about 2N cycles of forced-bit writes and
    spike reads, plus :func:`stream_cycles` when it streams state fields.

    ``stream``: the NEURON_STATE fields a RUN may stream with its answers (an elaboration
    option: each field costs a state and, but for v, a move into the low bits of the
    answer word; none at all removes the streaming states).  IDENTIFY reports them
    (IDENTITY.record); a RUN asking for another field is refused BAD_VALUE, and one whose
    step record does not fit a packet BAD_LENGTH.  A streaming RUN reads each neuron's
    NEURON_STATE word once per step, after the step, through the core's access port.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
        Checked frames.
    source : Out(stream.Signature(TOKEN))
        Answers, to be CRC-appended and COBS-encoded.
    req, rsp, core_done
        The core's access port and its ``done`` pulse.  A read request's ``data`` is not
        meaningful.
    uart_error : In(1)
        Strobe per byte the UART receiver dropped (counted in STATUS).
    busy : Out(1)
        A request is buffered or executing.
    """

    def __init__(self, params: CoreParams, *, build=0, clock_hz=0,
                 stream: tuple[str, ...] = STREAM_DEFAULT):
        self.core_params = params
        self.build = build
        self.clock_hz = clock_hz
        # in the layout's order, as they travel; a field whose step record cannot fit a
        # packet at this N is left out (N = 256: v's would be 802 bytes), and costs nothing
        self.stream = P.streamable(params.n, stream)
        super().__init__({
            "sink": In(_stream.Signature(TOKEN)),
            "source": Out(_stream.Signature(TOKEN)),
            "req": Out(_stream.Signature(request_layout(params))),
            "rsp": In(_stream.Signature(DATA_WIDTH)),
            "core_done": In(1),
            "uart_error": In(1),
            "busy": Out(1),
        })

    def identity(self) -> bytes:
        """The answer to IDENTIFY."""
        return P.pack(P.IDENTITY, {
            "protocol": P.PROTOCOL_VERSION, "neurons": self.core_params.n,
            "contract": P.contract_hash(), "build": self.build,
            "max_payload": P.MAX_PAYLOAD, "rx_buffers": P.RX_BUFFERS,
            "clock_hz": self.clock_hz, "kind": 0, "record": P.record_mask(self.stream),
            "options": self.core_params.options_mask})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = RxBuffers()
        m.submodules.engine = eng = ByteEngine(self.identity())
        wiring.connect(m, wiring.flipped(self.sink), rx.sink)
        wiring.connect(m, eng.source, wiring.flipped(self.source))
        m.d.comb += [rx.uart_error.eq(self.uart_error), rx.rd_offset.eq(eng.rd_offset),
                     eng.rd_data.eq(rx.rd_data), self.busy.eq(rx.busy)]
        _Sequencer(m, self, rx, eng).build()
        return m


class _Base:
    """The request FSM's registers and the state builders every opcode family uses."""

    def __init__(self, m: Module, disp: Dispatcher, rx: RxBuffers, eng: ByteEngine):
        self.m, self.disp, self.rx, self.eng = m, disp, rx, eng
        self.req, self.rsp = disp.req, disp.rsp
        self.n = n = disp.core_params.n
        self.aw = len(disp.req.payload.addr)
        # ``caddr`` holds a start address plus up to MAX_PAYLOAD words without wrapping, so
        # that ``start + count > region_words`` is ``caddr > region_words`` after a walk.
        self.cw = cw = max(n * n, P.MAX_PAYLOAD).bit_length() + 1
        self.answer = Signal(P.RESPONSE_HEADER)     # status, seq, length of the answer
        self.fend = Signal.like(eng.offset)         # end of the payload (of a READ's answer)
        self.sbyte = Signal(8)                  # bits read one by one, the last at the top
        self.rword = Signal(DATA_WIDTH)         # the last core response
        self.learning = Signal()
        # A WireRegion; SPIKES while a RUN runs.  Only the regions the core has are held
        # (the others are refused first): 3 bits, 4 with TRIPLET_STATE (8).
        present = [r.value for r in P.WireRegion
                   if P.region_present(r, disp.core_params.options)]
        self.region = Signal(max(present).bit_length())
        self.writing = Signal()                 # the request is a WRITE
        self.running = Signal()                 # the request is a RUN
        self.rec_mod = Signal()                 # the RUN record is modulated (eligibility)
        self.mod_r = Signal(8)                  # its modulator
        self.pass2 = Signal()                   # second walk: execute (first: check)
        self.value_bad = Signal()
        self.start_bad = Signal()               # an ACCESS start beyond every region
        self.left = Signal(16)                  # words / steps left
        self.caddr = Signal(cw)                 # core word address, bitmap byte, or index
        self.cnt = Signal(RECORD_HEAD["count"].width)   # items left in a spike record
        self.bit = Signal(range(9))
        self.status_load = Signal()             # rword: the STATUS answer
        self.head_load = Signal()               # rword: a dense record head

    # -- transitions ----------------------------------------------------------------------
    def goto(self, then):
        """Go to state ``then``, or call it (a method that picks the state)."""
        if callable(then):
            then()
        else:
            self.m.next = then

    def fail(self, code: P.Status):
        self.m.next = f"ERROR_{code.name}"

    def next_word(self, state):
        self.m.d.sync += [self.left.eq(self.left - 1), self.caddr.eq(self.caddr + 1)]
        self.m.next = state

    def fetched(self, nbytes):
        """The last ``nbytes`` bytes fetched, the first one in the low byte."""
        return self.eng.word[8 * (WORD_BYTES - nbytes):]

    @staticmethod
    def _last_index(nbytes):
        """``nbytes - 1`` of a constant count; a Value is taken as the last index itself."""
        return nbytes - 1 if isinstance(nbytes, int) else nbytes

    # -- the byte engine ----------------------------------------------------------------------
    def fetch(self, name, nbytes, then, *, underrun=None, padded=None):
        """Shift ``nbytes`` bytes from the buffer at the engine's offset into the top of its
        word, one per cycle, then go to ``then``.  ``underrun``: fail with this status if
        the payload ends first.  ``padded``: shift in zeros instead while it holds.  A
        ``nbytes`` that is a Value is the index of the last byte (``nbytes - 1``)."""
        m, eng = self.m, self.eng
        with m.State(name):
            m.d.comb += [eng.fetch.eq(1), eng.last_index.eq(self._last_index(nbytes))]
            if padded is not None:
                m.d.comb += eng.pad.eq(padded)
            if underrun is not None:
                m.d.comb += eng.stop.eq(~eng.pad & (eng.offset == self.fend))
                with m.If(eng.stop):
                    self.fail(underrun)
                with m.Elif(eng.done):
                    self.goto(then)
            else:
                with m.If(eng.done):
                    self.goto(then)

    def emit(self, name, nbytes, then, sel=Answer.WORD):
        """Send bytes 0 .. nbytes-1 of ``sel``, one per cycle while ``source.ready``, then
        go to ``then`` (a Value ``nbytes`` is the last index, as for :meth:`fetch`)."""
        m, eng = self.m, self.eng
        with m.State(name):
            m.d.comb += [eng.emit.eq(1), eng.sel.eq(sel),
                         eng.last_index.eq(self._last_index(nbytes))]
            with m.If(eng.done):
                self.goto(then)

    def emit_end(self, name, then):
        m, eng = self.m, self.eng
        with m.State(name):
            m.d.comb += eng.end.eq(1)
            with m.If(eng.source.ready):
                self.goto(then)

    def seek(self, offset):
        self.m.d.comb += [self.eng.seek.eq(1), self.eng.seek_to.eq(offset)]

    # -- the core -------------------------------------------------------------------------
    def core_req(self, name, write, reg, addr, dat, then):
        """Issue one request; ``dat``: the low bits of the data (a SYNAPSE word), above them
        the fetched word; or, if wider than a SYNAPSE word, all of the data."""
        m, req, low_bits = self.m, self.req, SYNAPSE.size
        if not isinstance(dat, int) and len(dat) > low_bits:
            word = dat                          # a whole register (SEED), zero-extended
        else:
            low = (Const(dat, low_bits) if isinstance(dat, int)
                   else Cat(dat, Const(0, low_bits - len(dat))))
            word = Cat(low, self.eng.word[low_bits:DATA_WIDTH])
        with m.State(name):
            m.d.comb += [req.valid.eq(1), req.payload.write.eq(write),
                         req.payload.region.eq(reg), req.payload.addr.eq(addr),
                         req.payload.data.eq(word)]
            with m.If(req.ready):
                self.goto(then)

    def core_read(self, name, reg, addr, then, load=None):
        """Read a word into ``rword`` (2 cycles if the core is idle); ``load``: a signal to
        raise while the response arrives."""
        m = self.m
        self.core_req(name, 0, reg, addr, self.eng.word[:SYNAPSE.size], name + "_RSP")  # any
        with m.State(name + "_RSP"):
            m.d.comb += self.rsp.ready.eq(1)
            if load is not None:
                m.d.comb += load.eq(1)
            with m.If(self.rsp.valid):
                self.goto(then)


class _Checker(_Base):
    """IDLE -> FETCH_HDR -> CHECK -> an opcode's first state; ERROR_* -> HDR_ONLY ->
    FINISH -> FREE -> IDLE; answers owed to dropped frames (PEND_*)."""

    def checker_states(self):
        m, rx, eng, answer = self.m, self.rx, self.eng, self.answer
        with m.State("IDLE"):
            # An ABORT drops what was queued when it arrived; once nothing is queued it
            # has done its work.
            m.d.comb += rx.idle.eq(1)
            with m.If(rx.pending):
                m.d.comb += rx.take.eq(1)
                m.d.sync += [answer.status.eq(rx.pending_status), answer.seq.eq(rx.pending_seq),
                             answer.length.eq(0)]
                m.next = "PEND_HDR"
            with m.Elif(rx.ready):
                self.seek(0)
                m.next = "FETCH_HDR"
        self.emit("PEND_HDR", P.HEADER_BYTES, "PEND_END", Answer.HEADER)
        self.emit_end("PEND_END", "IDLE")

        self.fetch("FETCH_HDR", P.HEADER_BYTES, "CHECK")
        with m.State("CHECK"):
            head = data.View(P.REQUEST_HEADER, self.fetched(P.HEADER_BYTES))
            m.d.comb += eng.clear.eq(1)
            m.d.sync += [answer.seq.eq(head.seq), answer.status.eq(P.Status.OK),
                         answer.length.eq(0),
                         self.fend.eq(P.HEADER_BYTES + head.length[:LENGTH_BITS]), self.bit.eq(0),
                         self.pass2.eq(0), self.writing.eq(head.opcode == P.Opcode.WRITE),
                         self.running.eq(head.opcode == P.Opcode.RUN)]
            frame_bytes = P.HEADER_BYTES + 2        # and the CRC
            with m.If(rx.crc_error):
                m.d.sync += answer.seq.eq(0)
                self.fail(P.Status.BAD_CRC)
            with m.Elif(rx.overflow | _below(rx.length, frame_bytes)
                        | (head.length > P.MAX_PAYLOAD)
                        | (rx.length != head.length + frame_bytes)):
                with m.If(~rx.overflow & _below(rx.length, P.HEADER_BYTES)):
                    m.d.sync += answer.seq.eq(0)
                self.fail(P.Status.BAD_LENGTH)
            with m.Else():
                # Here length <= MAX_PAYLOAD, and the offset is at the payload.
                self.opcode_states(head.opcode, head.length[:LENGTH_BITS])
        self.end_states()

    def opcode_states(self, opcode, length):
        """The first state of each opcode whose payload ``length`` fits."""
        m = self.m
        with m.Switch(opcode):
            for op, ok, then, answer in (
                    (P.Opcode.IDENTIFY, length == 0, "ID_HDR", len(self.eng.identity)),
                    (P.Opcode.RESET, length == 0, "RESET_GO", 0),
                    (P.Opcode.CONTROL, length == P.CONTROL_BYTES, "CONTROL_F", 0),
                    (P.Opcode.STATUS, length == 0, "ST_LEARN", P.STATUS_BYTES),
                    (P.Opcode.ABORT, length == 0, "HDR_ONLY", 0),
                    (P.Opcode.READ, length >= P.ACCESS_BYTES, "ACCESS_F", 0),
                    (P.Opcode.WRITE, length >= P.ACCESS_BYTES, "ACCESS_F", 0),
                    (P.Opcode.RUN, length >= P.RUN_HEADER_BYTES, "RUN_F", 0)):
                with m.Case(op):
                    with m.If(ok):
                        m.d.sync += self.answer.length.eq(answer)
                        if op == P.Opcode.ABORT:
                            m.d.comb += self.rx.clear_abort.eq(1)
                        m.next = then
                    with m.Else():
                        self.fail(P.Status.BAD_LENGTH)
            with m.Default():
                self.fail(P.Status.UNKNOWN_OPCODE)

    def end_states(self):
        """Answers without payload, and the end of every request."""
        m = self.m
        # one state per error status: ``status`` then has a few sources, not one per check
        for code in [c for c in P.Status if c not in (P.Status.OK, P.Status.MORE,
                                                      P.Status.BUSY)]:
            with m.State(f"ERROR_{code.name}"):
                m.d.sync += [self.answer.status.eq(code), self.answer.length.eq(0)]
                if code != P.Status.BAD_CRC:                # counted as a CRC error
                    m.d.comb += self.rx.reject.eq(1)
                m.next = "HDR_ONLY"
        self.emit("HDR_ONLY", P.HEADER_BYTES, "FINISH", Answer.HEADER)
        self.emit_end("FINISH", "FREE")
        with m.State("FREE"):
            m.d.comb += self.rx.free.eq(1)
            m.next = "IDLE"


class _Simple(_Base):
    """IDENTIFY, RESET, CONTROL and STATUS: a fixed answer, at most two core accesses."""

    def simple_states(self):
        m = self.m
        self.emit("ID_HDR", P.HEADER_BYTES, "ID_BODY", Answer.HEADER)
        self.emit("ID_BODY", len(self.eng.identity), "FINISH", Answer.IDENTITY)

        self.core_req("RESET_GO", 1, Region.CONTROL, Register.COMMAND, Command.RESET.value,
                      "RESET_WAIT")
        with m.State("RESET_WAIT"):
            with m.If(self.disp.core_done):
                m.next = "HDR_ONLY"

        # The seed is not used (nor kept) by a core without the stochastic option.
        control = data.View(P.CONTROL, self.fetched(P.CONTROL_BYTES))
        self.fetch("CONTROL_F", P.CONTROL_BYTES, "CONTROL_CHK")
        with m.State("CONTROL_CHK"):
            with m.If(control.reserved != 0):
                self.fail(P.Status.BAD_VALUE)
            with m.Else():
                m.next = "CONTROL_GO"
        stochastic = self.disp.core_params.stochastic
        self.core_req("CONTROL_GO", 1, Region.CONTROL, Register.CONTROL, control.learning,
                      "SEED_GO" if stochastic else "HDR_ONLY")
        if stochastic:
            self.core_req("SEED_GO", 1, Region.CONTROL, Register.SEED, control.seed,
                          "HDR_ONLY")

        self.core_read("ST_LEARN", Region.CONTROL, Register.CONTROL, self._got_learning)
        self.emit("ST_HDR", P.HEADER_BYTES, "ST_STEP", Answer.HEADER)
        self.core_read("ST_STEP", Region.CONTROL, Register.STEP_COUNT, "ST_BODY",
                       self.status_load)
        self.emit("ST_BODY", P.STATUS_BYTES, "FINISH")

    def _got_learning(self):
        self.m.d.sync += self.learning.eq(self.rsp.payload[0])
        self.m.next = "ST_HDR"

    def responses(self):
        """``rword``: the last core response; the STATUS word or a dense record head."""
        m, rx, rword = self.m, self.rx, self.rword
        status = data.View(P.STATUS_WORD, rword[:P.STATUS_WORD.size])
        head = data.View(RECORD_HEAD, rword[:RECORD_HEAD.size])
        with m.If(self.rsp.valid & self.rsp.ready):
            m.d.sync += rword.eq(self.rsp.payload)     # STATUS: the step counter
            with m.If(self.status_load):
                m.d.sync += [status.learning.eq(self.learning), status.frames.eq(rx.frames),
                             status.crc_errors.eq(rx.crc_errors),
                             status.uart_errors.eq(rx.uart_errors),
                             status.rejected.eq(rx.rejected)]
            with m.If(self.head_load):
                m.d.sync += head.dense.eq(1)


class _Walk(_Base):
    """What the walks over words and bits (READ, WRITE, RUN) derive from their registers."""

    def word_layouts(self):
        """The parameter-word regions this core has: RULE_PARAMS only with an option,
        TRIPLET_STATE only with the triplet option (a core without refuses the region;
        leaving it out keeps its checks out of the logic)."""
        options = self.disp.core_params.options
        return {r: v for r, v in _WORD_LAYOUTS.items()
                if P.region_present(r, options)}

    def walk_signals(self):
        m, n, region, caddr, bit = self.m, self.n, self.region, self.caddr, self.bit
        self.is_param = Signal()
        self.is_bits = Signal()                 # PLASTIC or SPIKES: a byte of 8 bits
        self.plastic = Signal()
        self.wlast = Signal(4)                  # wire bytes of a word of ``region``, - 1
        self.core_region = Signal(Region)
        m.d.comb += [
            self.is_param.eq(_by_region(region, dict.fromkeys(self.word_layouts(), 1), 1)),
            self.plastic.eq(region == P.WireRegion.PLASTIC.value),
            self.is_bits.eq(self.plastic | (region == P.WireRegion.SPIKES.value)),
            self.wlast.eq(_by_region(region, {r: P.wire_bytes(r) - 1 for r in P.WireRegion},
                                     4)),
            self.core_region.eq(_by_region(region, {
                **{r: c.value for r, (c, _) in self.word_layouts().items()},
                P.WireRegion.SPIKES: Region.SPIKES.value}, Region.as_shape().width)),
        ]
        self.bit_addr = Cat(bit[:3], caddr)[:self.aw]   # bit ``bit`` of bitmap byte ``caddr``
        self.bitval = self.fetched(1).bit_select(bit[:3], 1)

        def bit_in(total):
            # Only the last byte of a bitmap can hold bits past ``total``.
            return Const(1) if total % 8 == 0 else Cat(bit[:3], caddr) < total
        self.in_range = Signal()                # the bit at bit_addr exists in ``region``
        self.bitmap_end = Signal()
        m.d.comb += [self.in_range.eq(Mux(self.plastic, bit_in(n * n), bit_in(n))),
                     self.bitmap_end.eq(caddr == (n + 7) // 8)]

    def next_bit(self):
        self.m.d.sync += self.bit.eq(self.bit + 1)
        self.m.next = "W_BIT"


class _Access(_Walk):
    """READ and WRITE.  First walk over the words: a WRITE's in the buffer, checking each;
    a READ's counting the answer's bytes in the engine's offset.  It checks the length and
    the address range without a multiplier.  Then the ACCESS header is fetched again, and
    the second walk executes."""

    def access_states(self):
        m = self.m
        self.fetch("ACCESS_F", P.ACCESS_BYTES, "ACCESS")
        with m.State("ACCESS"):
            self._access_header()
        with m.State("W_WORD"):
            m.d.sync += self.bit.eq(0)
            with m.If(self.left != 0):
                m.next = "W_BYTE"
            with m.Elif(self.pass2):
                m.next = "HDR_ONLY"
            with m.Else():
                m.next = "W_DONE"
        self.fetch("W_BYTE", Mux(self.is_param, WORD_BYTES - 1, 0), self._got_word,
                   underrun=P.Status.BAD_LENGTH, padded=self.eng.k > self.wlast)
        with m.State("W_CHECK"):
            with m.If(self.writing & ~self._value_ok()):
                m.d.sync += self.value_bad.eq(1)
            self.next_word("W_WORD")
        with m.State("W_DONE"):
            self._access_verdict()
        self.emit("R_HDR", P.HEADER_BYTES, "ACCESS_AGAIN", Answer.HEADER)
        with m.State("ACCESS_AGAIN"):
            m.d.sync += self.pass2.eq(1)
            self.seek(P.HEADER_BYTES)
            m.next = "ACCESS_F"
        self.write_states()
        self.read_states()

    def _access_header(self):
        m, eng = self.m, self.eng
        acc = data.View(P.ACCESS, self.fetched(P.ACCESS_BYTES))
        m.d.comb += eng.clear.eq(1)
        m.d.sync += [self.region.eq(acc.region), self.left.eq(acc.count),
                     self.caddr.eq(acc.start), self.start_bad.eq(acc.start[self.cw - 1:] != 0),
                     self.value_bad.eq(0)]
        with m.If(self.pass2 & self.writing):
            m.next = "W_WORD"
        with m.Elif(self.pass2):
            m.next = "R_WORD"
        with m.Elif(~self._region_present(acc.region.as_value())):
            self.fail(P.Status.BAD_ADDRESS)
        with m.Elif(~self.writing & (self.fend != P.HEADER_BYTES + P.ACCESS_BYTES)):
            self.fail(P.Status.BAD_LENGTH)
        with m.Else():
            with m.If(~self.writing):
                m.d.sync += self.fend.eq(P.MAX_PAYLOAD)
                self.seek(0)
            m.next = "W_WORD"

    def _options_ok(self, wreg, word):
        """RULE_PARAMS: the fields of the options the core lacks are 0."""
        if wreg != P.WireRegion.RULE_PARAMS:
            return Const(1)
        options = self.disp.core_params.options
        lacking = [RULE_PARAMS[name] for option, names in OPTION_FIELDS.items()
                   if option not in options for name in names]
        if not lacking:
            return Const(1)
        return ~Cat(word[f.offset:f.offset + f.width].any() for f in lacking).any()

    def _region_present(self, region):
        """The regions this core has (:func:`plasticore.protocol.region_present`)."""
        options = self.disp.core_params.options
        present = [r for r in P.WireRegion if P.region_present(r, options)]
        return Cat(region == r.value for r in present).any()

    def _got_word(self):
        m = self.m
        with m.If(~self.pass2):
            m.next = "W_CHECK"
        with m.Elif(self.is_param):
            m.next = "W_PARAM"
        with m.Elif(self.is_bits):
            m.next = "W_BIT"
        with m.Else():
            m.next = "W_RMW"

    def _value_ok(self):
        """The fetched word (of a WRITE) holds a legal value of its region."""
        m, region, word = self.m, self.region, self.eng.word
        ok = Signal()
        m.d.comb += ok.eq(1)
        for wreg, (_, layout) in self.word_layouts().items():
            with m.If(region == wreg.value):
                m.d.comb += ok.eq(_word_ok(layout, word) & self._options_ok(wreg, word))
        if self.disp.core_params.eligibility:
            byte = self.fetched(1)
            with m.If(region == P.WireRegion.ELIGIBILITY.value):   # in -64 .. 63
                m.d.comb += ok.eq(byte[6] == byte[7])
        for wreg, total in ((P.WireRegion.PLASTIC, self.n * self.n),
                            (P.WireRegion.SPIKES, self.n)):
            last = (total + 7) // 8 - 1
            used = total - 8 * last
            if used < 8:
                with m.If((region == wreg.value) & (self.caddr == last)):
                    m.d.comb += ok.eq(self.fetched(1)[used:] == 0)
        return ok

    def _access_verdict(self):
        m, eng = self.m, self.eng
        words = _by_region(self.region, {r: P.region_words(r, self.n) for r in P.WireRegion},
                           self.cw)
        with m.If(self.writing & (eng.offset != self.fend)):
            self.fail(P.Status.BAD_LENGTH)
        with m.Elif(self.start_bad | (self.caddr > words)):
            self.fail(P.Status.BAD_ADDRESS)
        with m.Elif(self.value_bad):
            self.fail(P.Status.BAD_VALUE)
        with m.Elif(self.writing):
            m.next = "ACCESS_AGAIN"
        with m.Else():
            m.d.sync += self.answer.length.eq(eng.offset[:LENGTH_BITS])   # <= MAX_PAYLOAD
            m.next = "R_HDR"

    def write_states(self):
        """WRITE, second walk."""
        m, bit = self.m, self.bit
        self.core_req("W_PARAM", 1, self.core_region, self.caddr[:self.aw],
                      self.eng.word[:SYNAPSE.size],
                      lambda: self.next_word("W_WORD"))
        with m.State("W_BIT"):
            with m.If(bit == 8):
                self.next_word("W_WORD")
            with m.Elif(~self.in_range):
                m.d.sync += bit.eq(bit + 1)
            with m.Elif(self.plastic):
                m.next = "W_RMW"
            with m.Else():
                m.next = "W_SPIKE"
        self.core_req("W_SPIKE", 1, Region.SPIKES, self.bit_addr, self.bitval, self.next_bit)
        # weights and plasticity bits: read-modify-write of the SYNAPSE word
        waddr = Mux(self.is_bits, self.bit_addr, self.caddr[:self.aw])
        self.core_read("W_RMW", Region.SYNAPSE, waddr, "W_RMW_WR")
        old = data.View(SYNAPSE, self.rword[:SYNAPSE.size])
        new = Mux(self.is_bits, Cat(old.weight, self.bitval), Cat(self.fetched(1), old.plastic))
        if self.disp.core_params.eligibility:
            # keep the eligibility through a weight or plasticity write; write it alone
            elig = self.region == P.WireRegion.ELIGIBILITY.value
            new = Mux(elig, Cat(old.weight, old.plastic, self.fetched(1)[:7]),
                      Cat(new, old.elig))
        self.core_req("W_RMW_WR", 1, Region.SYNAPSE, waddr, new, self._rmw_done)

    def _rmw_done(self):
        with self.m.If(self.is_bits):
            self.next_bit()
        with self.m.Else():
            self.next_word("W_WORD")

    def read_states(self):
        """READ, second walk: the words; and a byte of bits (PLASTIC, SPIKES, and the spikes
        a RUN answers), a core read per bit."""
        m, rsp = self.m, self.rsp
        with m.State("R_WORD"):
            m.d.sync += self.bit.eq(0)
            with m.If(self.left == 0):
                m.next = "FINISH"
            with m.Elif(self.is_bits):
                m.next = "OBIT"
            with m.Else():
                m.next = "R_RD"
        if self.disp.core_params.eligibility:
            # an eligibility reads as its byte: the SYNAPSE word's elig, sign-extended
            self.core_read("R_RD", self.core_region, self.caddr[:self.aw], "R_ELIG")
            with m.State("R_ELIG"):
                e = data.View(SYNAPSE, self.rword[:SYNAPSE.size]).elig
                with m.If(self.region == P.WireRegion.ELIGIBILITY.value):
                    m.d.sync += self.rword.eq(Cat(e, e[-1]))
                m.next = "R_EMIT"
        else:
            self.core_read("R_RD", self.core_region, self.caddr[:self.aw], "R_EMIT")
        self.emit("R_EMIT", self.wlast, lambda: self.next_word("R_WORD"))
        with m.State("OBIT"):
            with m.If(self.bit == 8):
                m.next = "OBYTE"
            with m.Else():
                m.next = "OBIT_RD"
        synapse = data.View(SYNAPSE, rsp.payload[:SYNAPSE.size])
        got = Mux(self.plastic, synapse.plastic, rsp.payload[0])   # SPIKES: one bit
        self.core_read("OBIT_RD", Mux(self.plastic, Region.SYNAPSE, Region.SPIKES),
                       self.bit_addr, lambda: self._got_bit(got))
        self.emit("OBYTE", 1, self._byte_sent, Answer.BITS)

    def _got_bit(self, got):
        self.m.d.sync += [self.sbyte.eq(Cat(self.sbyte[1:], self.in_range & got)),
                          self.bit.eq(self.bit + 1)]
        self.m.next = "OBIT"

    def _byte_sent(self):
        m = self.m
        m.d.sync += self.bit.eq(0)
        with m.If(self.running):
            m.d.sync += self.caddr.eq(self.caddr + 1)
            m.next = "OBYTE_NEXT"
        with m.Else():
            self.next_word("R_WORD")


class _Run(_Walk):
    """RUN.  First walk: check every spike record; then read the step counter; then fetch
    the RUN header again, and the second walk: per record, force, step, answer."""

    def run_signals(self):
        """The RUN's registers, and what follows from its ``record`` mask (outside the
        FSM)."""
        n = self.n
        self.rec_mask = Signal(len(P.RECORD_FIELDS))      # RUN_HEADER.record
        # per answer, as many records as fit; with streamed fields they are longer
        self.per_answer = self._by_mask(lambda k: P.MAX_PAYLOAD // P.step_record_bytes(n, k),
                                        P.MAX_PAYLOAD.bit_length())
        self.rec_bytes = self._by_mask(lambda k: P.step_record_bytes(n, k), LENGTH_BITS)
        self.rec_left = Signal(range(P.MAX_PAYLOAD // P.record_bytes_max(n) + 1))

    def run_states(self):
        m = self.m
        self.fetch("RUN_F", P.RUN_HEADER_BYTES, "RUN")
        with m.State("RUN"):
            self._run_header()
        with m.State("RV_NEXT"):
            with m.If(self.left != 0):
                m.next = "REC_F"
            with m.Elif(self.eng.offset != self.fend):
                self.fail(P.Status.BAD_LENGTH)
            with m.Else():
                m.next = "RUN_STEPNO"
        self.core_read("RUN_STEPNO", Region.CONTROL, Register.STEP_COUNT, self._run_again)
        self.record_states()
        self.answer_states(self.rec_bytes)
        if self.disp.stream:
            self.stream_states()

    def _stream_bits(self):
        """``(bits of rec_mask the build streams, their mask)``."""
        mask = P.record_mask(self.disp.stream)
        return [k for k in range(len(P.RECORD_FIELDS)) if mask >> k & 1], mask

    def _by_mask(self, fn, width):
        """``fn(rec_mask)`` for the masks of fields this build streams (a constant per
        combination: no multiplier, no divider); masks refused by the header's check
        (:meth:`_mask_refusal`) give ``fn(0)``."""
        m = self.m
        bits, _ = self._stream_bits()
        out = Signal(width, init=fn(0))
        m.d.comb += out.eq(fn(0))
        if bits:
            with m.Switch(Cat(self.rec_mask[b] for b in bits)):
                for combo in range(1, 1 << len(bits)):
                    mask = sum(1 << b for j, b in enumerate(bits) if combo >> j & 1)
                    if P.record_fits(self.n, mask):
                        with m.Case(combo):
                            m.d.comb += out.eq(fn(mask))
        return out

    def _mask_refusal(self, record):
        """``(unsupported, too_long)`` of a RUN_HEADER.record: a field this build does not
        stream (BAD_VALUE), a step record longer than a packet (BAD_LENGTH)."""
        bits, mask = self._stream_bits()
        unsupported = (record & (~mask & ((1 << len(record)) - 1))) != 0
        too_long = [combo for combo in range(1 << len(bits))
                    if not P.record_fits(self.n, sum(1 << b for j, b in enumerate(bits)
                                                     if combo >> j & 1))]
        long_ = (Cat(record[b] for b in bits).matches(*too_long) if too_long and bits
                 else Const(0))
        return unsupported, long_

    def _run_header(self):
        m = self.m
        run = data.View(P.RUN_HEADER, self.fetched(P.RUN_HEADER_BYTES))
        m.d.comb += self.eng.clear.eq(1)
        m.d.sync += [self.left.eq(run.steps), self.region.eq(P.WireRegion.SPIKES.value),
                     self.rec_mask.eq(run.record)]
        unsupported, too_long = self._mask_refusal(run.record)
        with m.If(~self.pass2 & unsupported):
            self.fail(P.Status.BAD_VALUE)
        with m.Elif(~self.pass2 & too_long):
            self.fail(P.Status.BAD_LENGTH)
        with m.Elif(~self.pass2):
            m.next = "RV_NEXT"
        with m.Elif(self.rx.abort):                         # queued behind an ABORT
            self.fail(P.Status.ABORTED)
        with m.Elif(self.rword[:len(run.first_step)] != run.first_step):  # STEP_COUNT
            self.fail(P.Status.OUT_OF_SEQUENCE)
        with m.Else():
            m.next = "RA_START"

    def _run_again(self):
        self.m.d.sync += self.pass2.eq(1)
        self.seek(P.HEADER_BYTES)
        self.m.next = "RUN_F"

    def record_states(self):
        """A spike record in: checked (first walk) or forced (second walk)."""
        m, cnt, caddr, bit = self.m, self.cnt, self.caddr, self.bit
        self.fetch("REC_F", 2, "REC", underrun=P.Status.BAD_VALUE)
        with m.State("REC"):
            head = data.View(RECORD_HEAD, self.fetched(2))
            m.d.comb += self.eng.clear.eq(1)
            m.d.sync += [cnt.eq(head.count), caddr.eq(0), bit.eq(0)]
            if self.disp.core_params.eligibility:
                m.d.sync += self.rec_mod.eq(head.modulated)
            refused = Const(0) if self.disp.core_params.eligibility else head.modulated
            with m.If(refused):
                # a modulated step needs the eligibility option
                self.fail(P.Status.BAD_VALUE)
            with m.Elif(head.dense):
                m.next = "DN_BYTE"
            with m.Else():
                m.next = "SP_ITEM"
        with m.State("DN_BYTE"):
            m.d.sync += bit.eq(0)
            with m.If(~self.bitmap_end):
                m.next = "DN_F"
            with m.Elif(~self.pass2 & (cnt != 0)):
                self.fail(P.Status.BAD_VALUE)
            with m.Else():
                m.next = "REC_END"
        self.fetch("DN_F", 1, "DN_BIT", underrun=P.Status.BAD_VALUE)
        with m.State("DN_BIT"):
            self._dense_bit()
        self.core_req("DN_FORCE", 1, Region.FORCED, self.bit_addr, 1, self._forced)
        with m.State("SP_ITEM"):
            with m.If(cnt == 0):
                m.next = "REC_END"
            with m.Else():
                m.next = "SP_F"
        self.fetch("SP_F", 2, "SP_IDX", underrun=P.Status.BAD_VALUE)
        with m.State("SP_IDX"):
            self._sparse_index()
        self.core_req("SP_FORCE", 1, Region.FORCED, caddr[:self.aw], 1, "SP_ITEM")
        with m.State("REC_END"):
            with m.If(self.rec_mod):
                m.next = "MODR_F"
            with m.Else():
                self._record_done()
        # The modulator byte after a modulated record (option eligibility).
        self.fetch("MODR_F", 1, "MODR", underrun=P.Status.BAD_VALUE)
        with m.State("MODR"):
            m.d.comb += self.eng.clear.eq(1)
            m.d.sync += self.mod_r.eq(self.fetched(1))
            self._record_done()

    def _record_done(self):
        m = self.m
        with m.If(self.pass2):
            m.next = "RS_STEP"
        with m.Else():
            m.d.sync += self.left.eq(self.left - 1)
            m.next = "RV_NEXT"

    def _dense_bit(self):
        m, cnt, bit, bitval, pass2 = self.m, self.cnt, self.bit, self.bitval, self.pass2
        with m.If(bit == 8):
            m.d.sync += self.caddr.eq(self.caddr + 1)
            m.next = "DN_BYTE"
        with m.Elif(bitval & pass2 & self.in_range):
            m.next = "DN_FORCE"
        with m.Elif(bitval & ~pass2 & (~self.in_range | (cnt == 0))):
            self.fail(P.Status.BAD_VALUE)
        with m.Else():
            with m.If(bitval):
                m.d.sync += cnt.eq(cnt - 1)
            m.d.sync += bit.eq(bit + 1)

    def _forced(self):
        self.m.d.sync += self.bit.eq(self.bit + 1)
        self.m.next = "DN_BIT"

    def _sparse_index(self):
        # first walk: the indices ascend (bit 0: not the first index)
        m, bit, caddr = self.m, self.bit, self.caddr
        index = self.fetched(2)
        m.d.comb += self.eng.clear.eq(1)
        m.d.sync += [self.cnt.eq(self.cnt - 1), caddr.eq(index), bit.eq(1)]
        with m.If(self.pass2):
            m.next = "SP_FORCE"
        with m.Elif((index >= self.n) | (bit[0] & (index <= caddr))):
            self.fail(P.Status.BAD_VALUE)
        with m.Else():
            m.next = "SP_ITEM"

    def answer_states(self, rec_bytes):
        """Second walk: answers of ``per_answer`` records, the last with the rest; the
        length (records * rec_bytes) is counted up in RA_LEN."""
        m, answer, cnt, left, rec_left = self.m, self.answer, self.cnt, self.left, self.rec_left
        with m.State("RA_START"):
            with m.If(left > self.per_answer):
                m.d.sync += [rec_left.eq(self.per_answer), cnt.eq(self.per_answer),
                             answer.status.eq(P.Status.MORE)]
            with m.Else():
                m.d.sync += [rec_left.eq(left), cnt.eq(left), answer.status.eq(P.Status.OK)]
            m.d.sync += answer.length.eq(0)
            m.next = "RA_LEN"
        with m.State("RA_LEN"):
            with m.If(cnt == 0):
                m.next = "RA_HDR"
            with m.Else():
                length = answer.length[:LENGTH_BITS]
                m.d.sync += [answer.length.eq((length + rec_bytes)[:LENGTH_BITS]),
                             cnt.eq(cnt - 1)]
        self.emit("RA_HDR", P.HEADER_BYTES, "RS_NEXT", Answer.HEADER)
        with m.State("RS_NEXT"):
            with m.If(rec_left == 0):
                m.next = "RA_END"
            with m.Else():
                m.next = "REC_F"
        self.emit_end("RA_END", self._answer_sent)
        step = Command.STEP.value
        if self.disp.core_params.eligibility:
            word = Signal(COMMAND_WORD)
            m.d.comb += [word.command.eq(Command.STEP), word.modulate.eq(self.rec_mod),
                         word.modulator.eq(self.mod_r)]
            step = word.as_value()
        self.core_req("RS_STEP", 1, Region.CONTROL, Register.COMMAND, step, "RS_WAIT")
        with m.State("RS_WAIT"):
            with m.If(self.disp.core_done):
                m.next = "RS_COUNT"
        self.core_read("RS_COUNT", Region.CONTROL, Register.SPIKE_COUNT, "RS_HEAD",
                       self.head_load)
        self.emit("RS_HEAD", RECORD_HEAD.size // 8, self._head_sent)
        with m.State("OBYTE_NEXT"):
            with m.If(~self.bitmap_end):
                m.next = "OBIT"
            if self.disp.stream:
                with m.Elif(self.rec_mask.any()):
                    m.d.sync += self.caddr.eq(0)
                    m.next = "SF_RD"
            with m.Else():
                self._step_answered()

    def _step_answered(self):
        m = self.m
        m.d.sync += [self.left.eq(self.left - 1), self.rec_left.eq(self.rec_left - 1)]
        m.next = "RS_NEXT"

    def stream_states(self):
        """After a step's spike record: per neuron, its NEURON_STATE word read into
        ``rword``, then each streamed field the RUN selects moved into the low bits of
        ``rword`` (v is there already) and emitted, :func:`stream_cycles` in all."""
        m, caddr = self.m, self.caddr
        fields = list(self.disp.stream)
        states = [f"SF_{name.upper()}" for name in fields] + ["SF_NEXT"]
        self.core_read("SF_RD", Region.NEURON_STATE, caddr[:self.aw], states[0])
        for k, name in enumerate(fields):
            bit = P.RECORD_FIELDS.index(name)
            field = NEURON_STATE[name]
            with m.State(states[k]):
                with m.If(self.rec_mask[bit]):
                    if field.offset:
                        m.d.sync += self.rword[:_FIELD_BITS].eq(
                            self.rword[field.offset:field.offset + field.width])
                    m.next = states[k] + "_E"
                with m.Else():
                    m.next = states[k + 1]
            self.emit(states[k] + "_E", P.field_bytes(name), states[k + 1])
        with m.State("SF_NEXT"):
            with m.If(caddr == self.n - 1):
                self._step_answered()
            with m.Else():
                m.d.sync += caddr.eq(caddr + 1)
                m.next = "SF_RD"

    def _answer_sent(self):
        m = self.m
        with m.If(self.left == 0):
            m.next = "FREE"
        with m.Elif(self.rx.abort):
            self.fail(P.Status.ABORTED)
        with m.Else():
            m.next = "RA_START"

    def _head_sent(self):
        self.m.d.sync += [self.caddr.eq(0), self.bit.eq(0)]
        self.m.next = "OBIT"


class _Sequencer(_Checker, _Simple, _Access, _Run):
    """The request FSM: every family's states in one FSM over shared registers."""

    def build(self):
        self.walk_signals()
        self.m.d.comb += self.eng.header.eq(self.answer)
        self.m.d.comb += [self.eng.bits.eq(self.sbyte), self.eng.rword.eq(self.rword)]
        self.responses()
        self.run_signals()
        with self.m.FSM(name="exec"):
            self.checker_states()
            self.simple_states()
            self.access_states()
            self.run_states()

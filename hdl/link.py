"""Command dispatcher and the link-level top: the protocol of :mod:`plasticore.protocol` on
the core's access port.

::

    uart_rx -> UARTRx -> COBSDecoder -> CRCChecker -> Dispatcher <-> Core (access port)
    uart_tx <- UARTTx <- COBSEncoder (512-byte ring) <- CRCAppender <-'

:class:`Dispatcher` answers exactly the bytes that the virtual chip
(:mod:`plasticore.driver.virtual`, the executable specification) answers for the same
request stream; ``tests/link/test_dispatcher.py`` checks this.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import LEARNING_PARAMS, NEURON_PARAMS, NEURON_STATE, CoreParams

from .access import DATA_WIDTH, Command, Region, Register, request_layout
from .core import Core
from .framing import (
    TOKEN,
    COBSDecoder,
    COBSEncoder,
    CRCAppender,
    CRCChecker,
    StreamRegister,
)
from .uart import UARTRx, UARTTx

__all__ = ["Dispatcher", "Link", "LinkTop", "build_hash"]

#: Bytes of one receive buffer: header + largest payload + CRC.
BUFFER_BYTES = P.HEADER_BYTES + P.MAX_PAYLOAD + 2
assert BUFFER_BYTES == 512

_WORD_LAYOUTS = {P.WireRegion.NEURON_PARAMS: (Region.NEURON_PARAMS, NEURON_PARAMS),
                 P.WireRegion.LEARNING_PARAMS: (Region.LEARNING_PARAMS, LEARNING_PARAMS),
                 P.WireRegion.NEURON_STATE: (Region.NEURON_STATE, NEURON_STATE)}


def build_hash(n: int, clock_hz: int, divisor: int) -> int:
    """Identifies a build: the contract and the elaboration parameters, 32 bits."""
    import hashlib
    text = f"{P.contract_hash():08x}/{n}/{clock_hz}/{divisor}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")


def _at_most(value, limit: int):
    """``value <= limit`` for a constant ``limit``; a power of two as a test of the high bits
    (a comparator costs about twice the LUTs)."""
    if limit & (limit - 1) == 0 and limit.bit_length() <= len(value):
        low = limit.bit_length() - 1
        return (value[low:] == 0) | (value == limit)
    return value <= limit


def _word_ok(layout: data.StructLayout, word):
    """True if ``word`` (a wire word of ``layout``) has zero padding and every decay factor
    at most 1.0: the checks the virtual chip makes before it writes."""
    size = (layout.size + 7) // 8 * 8
    ok = word[layout.size:size] == 0 if size > layout.size else Const(1)
    for _, field in layout:
        if field.shape is F.DECAY:
            ok = ok & _at_most(word[field.offset:field.offset + field.width], F.DECAY.max)
    return ok


def _by_region(region, values: dict, width: int):
    """``values[region]`` (a constant per :class:`~plasticore.protocol.WireRegion`)."""
    out = Const(0, width)
    for r, v in values.items():
        out = Mux(region == r.value, v, out)
    return out


#: Bytes of the fetch register: the largest wire word (NEURON_PARAMS, 15 bytes), and above
#: it the byte a fetch shifts in, so that bytes fetched last stay out of a request's data.
WORD_BYTES = max(P.wire_bytes(r) for r in P.WireRegion) + 1
assert WORD_BYTES == 16 and DATA_WIDTH <= 8 * (WORD_BYTES - 1)
assert max(s.value for s in P.Status) < 16


class Dispatcher(wiring.Component):
    """Executes protocol requests on the core's access port.

    Receive side: frames arrive as :data:`~.framing.TOKEN` s (after the CRC check) and are
    stored whole in one of two 512-byte buffers (one block RAM), so that a request is
    checked completely before any of it executes: a corrupted or malformed request changes
    nothing.  While both buffers hold requests, a further frame is dropped and answered
    BUSY (BAD_CRC if it was corrupted); an ABORT is never refused.

    Execute side: requests run in arrival order.  Answers stream straight to ``source``
    (header first: every answer length is known before the answer starts).  A request is
    read from its buffer one byte per cycle into a shift register, where every field sits
    at a fixed place.  READ, WRITE and RUN walk their payload twice with the same states:
    the first walk checks it (lengths, addresses, values; a READ's walk counts the answer's
    bytes), the second executes it.

    Throughput: far above a UART's (10 bit times per byte, 240 cycles at 24 cycles per bit).
    Measured at N = 16: a WRITE takes about 8 cycles per weight byte and 38 per parameter
    word, a READ 3 cycles per word before its answer starts (the first walk), then about 5
    per weight byte and 2 per parameter byte, about 30 per byte of PLASTIC or SPIKES bits;
    a RUN costs, per step, the core's step plus about 2N cycles of forced-bit writes and
    spike reads.

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

    def __init__(self, params: CoreParams, *, build=0, clock_hz=0):
        self.core_params = params
        self.build = build
        self.clock_hz = clock_hz
        super().__init__({
            "sink": In(stream.Signature(TOKEN)),
            "source": Out(stream.Signature(TOKEN)),
            "req": Out(stream.Signature(request_layout(params))),
            "rsp": In(stream.Signature(DATA_WIDTH)),
            "core_done": In(1),
            "uart_error": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.core_params.n
        synapses = n * n

        # -- receive buffers ------------------------------------------------------------------
        m.submodules.rxmem = rxmem = Memory(shape=8, depth=2 * BUFFER_BYTES, init=[])
        wr = rxmem.write_port()
        rd = rxmem.read_port(transparent_for=())
        full = Signal(2)
        bad = Signal(2)
        over = Signal(2)
        flen = [Signal(range(BUFFER_BYTES + 1), name=f"flen{b}") for b in range(2)]
        wbuf = Signal()
        rbuf = Signal()
        wptr = Signal(range(BUFFER_BYTES + 1))
        receiving = Signal()
        discard = Signal()
        first = Signal(16)                  # the first two bytes of the frame: opcode, seq
        overflow = Signal()
        abort = Signal()                    # a good ABORT frame arrived
        pend_valid = Signal()               # an answer for a dropped frame
        pend_status = Signal(4)
        pend_seq = Signal(8)
        # counters (wrapping, reported by STATUS)
        c_frames, c_crc, c_uart, c_rejected = (Signal(16, name=f"c_{k}") for k in
                                               ("frames", "crc", "uart", "rejected"))

        tok = self.sink.payload
        m.d.comb += self.sink.ready.eq(1)
        with m.If(self.uart_error):
            m.d.sync += c_uart.eq(c_uart + 1)

        with m.If(self.sink.valid & ~tok.end):
            with m.If(~receiving):
                m.d.sync += [receiving.eq(1), discard.eq(full.bit_select(wbuf, 1)),
                             wptr.eq(1), overflow.eq(0), first.eq(tok.data)]
                m.d.comb += [wr.en.eq(~full.bit_select(wbuf, 1)), wr.addr.eq(wbuf << 9),
                             wr.data.eq(tok.data)]
            with m.Else():
                with m.If(wptr == 1):
                    m.d.sync += first[8:].eq(tok.data)
                with m.If(wptr == BUFFER_BYTES):
                    m.d.sync += overflow.eq(1)
                with m.Else():
                    m.d.sync += wptr.eq(wptr + 1)
                    m.d.comb += [wr.en.eq(~discard), wr.addr.eq(Cat(wptr[:9], wbuf)),
                                 wr.data.eq(tok.data)]
        good_abort = Signal()
        m.d.comb += good_abort.eq(~tok.error & (wptr == P.HEADER_BYTES + 2)
                                  & (first[:8] == P.Opcode.ABORT.value))
        with m.If(self.sink.valid & tok.end):
            m.d.sync += [receiving.eq(0), c_frames.eq(c_frames + 1)]
            with m.If(tok.error):
                m.d.sync += c_crc.eq(c_crc + 1)
            with m.If(good_abort):
                m.d.sync += abort.eq(1)
            with m.If(receiving & ~discard):
                for b in range(2):
                    with m.If(wbuf == b):
                        m.d.sync += [full[b].eq(1), bad[b].eq(tok.error),
                                     over[b].eq(overflow), flen[b].eq(wptr)]
                m.d.sync += wbuf.eq(~wbuf)
            with m.Elif(receiving & ~pend_valid):
                m.d.sync += [pend_valid.eq(1),
                             pend_status.eq(Mux(tok.error, P.Status.BAD_CRC.value,
                                                Mux(good_abort, P.Status.OK.value,
                                                    P.Status.BUSY.value))),
                             pend_seq.eq(Mux(tok.error, 0, first[8:]))]
        m.d.comb += self.busy.eq(full.any() | receiving | pend_valid)

        # -- execute: state ---------------------------------------------------------------------
        src = self.source
        req = self.req
        rsp = self.rsp
        aw = len(req.payload.addr)
        # ``caddr`` holds a start address plus up to MAX_PAYLOAD words without wrapping, so
        # that ``start + count > region_words`` is ``caddr > region_words`` after a walk.
        cw = max(synapses, P.MAX_PAYLOAD).bit_length() + 1
        bitmap_bytes = (n + 7) // 8
        rec_bytes = P.record_bytes_max(n)
        per_answer = P.MAX_PAYLOAD // rec_bytes
        ident = P.pack(P.IDENTITY, {
            "protocol": P.PROTOCOL_VERSION, "neurons": n, "contract": P.contract_hash(),
            "build": self.build, "max_payload": P.MAX_PAYLOAD, "rx_buffers": 2,
            "clock_hz": self.clock_hz, "kind": 0})

        roff = Signal(range(BUFFER_BYTES + 1))  # the buffer byte that rd.data holds
        roff_next = Signal.like(roff)
        fend = Signal.like(roff)                # end of the payload (of a READ's answer)
        word = Signal(8 * WORD_BYTES)           # bytes fetched, the last one at the top
        shift = Signal()                        # shift rd.data (or 0: ``pad``) into word
        pad = Signal()
        clear = Signal()                        # zero word but its top byte
        k = Signal(range(len(ident)))           # byte counter of a fetch or an emit
        bit = Signal(range(9))
        sbyte = Signal(8)                       # bits read one by one, the last at the top
        rword = Signal(DATA_WIDTH)              # the last core response
        learning = Signal()
        status = Signal(4)
        seq = Signal(8)
        hlen = Signal(9)                        # length of the answer (at most 506)
        region = Signal(3)                      # a WireRegion; SPIKES while a RUN runs
        writing = Signal()                      # the request is a WRITE
        running = Signal()                      # the request is a RUN
        pass2 = Signal()                        # second walk: execute (first: check)
        value_bad = Signal()
        start_bad = Signal()                    # an ACCESS start beyond every region
        left = Signal(16)                       # words / steps left
        caddr = Signal(cw)                      # core word address, bitmap byte, or index
        cnt = Signal(15)                        # items left in a spike record
        rec_left = Signal(range(per_answer + 1))  # records left in the current answer

        # The read port looks at the byte ``roff`` will point at next cycle, so rd.data is
        # always the byte at ``roff``: a fetch takes one byte per cycle.
        m.d.comb += [roff_next.eq(Mux(shift & ~pad, roff + 1, roff)),
                     rd.en.eq(1), rd.addr.eq(Cat(roff_next[:9], rbuf))]
        m.d.sync += roff.eq(roff_next)
        # Each fetch starts with the rest of ``word`` zero, so that a request's data, which
        # ends below the top byte, is zero but for a padded word (WRITE) or after a 1-byte
        # fetch; states that fetched more bytes clear ``word`` after use.
        with m.If(shift):
            m.d.sync += word.eq(Cat(word[8:], Mux(pad, 0, rd.data)))
        with m.If((shift & (k == 0)) | clear):
            m.d.sync += word[:-8].eq(0)

        def fetched(nbytes):
            """The last ``nbytes`` bytes fetched, the first one in the low byte."""
            return word[8 * (WORD_BYTES - nbytes):]

        is_param = Signal()
        is_bits = Signal()                      # PLASTIC or SPIKES: a byte of 8 bits
        plastic = Signal()
        wsize = Signal(4)                       # wire bytes of a word of ``region``
        core_region = Signal(Region)
        m.d.comb += [
            is_param.eq(_by_region(region, dict.fromkeys(_WORD_LAYOUTS, 1), 1)),
            plastic.eq(region == P.WireRegion.PLASTIC.value),
            is_bits.eq(plastic | (region == P.WireRegion.SPIKES.value)),
            wsize.eq(_by_region(region, {r: P.wire_bytes(r) for r in P.WireRegion}, 4)),
            core_region.eq(_by_region(region, {
                **{r: c.value for r, (c, _) in _WORD_LAYOUTS.items()},
                P.WireRegion.SPIKES: Region.SPIKES.value}, 3)),
        ]
        bit_addr = Cat(bit[:3], caddr)[:aw]     # bit ``bit`` of bitmap byte ``caddr``
        bitval = fetched(1).bit_select(bit[:3], 1)

        def bit_in(total):
            # Only the last byte of a bitmap can hold bits past ``total``.
            return Const(1) if total % 8 == 0 else Cat(bit[:3], caddr) < total
        in_range = Signal()                     # the bit at bit_addr exists in ``region``
        m.d.comb += in_range.eq(Mux(plastic, bit_in(synapses), bit_in(n)))
        bitmap_end = Signal()
        m.d.comb += bitmap_end.eq(caddr == bitmap_bytes)

        def goto(then):
            """Go to state ``then``, or call it (a function that picks the state)."""
            if callable(then):
                then()
            else:
                m.next = then

        def fail(code):
            m.next = f"ERROR_{code.name}"

        # -- execute: answers ---------------------------------------------------------------
        # Every answer byte comes from one of four places; the emit states pick one.
        from_hdr, from_ident, from_sbyte = Signal(), Signal(), Signal()
        hdr = Cat(status, Const(0, 4), seq, hlen, Const(0, 7))
        ident_byte = Signal(8)
        with m.Switch(k):
            for i, byte in enumerate(ident):
                with m.Case(i):
                    m.d.comb += ident_byte.eq(byte)
        m.d.comb += src.payload.data.eq(
            Mux(from_hdr, hdr.word_select(k[:2], 8),
                Mux(from_ident, ident_byte,
                    Mux(from_sbyte, sbyte, rword.word_select(k[:4], 8)))))

        def emit(name, nbytes, then, source=None):
            """Send bytes 0 .. nbytes-1 of ``source`` (``from_hdr``, ``from_ident``,
            ``from_sbyte``, or None: ``rword``), one per cycle while ``source.ready``
            (``k`` is 0 on entry and on exit), then go to ``then``."""
            with m.State(name):
                m.d.comb += src.valid.eq(1)
                if source is not None:
                    m.d.comb += source.eq(1)
                with m.If(src.ready):
                    with m.If(k == nbytes - 1):
                        m.d.sync += k.eq(0)
                        goto(then)
                    with m.Else():
                        m.d.sync += k.eq(k + 1)

        def emit_end(name, then):
            with m.State(name):
                m.d.comb += [src.valid.eq(1), src.payload.end.eq(1)]
                with m.If(src.ready):
                    goto(then)

        # -- execute: the buffer and the core --------------------------------------------------
        def fetch(name, nbytes, then, *, underrun=None, padded=None):
            """Shift ``nbytes`` bytes from the buffer at ``roff`` into the top of ``word``, one
            per cycle (``nbytes`` cycles; ``k`` is 0 on entry and on exit), then go to
            ``then``.  ``underrun``: fail with this status if the payload ends first.
            ``padded``: shift in zeros instead (and stay at ``roff``) while it holds."""
            with m.State(name):
                m.d.comb += shift.eq(1)
                if padded is not None:
                    m.d.comb += pad.eq(padded)
                ends = ~pad & (roff == fend) if underrun is not None else Const(0)
                with m.If(ends):
                    m.d.comb += shift.eq(0)
                    m.d.sync += k.eq(0)
                    if underrun is not None:
                        fail(underrun)
                with m.Elif(k == nbytes - 1):
                    m.d.sync += k.eq(0)
                    goto(then)
                with m.Else():
                    m.d.sync += k.eq(k + 1)

        def core_req(name, write, reg, addr, dat, then):
            """Issue one request; ``dat``: the low 9 bits of the data, above them ``word``."""
            low = Const(dat, 9) if isinstance(dat, int) else Cat(dat, Const(0, 9 - len(dat)))
            with m.State(name):
                m.d.comb += [req.valid.eq(1), req.payload.write.eq(write),
                             req.payload.region.eq(reg), req.payload.addr.eq(addr),
                             req.payload.data.eq(Cat(low, word[9:DATA_WIDTH]))]
                with m.If(req.ready):
                    goto(then)

        status_load = Signal()                  # rword: the STATUS answer
        head_load = Signal()                    # rword: a dense record head
        with m.If(rsp.valid & rsp.ready):
            m.d.sync += rword.eq(rsp.payload)
            with m.If(status_load):
                m.d.sync += rword[32:104].eq(Cat(learning, Const(0, 7), c_frames, c_crc,
                                                 c_uart, c_rejected))
            with m.If(head_load):
                m.d.sync += rword[15].eq(1)

        def core_read(name, reg, addr, then, load=None):
            """Read a word into ``rword`` (2 cycles if the core is idle); ``load``: a signal
            to raise while the response arrives."""
            core_req(name, 0, reg, addr, word[:9], name + "_RSP")     # (data: any)
            with m.State(name + "_RSP"):
                m.d.comb += rsp.ready.eq(1)
                if load is not None:
                    m.d.comb += load.eq(1)
                with m.If(rsp.valid):
                    goto(then)

        def next_word(state):
            m.d.sync += [left.eq(left - 1), caddr.eq(caddr + 1)]
            m.next = state

        with m.FSM(name="exec"):
            with m.State("IDLE"):
                # An ABORT drops what was queued when it arrived; once nothing is queued it
                # has done its work.
                with m.If(~full.any() & ~receiving):
                    m.d.sync += abort.eq(0)
                with m.If(pend_valid):
                    m.d.sync += [status.eq(pend_status), seq.eq(pend_seq), hlen.eq(0),
                                 pend_valid.eq(0)]
                    with m.If(pend_status == P.Status.BUSY.value):
                        m.d.sync += c_rejected.eq(c_rejected + 1)
                    m.next = "PEND_HDR"
                with m.Elif(full.bit_select(rbuf, 1)):
                    m.d.comb += roff_next.eq(0)
                    m.next = "FETCH_HDR"
            emit("PEND_HDR", 4, "PEND_END", from_hdr)
            emit_end("PEND_END", "IDLE")

            fetch("FETCH_HDR", P.HEADER_BYTES, "CHECK")
            with m.State("CHECK"):
                head = fetched(P.HEADER_BYTES)
                opcode, length = head[:8], head[16:32]
                cur_flen = Mux(rbuf, flen[1], flen[0])
                cur_over = over.bit_select(rbuf, 1)
                m.d.comb += clear.eq(1)
                m.d.sync += [seq.eq(head[8:16]), status.eq(P.Status.OK.value), hlen.eq(0),
                             fend.eq(P.HEADER_BYTES + length[:9]), bit.eq(0), pass2.eq(0),
                             writing.eq(opcode == P.Opcode.WRITE.value),
                             running.eq(opcode == P.Opcode.RUN.value)]
                with m.If(bad.bit_select(rbuf, 1)):
                    m.d.sync += seq.eq(0)
                    fail(P.Status.BAD_CRC)
                with m.Elif(cur_over | (cur_flen < P.HEADER_BYTES + 2)
                            | (length > P.MAX_PAYLOAD)
                            | (cur_flen != length + P.HEADER_BYTES + 2)):
                    with m.If(~cur_over & (cur_flen < 4)):
                        m.d.sync += seq.eq(0)
                    fail(P.Status.BAD_LENGTH)
                with m.Else():
                    # Here length <= MAX_PAYLOAD, and roff is at the payload.
                    length = length[:9]
                    with m.Switch(opcode):
                        for op, ok, then, answer in (
                                (P.Opcode.IDENTIFY, length == 0, "ID_HDR", len(ident)),
                                (P.Opcode.RESET, length == 0, "RESET_GO", 0),
                                (P.Opcode.CONTROL, length == 1, "CONTROL_F", 0),
                                (P.Opcode.STATUS, length == 0, "ST_LEARN", P.STATUS_BYTES),
                                (P.Opcode.ABORT, length == 0, "HDR_ONLY", 0),
                                (P.Opcode.READ, length >= P.ACCESS_BYTES, "ACCESS_F", 0),
                                (P.Opcode.WRITE, length >= P.ACCESS_BYTES, "ACCESS_F", 0),
                                (P.Opcode.RUN, length >= P.RUN_HEADER_BYTES, "RUN_F", 0)):
                            with m.Case(op.value):
                                with m.If(ok):
                                    m.d.sync += hlen.eq(answer)
                                    if op == P.Opcode.ABORT:
                                        m.d.sync += abort.eq(0)
                                    m.next = then
                                with m.Else():
                                    fail(P.Status.BAD_LENGTH)
                        with m.Default():
                            fail(P.Status.UNKNOWN_OPCODE)

            # -- answers without payload, and the end of every request -------------------------
            # one state per error status: ``status`` then has a few sources, not one per check
            for code in [c for c in P.Status if c not in (P.Status.OK, P.Status.MORE,
                                                          P.Status.BUSY)]:
                with m.State(f"ERROR_{code.name}"):
                    m.d.sync += [status.eq(code.value), hlen.eq(0)]
                    if code != P.Status.BAD_CRC:                # counted as a CRC error
                        m.d.sync += c_rejected.eq(c_rejected + 1)
                    m.next = "HDR_ONLY"
            emit("HDR_ONLY", 4, "FINISH", from_hdr)
            emit_end("FINISH", "FREE")
            with m.State("FREE"):
                for b in range(2):
                    with m.If(rbuf == b):
                        m.d.sync += full[b].eq(0)
                m.d.sync += rbuf.eq(~rbuf)
                m.next = "IDLE"

            # -- IDENTIFY, RESET, CONTROL, STATUS -----------------------------------------------
            emit("ID_HDR", 4, "ID_BODY", from_hdr)
            emit("ID_BODY", len(ident), "FINISH", from_ident)

            core_req("RESET_GO", 1, Region.CONTROL, Register.COMMAND, Command.RESET.value,
                     "RESET_WAIT")
            with m.State("RESET_WAIT"):
                with m.If(self.core_done):
                    m.next = "HDR_ONLY"

            fetch("CONTROL_F", 1, "CONTROL_CHK")
            with m.State("CONTROL_CHK"):
                with m.If(fetched(1)[1:] != 0):
                    fail(P.Status.BAD_VALUE)
                with m.Else():
                    m.next = "CONTROL_GO"
            core_req("CONTROL_GO", 1, Region.CONTROL, Register.CONTROL, bitval, "HDR_ONLY")

            def got_learning():
                m.d.sync += learning.eq(rsp.payload[0])
                m.next = "ST_HDR"
            core_read("ST_LEARN", Region.CONTROL, Register.CONTROL, got_learning)
            emit("ST_HDR", 4, "ST_STEP", from_hdr)
            core_read("ST_STEP", Region.CONTROL, Register.STEP_COUNT, "ST_BODY", status_load)
            emit("ST_BODY", P.STATUS_BYTES, "FINISH")

            # -- READ and WRITE ---------------------------------------------------------------
            # First walk over the words: a WRITE's in the buffer, checking each; a READ's
            # counting the answer's bytes in roff.  It checks the length and the address range
            # without a multiplier.  Then the ACCESS header is fetched again, and the second
            # walk executes.
            fetch("ACCESS_F", P.ACCESS_BYTES, "ACCESS")
            with m.State("ACCESS"):
                acc = fetched(P.ACCESS_BYTES)
                start = acc[24:56]
                m.d.comb += clear.eq(1)
                m.d.sync += [region.eq(acc[:3]), left.eq(acc[8:24]), caddr.eq(start[:cw]),
                             start_bad.eq(start[cw - 1:] != 0), value_bad.eq(0)]
                with m.If(pass2 & writing):
                    m.next = "W_WORD"
                with m.Elif(pass2):
                    m.next = "R_WORD"
                with m.Elif(acc[:8] > max(r.value for r in P.WireRegion)):
                    fail(P.Status.BAD_ADDRESS)
                with m.Elif(~writing & (fend != P.HEADER_BYTES + P.ACCESS_BYTES)):
                    fail(P.Status.BAD_LENGTH)
                with m.Else():
                    with m.If(~writing):
                        m.d.sync += fend.eq(P.MAX_PAYLOAD)
                        m.d.comb += roff_next.eq(0)
                    m.next = "W_WORD"
            with m.State("W_WORD"):
                m.d.sync += bit.eq(0)
                with m.If(left != 0):
                    m.next = "W_BYTE"
                with m.Elif(pass2):
                    m.next = "HDR_ONLY"
                with m.Else():
                    m.next = "W_DONE"

            def got_word():
                with m.If(~pass2):
                    m.next = "W_CHECK"
                with m.Elif(is_param):
                    m.next = "W_PARAM"
                with m.Elif(is_bits):
                    m.next = "W_BIT"
                with m.Else():
                    m.next = "W_RMW"
            fetch("W_BYTE", Mux(is_param, WORD_BYTES, 1), got_word,
                  underrun=P.Status.BAD_LENGTH, padded=k >= wsize)
            with m.State("W_CHECK"):
                ok = Signal()
                m.d.comb += ok.eq(1)
                for wreg, (_, layout) in _WORD_LAYOUTS.items():
                    with m.If(region == wreg.value):
                        m.d.comb += ok.eq(_word_ok(layout, word))
                for wreg, total in ((P.WireRegion.PLASTIC, synapses), (P.WireRegion.SPIKES, n)):
                    last = (total + 7) // 8 - 1
                    used = total - 8 * last
                    if used < 8:
                        with m.If((region == wreg.value) & (caddr == last)):
                            m.d.comb += ok.eq(fetched(1)[used:] == 0)
                with m.If(writing & ~ok):
                    m.d.sync += value_bad.eq(1)
                next_word("W_WORD")
            with m.State("W_DONE"):
                with m.If(writing & (roff != fend)):
                    fail(P.Status.BAD_LENGTH)
                with m.Elif(start_bad | (caddr > _by_region(region, {
                        r: P.region_words(r, n) for r in P.WireRegion}, cw))):
                    fail(P.Status.BAD_ADDRESS)
                with m.Elif(value_bad):
                    fail(P.Status.BAD_VALUE)
                with m.Elif(writing):
                    m.next = "ACCESS_AGAIN"
                with m.Else():
                    m.d.sync += hlen.eq(roff)
                    m.next = "R_HDR"
            emit("R_HDR", 4, "ACCESS_AGAIN", from_hdr)
            with m.State("ACCESS_AGAIN"):
                m.d.sync += pass2.eq(1)
                m.d.comb += roff_next.eq(P.HEADER_BYTES)
                m.next = "ACCESS_F"

            # WRITE, second walk
            core_req("W_PARAM", 1, core_region, caddr[:aw], word[:9], lambda: next_word("W_WORD"))
            with m.State("W_BIT"):
                with m.If(bit == 8):
                    next_word("W_WORD")
                with m.Elif(~in_range):
                    m.d.sync += bit.eq(bit + 1)
                with m.Elif(plastic):
                    m.next = "W_RMW"
                with m.Else():
                    m.next = "W_SPIKE"

            def next_bit():
                m.d.sync += bit.eq(bit + 1)
                m.next = "W_BIT"
            core_req("W_SPIKE", 1, Region.SPIKES, bit_addr, bitval, next_bit)
            # weights and plasticity bits: read-modify-write of the SYNAPSE word
            waddr = Mux(is_bits, bit_addr, caddr[:aw])
            core_read("W_RMW", Region.SYNAPSE, waddr, "W_RMW_WR")

            def rmw_done():
                with m.If(is_bits):
                    next_bit()
                with m.Else():
                    next_word("W_WORD")
            core_req("W_RMW_WR", 1, Region.SYNAPSE, waddr,
                     Mux(is_bits, Cat(rword[:8], bitval), Cat(fetched(1), rword[8])), rmw_done)

            # READ, second walk: the words
            with m.State("R_WORD"):
                m.d.sync += bit.eq(0)
                with m.If(left == 0):
                    m.next = "FINISH"
                with m.Elif(is_bits):
                    m.next = "OBIT"
                with m.Else():
                    m.next = "R_RD"
            core_read("R_RD", core_region, caddr[:aw], "R_EMIT")
            emit("R_EMIT", wsize, lambda: next_word("R_WORD"))
            # a byte of bits (PLASTIC, SPIKES, and the spikes a RUN answers): a read per bit
            with m.State("OBIT"):
                with m.If(bit == 8):
                    m.next = "OBYTE"
                with m.Else():
                    m.next = "OBIT_RD"

            def got_bit():
                m.d.sync += [sbyte.eq(Cat(sbyte[1:], in_range & Mux(plastic, rsp.payload[8],
                                                                     rsp.payload[0]))),
                             bit.eq(bit + 1)]
                m.next = "OBIT"
            core_read("OBIT_RD", Mux(plastic, Region.SYNAPSE, Region.SPIKES), bit_addr, got_bit)

            def byte_sent():
                m.d.sync += bit.eq(0)
                with m.If(running):
                    m.d.sync += caddr.eq(caddr + 1)
                    m.next = "OBYTE_NEXT"
                with m.Else():
                    next_word("R_WORD")
            emit("OBYTE", 1, byte_sent, from_sbyte)

            # -- RUN ------------------------------------------------------------------------------
            # First walk: check every spike record; then the step counter; then the RUN header
            # again, and the second walk: per record, force, step, answer.
            fetch("RUN_F", P.RUN_HEADER_BYTES, "RUN")
            with m.State("RUN"):
                run = fetched(P.RUN_HEADER_BYTES)
                m.d.comb += clear.eq(1)
                m.d.sync += [left.eq(run[32:48]), region.eq(P.WireRegion.SPIKES.value)]
                with m.If(~pass2):
                    m.next = "RV_NEXT"
                with m.Elif(abort):                         # queued behind an ABORT
                    fail(P.Status.ABORTED)
                with m.Elif(rword[:32] != run[:32]):
                    fail(P.Status.OUT_OF_SEQUENCE)
                with m.Else():
                    m.next = "RA_START"
            with m.State("RV_NEXT"):
                with m.If(left != 0):
                    m.next = "REC_F"
                with m.Elif(roff != fend):
                    fail(P.Status.BAD_LENGTH)
                with m.Else():
                    m.next = "RUN_STEPNO"

            def run_again():
                m.d.sync += pass2.eq(1)
                m.d.comb += roff_next.eq(P.HEADER_BYTES)
                m.next = "RUN_F"
            core_read("RUN_STEPNO", Region.CONTROL, Register.STEP_COUNT, run_again)

            # a spike record in: checked (first walk) or forced (second walk)
            fetch("REC_F", 2, "REC", underrun=P.Status.BAD_VALUE)
            with m.State("REC"):
                head = fetched(2)
                m.d.comb += clear.eq(1)
                m.d.sync += [cnt.eq(head[:15]), caddr.eq(0), bit.eq(0)]
                with m.If(head[15]):
                    m.next = "DN_BYTE"
                with m.Else():
                    m.next = "SP_ITEM"
            with m.State("DN_BYTE"):
                m.d.sync += bit.eq(0)
                with m.If(~bitmap_end):
                    m.next = "DN_F"
                with m.Elif(~pass2 & (cnt != 0)):
                    fail(P.Status.BAD_VALUE)
                with m.Else():
                    m.next = "REC_END"
            fetch("DN_F", 1, "DN_BIT", underrun=P.Status.BAD_VALUE)
            with m.State("DN_BIT"):
                with m.If(bit == 8):
                    m.d.sync += caddr.eq(caddr + 1)
                    m.next = "DN_BYTE"
                with m.Elif(bitval & pass2 & in_range):
                    m.next = "DN_FORCE"
                with m.Elif(bitval & ~pass2 & (~in_range | (cnt == 0))):
                    fail(P.Status.BAD_VALUE)
                with m.Else():
                    with m.If(bitval):
                        m.d.sync += cnt.eq(cnt - 1)
                    m.d.sync += bit.eq(bit + 1)

            def forced():
                m.d.sync += bit.eq(bit + 1)
                m.next = "DN_BIT"
            core_req("DN_FORCE", 1, Region.FORCED, bit_addr, 1, forced)
            with m.State("SP_ITEM"):
                with m.If(cnt == 0):
                    m.next = "REC_END"
                with m.Else():
                    m.next = "SP_F"
            fetch("SP_F", 2, "SP_IDX", underrun=P.Status.BAD_VALUE)
            with m.State("SP_IDX"):
                # first walk: the indices ascend (bit 0: not the first index)
                index = fetched(2)
                m.d.comb += clear.eq(1)
                m.d.sync += [cnt.eq(cnt - 1), caddr.eq(index), bit.eq(1)]
                with m.If(pass2):
                    m.next = "SP_FORCE"
                with m.Elif((index >= n) | (bit[0] & (index <= caddr))):
                    fail(P.Status.BAD_VALUE)
                with m.Else():
                    m.next = "SP_ITEM"
            core_req("SP_FORCE", 1, Region.FORCED, caddr[:aw], 1, "SP_ITEM")
            with m.State("REC_END"):
                with m.If(pass2):
                    m.next = "RS_STEP"
                with m.Else():
                    m.d.sync += left.eq(left - 1)
                    m.next = "RV_NEXT"

            # second walk: answers of per_answer records, the last with the rest; the length
            # (records * rec_bytes) is counted up in RA_LEN
            with m.State("RA_START"):
                with m.If(left > per_answer):
                    m.d.sync += [rec_left.eq(per_answer), cnt.eq(per_answer),
                                 status.eq(P.Status.MORE.value)]
                with m.Else():
                    m.d.sync += [rec_left.eq(left), cnt.eq(left), status.eq(P.Status.OK.value)]
                m.d.sync += hlen.eq(0)
                m.next = "RA_LEN"
            with m.State("RA_LEN"):
                with m.If(cnt == 0):
                    m.next = "RA_HDR"
                with m.Else():
                    m.d.sync += [hlen.eq(hlen + rec_bytes), cnt.eq(cnt - 1)]
            emit("RA_HDR", 4, "RS_NEXT", from_hdr)
            with m.State("RS_NEXT"):
                with m.If(rec_left == 0):
                    m.next = "RA_END"
                with m.Else():
                    m.next = "REC_F"

            def answer_sent():
                with m.If(left == 0):
                    m.next = "FREE"
                with m.Elif(abort):
                    fail(P.Status.ABORTED)
                with m.Else():
                    m.next = "RA_START"
            emit_end("RA_END", answer_sent)
            core_req("RS_STEP", 1, Region.CONTROL, Register.COMMAND, Command.STEP.value,
                     "RS_WAIT")
            with m.State("RS_WAIT"):
                with m.If(self.core_done):
                    m.next = "RS_COUNT"
            core_read("RS_COUNT", Region.CONTROL, Register.SPIKE_COUNT, "RS_HEAD", head_load)

            def head_sent():
                m.d.sync += [caddr.eq(0), bit.eq(0)]
                m.next = "OBIT"
            emit("RS_HEAD", 2, head_sent)
            with m.State("OBYTE_NEXT"):
                with m.If(~bitmap_end):
                    m.next = "OBIT"
                with m.Else():
                    m.d.sync += [left.eq(left - 1), rec_left.eq(rec_left - 1)]
                    m.next = "RS_NEXT"
        return m


class Link(wiring.Component):
    """The core behind its frame layer and dispatcher: protocol bytes in, protocol bytes out.

    ``sink`` takes the bytes a host sends (from a UART receiver, or a testbench); ``source``
    gives the bytes of the answers (COBS-encoded frames).  :class:`LinkTop` adds the UART.

    Members
    -------
    sink : In(stream.Signature(8))
    source : Out(stream.Signature(8))
    uart_error : In(1)
        Strobe per byte the UART receiver dropped (counted in STATUS).
    busy : Out(1)
        A request is buffered or executing, the core is busy, or an answer is on its way.
    """

    def __init__(self, params: CoreParams | int, *, build: int = 0, clock_hz: int = 0):
        self.core_params = params if isinstance(params, CoreParams) else CoreParams(params)
        self.build = build
        self.clock_hz = clock_hz
        super().__init__({"sink": In(stream.Signature(8)), "source": Out(stream.Signature(8)),
                          "uart_error": In(1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dec = dec = COBSDecoder()
        m.submodules.chk = chk = CRCChecker()
        m.submodules.disp = disp = Dispatcher(self.core_params, build=self.build,
                                              clock_hz=self.clock_hz)
        m.submodules.core = core = Core(self.core_params)
        m.submodules.app = app = CRCAppender()
        m.submodules.answer_reg = answer_reg = StreamRegister(TOKEN)
        m.submodules.enc = enc = COBSEncoder()
        wiring.connect(m, wiring.flipped(self.sink), dec.sink)
        wiring.connect(m, dec.source, chk.sink)
        wiring.connect(m, chk.source, disp.sink)
        wiring.connect(m, disp.req, core.req)
        wiring.connect(m, core.rsp, disp.rsp)
        wiring.connect(m, disp.source, app.sink)
        wiring.connect(m, app.source, answer_reg.sink)
        wiring.connect(m, answer_reg.source, enc.sink)
        wiring.connect(m, enc.source, wiring.flipped(self.source))
        m.d.comb += [disp.uart_error.eq(self.uart_error), disp.core_done.eq(core.done),
                     self.busy.eq(disp.busy | core.busy | answer_reg.source.valid
                                  | enc.pending)]
        return m


class LinkTop(wiring.Component):
    """A core behind its UART link: what a board (or the simulated board) runs.

    Parameters
    ----------
    params : CoreParams
    divisor : int
        Clock cycles per UART bit (:func:`~.uart.uart_divisor` of the board clock).
    clock_hz : int
        Reported by IDENTIFY.

    Members
    -------
    uart_rx : In(1), uart_tx : Out(1)
        The serial pins (idle high).
    busy : Out(1)
        The link or the core has work in progress (the simulated board sleeps otherwise).
    """

    def __init__(self, params: CoreParams | int, *, divisor: int, clock_hz: int = 0):
        self.core_params = params if isinstance(params, CoreParams) else CoreParams(params)
        self.divisor = divisor
        self.clock_hz = clock_hz
        self.build = build_hash(self.core_params.n, clock_hz, divisor)
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(self.divisor)
        m.submodules.link = link = Link(self.core_params, build=self.build,
                                        clock_hz=self.clock_hz)
        # The encoder's ring queues up to 512 bytes, so the dispatcher computes the next steps
        # while the line sends the last ones.
        m.submodules.tx = tx = UARTTx(self.divisor)
        wiring.connect(m, rx.source, link.sink)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
                     link.uart_error.eq(rx.frame_error | rx.overrun),
                     self.busy.eq(link.busy | rx.source.valid | ~tx.sink.ready)]
        wiring.connect(m, link.source, tx.sink)
        return m

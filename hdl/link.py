"""Command dispatcher and the link-level top: the protocol of :mod:`plasticore.protocol` on
the core's access port.

::

    uart_rx -> UARTRx -> COBSDecoder -> CRCChecker -> Dispatcher <-> Core (access port)
    uart_tx <- UARTTx <- FIFO <- COBSEncoder <- CRCAppender <-'

:class:`Dispatcher` answers exactly the bytes that the virtual chip
(:mod:`plasticore.driver.virtual`, the executable specification) answers for the same
request stream; ``tests/link/test_dispatcher.py`` checks this.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import LEARNING_PARAMS, NEURON_PARAMS, NEURON_STATE, CoreParams

from .access import DATA_WIDTH, Command, Region, Register, request_layout
from .core import Core
from .framing import TOKEN, COBSDecoder, COBSEncoder, CRCAppender, CRCChecker
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


def _word_ok(layout: data.StructLayout, word):
    """True if ``word`` (a wire word of ``layout``) has zero padding and every decay factor
    at most 1.0: the checks the virtual chip makes before it writes."""
    size = (layout.size + 7) // 8 * 8
    ok = word[layout.size:size] == 0 if size > layout.size else Const(1)
    for _, field in layout:
        if field.shape is F.DECAY:
            ok = ok & (word[field.offset:field.offset + field.width] <= F.DECAY.max)
    return ok


class Dispatcher(wiring.Component):
    """Executes protocol requests on the core's access port.

    Receive side: frames arrive as :data:`~.framing.TOKEN` s (after the CRC check) and are
    stored whole in one of two 512-byte buffers (one block RAM), so that a request is
    checked completely before any of it executes: a corrupted or malformed request changes
    nothing.  While both buffers hold requests, a further frame is dropped and answered
    BUSY (BAD_CRC if it was corrupted); an ABORT is never refused.

    Execute side: requests run in arrival order.  Answers stream straight to ``source``
    (header first: every answer length is known before the answer starts).

    Throughput: the access port takes a word per cycle, so requests run far faster than a
    UART delivers them; a RUN costs, per step, the core's step plus about 2N cycles of
    forced-bit writes and spike reads.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
        Checked frames.
    source : Out(stream.Signature(TOKEN))
        Answers, to be CRC-appended and COBS-encoded.
    req, rsp, core_done
        The core's access port and its ``done`` pulse.
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
        pend_status = Signal(8)
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
                                  & (first == P.Opcode.ABORT.value))
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

        # -- execute ------------------------------------------------------------------------------
        src = self.source
        req = self.req
        rsp = self.rsp
        roff = Signal(range(BUFFER_BYTES + 1))  # read offset in the current buffer
        fi = Signal(range(20))
        word = Signal(8 * 19)                   # bytes fetched from the buffer
        eword = Signal(8 * 19)                  # bytes to emit
        ei = Signal(range(20))
        opcode = Signal(8)
        seq = Signal(8)
        length = Signal(16)
        status = Signal(8)
        region = Signal(8)
        count = Signal(16)
        start = Signal(32)
        widx = Signal(32)                       # word index within the request
        bit = Signal(range(9))
        acc_byte = Signal(8)
        rword = Signal(DATA_WIDTH)
        steps = Signal(16)
        first_step = Signal(32)
        done_steps = Signal(16)
        rec_left = Signal(16)                   # records left in the current answer
        head = Signal(16)
        prev = Signal(17)                       # previous sparse index + 1 (0: none yet)
        popcnt = Signal(16)
        items = Signal(16)
        step_count = Signal(32)
        learning = Signal()
        cur_flen = Mux(rbuf, flen[1], flen[0])
        cur_over = over.bit_select(rbuf, 1)
        cur_bad = bad.bit_select(rbuf, 1)
        cur_full = full.bit_select(rbuf, 1)
        rec_bytes = P.record_bytes_max(n)
        per_answer = P.MAX_PAYLOAD // rec_bytes
        bitmap_bytes = (n + 7) // 8

        m.d.comb += [rd.en.eq(1), rd.addr.eq(Cat((roff + fi)[:9], rbuf)),
                     self.busy.eq(full.any() | receiving | pend_valid)]

        def sizes(reg):
            """Wire bytes of a word of region ``reg``."""
            out = Const(1, 5)
            for wr_, (_, layout) in _WORD_LAYOUTS.items():
                out = Mux(reg == wr_.value, (layout.size + 7) // 8, out)
            return out

        def region_words(reg):
            out = Const(0, 32)
            for r in P.WireRegion:
                out = Mux(reg == r.value, P.region_words(r, n), out)
            return out

        wsize = Signal(5)
        m.d.comb += wsize.eq(sizes(region))
        nbytes = Signal(21)                     # count * wsize: the words' bytes

        def fetch(name, nbytes, then):
            """Load ``nbytes`` bytes from the buffer at ``roff`` into ``word``."""
            with m.State(name):
                with m.If(fi == 0):
                    m.d.sync += word.eq(0)
                with m.Else():
                    m.d.sync += word.word_select((fi - 1).as_unsigned()[:len(fi)], 8).eq(rd.data)
                m.d.sync += fi.eq(fi + 1)
                with m.If(fi == nbytes):
                    m.d.sync += [fi.eq(0), roff.eq(roff + nbytes)]
                    m.next = then

        def emit(name, nbytes, then):
            """Send bytes 0 .. nbytes-1 of ``eword``."""
            with m.State(name):
                m.d.comb += [src.valid.eq(1), src.payload.data.eq(eword.word_select(ei, 8))]
                with m.If(src.ready):
                    m.d.sync += ei.eq(ei + 1)
                    with m.If(ei == nbytes - 1):
                        m.d.sync += ei.eq(0)
                        m.next = then

        def emit_end(name, then):
            with m.State(name):
                m.d.comb += [src.valid.eq(1), src.payload.end.eq(1)]
                with m.If(src.ready):
                    m.next = then

        def header(st, sq, ln):
            """Load a response header into ``eword``."""
            st = Const(st, 8) if isinstance(st, int) else st[:8]
            ln = Const(ln, 16) if isinstance(ln, int) else ln[:16]
            return eword.eq(Cat(st, sq, ln))

        def core_req(name, write, reg, addr, dat, then):
            with m.State(name):
                m.d.comb += [req.valid.eq(1), req.payload.write.eq(write),
                             req.payload.region.eq(reg), req.payload.addr.eq(addr),
                             req.payload.data.eq(dat)]
                with m.If(req.ready):
                    m.next = then

        def core_read(name, reg, addr, then):
            core_req(name, 0, reg, addr, 0, name + "_RSP")
            with m.State(name + "_RSP"):
                m.d.comb += rsp.ready.eq(1)
                with m.If(rsp.valid):
                    m.d.sync += rword.eq(rsp.payload)
                    m.next = then

        with m.FSM(name="exec"):
            with m.State("IDLE"):
                # An ABORT drops what was queued when it arrived; once nothing is queued it
                # has done its work.
                with m.If(~full.any() & ~receiving):
                    m.d.sync += abort.eq(0)
                with m.If(pend_valid):
                    m.d.sync += [header(pend_status, pend_seq, 0), pend_valid.eq(0)]
                    with m.If(pend_status == P.Status.BUSY.value):
                        m.d.sync += c_rejected.eq(c_rejected + 1)
                    m.next = "PEND_HDR"
                with m.Elif(cur_full):
                    m.d.sync += [roff.eq(0), fi.eq(0)]
                    m.next = "FETCH_HDR"
            emit("PEND_HDR", 4, "PEND_END")
            emit_end("PEND_END", "IDLE")

            fetch("FETCH_HDR", 4, "CHECK")
            with m.State("CHECK"):
                m.d.sync += [opcode.eq(word[:8]), seq.eq(word[8:16]), length.eq(word[16:32])]
                m.next = "CHECK2"
            with m.State("CHECK2"):
                with m.If(cur_bad):
                    m.d.sync += [status.eq(P.Status.BAD_CRC.value), seq.eq(0)]
                    m.next = "ERROR"
                with m.Elif(cur_over | (cur_flen < P.HEADER_BYTES + 2)
                            | (length > P.MAX_PAYLOAD)
                            | (cur_flen != length + P.HEADER_BYTES + 2)):
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    with m.If(~cur_over & (cur_flen < 4)):
                        m.d.sync += seq.eq(0)
                    m.next = "ERROR"
                with m.Else():
                    with m.Switch(opcode):
                        with m.Case(P.Opcode.IDENTIFY.value):
                            m.next = "IDENTIFY"
                        with m.Case(P.Opcode.RESET.value):
                            m.next = "RESET"
                        with m.Case(P.Opcode.CONTROL.value):
                            m.next = "CONTROL"
                        with m.Case(P.Opcode.STATUS.value):
                            m.next = "STATUS"
                        with m.Case(P.Opcode.ABORT.value):
                            m.next = "ABORT"
                        with m.Case(P.Opcode.READ.value, P.Opcode.WRITE.value):
                            m.next = "FETCH_ACCESS"
                        with m.Case(P.Opcode.RUN.value):
                            m.next = "RUN"
                        with m.Default():
                            m.d.sync += status.eq(P.Status.UNKNOWN_OPCODE.value)
                            m.next = "ERROR"

            # -- answers without payload, and the end of every request ---------------------
            with m.State("ERROR"):
                m.d.sync += header(status, seq, 0)
                with m.If(status != P.Status.BAD_CRC.value):     # counted as a CRC error
                    m.d.sync += c_rejected.eq(c_rejected + 1)
                m.next = "ERR_HDR"
            emit("ERR_HDR", 4, "FINISH")
            with m.State("OK_EMPTY"):
                m.d.sync += header(P.Status.OK.value, seq, 0)
                m.next = "OK_HDR"
            emit("OK_HDR", 4, "FINISH")
            emit_end("FINISH", "FREE")
            with m.State("FREE"):
                for b in range(2):
                    with m.If(rbuf == b):
                        m.d.sync += full[b].eq(0)
                m.d.sync += rbuf.eq(~rbuf)
                m.next = "IDLE"

            def bad_length_unless(cond, then):
                with m.If(cond):
                    m.next = then
                with m.Else():
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"

            # -- IDENTIFY, RESET, CONTROL, STATUS, ABORT --------------------------------------
            ident = P.pack(P.IDENTITY, {
                "protocol": P.PROTOCOL_VERSION, "neurons": n, "contract": P.contract_hash(),
                "build": self.build, "max_payload": P.MAX_PAYLOAD, "rx_buffers": 2,
                "clock_hz": self.clock_hz, "kind": 0})
            with m.State("IDENTIFY"):
                with m.If(length == 0):
                    m.d.sync += header(P.Status.OK.value, seq, len(ident))
                    m.next = "ID_HDR"
                with m.Else():
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"
            emit("ID_HDR", 4, "ID_LOAD")
            with m.State("ID_LOAD"):
                m.d.sync += eword.eq(int.from_bytes(ident, "little"))
                m.next = "ID_BODY"
            emit("ID_BODY", len(ident), "FINISH")

            with m.State("RESET"):
                bad_length_unless(length == 0, "RESET_GO")
            core_req("RESET_GO", 1, Region.CONTROL, Register.COMMAND, Command.RESET.value,
                     "RESET_WAIT")
            with m.State("RESET_WAIT"):
                with m.If(self.core_done):
                    m.next = "OK_EMPTY"

            with m.State("CONTROL"):
                bad_length_unless(length == 1, "CONTROL_FETCH")
            with m.State("CONTROL_FETCH"):
                m.d.sync += [roff.eq(P.HEADER_BYTES), fi.eq(0)]
                m.next = "CONTROL_F"
            fetch("CONTROL_F", 1, "CONTROL_CHK")
            with m.State("CONTROL_CHK"):
                with m.If(word[1:8] != 0):
                    m.d.sync += status.eq(P.Status.BAD_VALUE.value)
                    m.next = "ERROR"
                with m.Else():
                    m.next = "CONTROL_GO"
            core_req("CONTROL_GO", 1, Region.CONTROL, Register.CONTROL, word[0], "OK_EMPTY")

            with m.State("ABORT"):
                with m.If(length == 0):
                    m.d.sync += abort.eq(0)
                    m.next = "OK_EMPTY"
                with m.Else():
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"

            with m.State("STATUS"):
                bad_length_unless(length == 0, "ST_STEP")
            core_read("ST_STEP", Region.CONTROL, Register.STEP_COUNT, "ST_LEARN")
            with m.State("ST_LEARN"):
                m.d.sync += step_count.eq(rword[:32])
                m.next = "ST_LEARN_RD"
            core_read("ST_LEARN_RD", Region.CONTROL, Register.CONTROL, "ST_HDR_LOAD")
            with m.State("ST_HDR_LOAD"):
                m.d.sync += [learning.eq(rword[0]),
                             header(P.Status.OK.value, seq, P.STATUS_BYTES)]
                m.next = "ST_HDR"
            emit("ST_HDR", 4, "ST_LOAD")
            with m.State("ST_LOAD"):
                m.d.sync += eword.eq(Cat(step_count, learning, Const(0, 7), c_frames,
                                         c_crc, c_uart, c_rejected))
                m.next = "ST_BODY"
            emit("ST_BODY", P.STATUS_BYTES, "FINISH")

            # -- READ and WRITE -------------------------------------------------------------
            with m.State("FETCH_ACCESS"):
                with m.If(length < P.ACCESS_BYTES):
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"
                with m.Else():
                    m.d.sync += [roff.eq(P.HEADER_BYTES), fi.eq(0)]
                    m.next = "ACCESS_F"
            fetch("ACCESS_F", P.ACCESS_BYTES, "ACCESS_PARSE")
            with m.State("ACCESS_PARSE"):
                m.d.sync += [region.eq(word[:8]), count.eq(word[8:24]),
                             start.eq(word[24:56]), widx.eq(0)]
                m.next = "ACCESS_MUL"
            with m.State("ACCESS_MUL"):
                # Its own cycle: the multiply followed by the comparisons below was the
                # slowest path of the link on an ECP5 (47 MHz).
                m.d.sync += nbytes.eq(count * wsize)
                m.next = "ACCESS_CHK"
            with m.State("ACCESS_CHK"):
                writing = opcode == P.Opcode.WRITE.value
                with m.If(region > max(r.value for r in P.WireRegion)):
                    m.d.sync += status.eq(P.Status.BAD_ADDRESS.value)
                    m.next = "ERROR"
                with m.Elif(writing & (length != P.ACCESS_BYTES + nbytes)):
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"
                with m.Elif(~writing & ((length != P.ACCESS_BYTES)
                                       | (nbytes > P.MAX_PAYLOAD))):
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"
                with m.Elif(start + count > region_words(region)):
                    m.d.sync += status.eq(P.Status.BAD_ADDRESS.value)
                    m.next = "ERROR"
                with m.Elif(writing):
                    m.d.sync += [roff.eq(P.HEADER_BYTES + P.ACCESS_BYTES), fi.eq(0)]
                    m.next = "WCHK_NEXT"
                with m.Else():
                    m.d.sync += header(P.Status.OK.value, seq, nbytes[:16])
                    m.next = "RD_HDR"

            # WRITE, pass 1: check every word (nothing written if one is bad)
            with m.State("WCHK_NEXT"):
                with m.If(widx == count):
                    m.d.sync += [roff.eq(P.HEADER_BYTES + P.ACCESS_BYTES), widx.eq(0)]
                    m.next = "WR_NEXT"
                with m.Else():
                    m.next = "WCHK_F"
            fetch("WCHK_F", wsize, "WCHK")
            with m.State("WCHK"):
                ok = Signal()
                m.d.comb += ok.eq(1)
                for wreg, (_, layout) in _WORD_LAYOUTS.items():
                    with m.If(region == wreg.value):
                        m.d.comb += ok.eq(_word_ok(layout, word))
                for wreg, total in ((P.WireRegion.PLASTIC, synapses),
                                    (P.WireRegion.SPIKES, n)):
                    last = (total + 7) // 8 - 1
                    used = total - 8 * last
                    if used < 8:
                        with m.If((region == wreg.value) & (start + widx == last)):
                            m.d.comb += ok.eq(word[used:8] == 0)
                with m.If(ok):
                    m.d.sync += widx.eq(widx + 1)
                    m.next = "WCHK_NEXT"
                with m.Else():
                    m.d.sync += status.eq(P.Status.BAD_VALUE.value)
                    m.next = "ERROR"

            # WRITE, pass 2: write
            with m.State("WR_NEXT"):
                with m.If(widx == count):
                    m.next = "OK_EMPTY"
                with m.Else():
                    m.next = "WR_F"
            fetch("WR_F", wsize, "WR_DISPATCH")
            with m.State("WR_DISPATCH"):
                m.d.sync += bit.eq(0)
                with m.Switch(region):
                    with m.Case(P.WireRegion.WEIGHTS.value):
                        m.next = "WR_W_RD"
                    with m.Case(P.WireRegion.PLASTIC.value):
                        m.next = "WR_P_BIT"
                    with m.Case(P.WireRegion.SPIKES.value):
                        m.next = "WR_S_BIT"
                    for wreg in _WORD_LAYOUTS:
                        with m.Case(wreg.value):
                            m.next = f"WR_{wreg.name}"
            for wreg, (creg, _) in _WORD_LAYOUTS.items():
                core_req(f"WR_{wreg.name}", 1, creg, start + widx, word[:DATA_WIDTH],
                         "WR_DONE")
            with m.State("WR_DONE"):
                m.d.sync += widx.eq(widx + 1)
                m.next = "WR_NEXT"
            # weights: keep the plasticity bit (read-modify-write of the SYNAPSE word)
            core_read("WR_W_RD", Region.SYNAPSE, start + widx, "WR_W_WR")
            core_req("WR_W_WR", 1, Region.SYNAPSE, start + widx,
                     Cat(word[:8], rword[8]), "WR_DONE")
            # plasticity bits: 8 synapses per byte, keep each weight
            syn = Signal(32)
            m.d.comb += syn.eq(Cat(bit[:3], start + widx))
            with m.State("WR_P_BIT"):
                with m.If(bit == 8):
                    m.next = "WR_DONE"
                with m.Elif(syn >= synapses):
                    m.d.sync += bit.eq(bit + 1)
                with m.Else():
                    m.next = "WR_P_RD"
            core_read("WR_P_RD", Region.SYNAPSE, syn, "WR_P_WR")
            core_req("WR_P_WR", 1, Region.SYNAPSE, syn,
                     Cat(rword[:8], word.bit_select(bit[:3], 1)), "WR_P_INC")
            with m.State("WR_P_INC"):
                m.d.sync += bit.eq(bit + 1)
                m.next = "WR_P_BIT"
            with m.State("WR_S_BIT"):
                with m.If(bit == 8):
                    m.next = "WR_DONE"
                with m.Elif(syn >= n):
                    m.d.sync += bit.eq(bit + 1)
                with m.Else():
                    m.next = "WR_S_WR"
            core_req("WR_S_WR", 1, Region.SPIKES, syn, word.bit_select(bit[:3], 1),
                     "WR_P_INC_S")
            with m.State("WR_P_INC_S"):
                m.d.sync += bit.eq(bit + 1)
                m.next = "WR_S_BIT"

            # READ: stream the words
            emit("RD_HDR", 4, "RD_NEXT")
            with m.State("RD_NEXT"):
                m.d.sync += [bit.eq(0), acc_byte.eq(0)]
                with m.If(widx == count):
                    m.next = "FINISH"
                with m.Else():
                    with m.Switch(region):
                        with m.Case(P.WireRegion.WEIGHTS.value):
                            m.next = "RD_W"
                        with m.Case(P.WireRegion.PLASTIC.value, P.WireRegion.SPIKES.value):
                            m.next = "RD_BIT"
                        for wreg in _WORD_LAYOUTS:
                            with m.Case(wreg.value):
                                m.next = f"RD_{wreg.name}"
            core_read("RD_W", Region.SYNAPSE, start + widx, "RD_WORD")
            for wreg, (creg, _) in _WORD_LAYOUTS.items():
                core_read(f"RD_{wreg.name}", creg, start + widx, "RD_WORD")
            with m.State("RD_WORD"):
                m.d.sync += eword.eq(Mux(region == P.WireRegion.WEIGHTS.value, rword[:8],
                                         rword))
                m.next = "RD_EMIT"
            emit("RD_EMIT", wsize, "RD_INC")
            with m.State("RD_INC"):
                m.d.sync += widx.eq(widx + 1)
                m.next = "RD_NEXT"
            with m.State("RD_BIT"):
                with m.If(bit == 8):
                    m.d.sync += eword.eq(acc_byte)
                    m.next = "RD_EMIT"
                with m.Else():
                    m.next = "RD_BIT_RD"
            core_req("RD_BIT_RD", 0,
                     Mux(region == P.WireRegion.PLASTIC.value, Region.SYNAPSE, Region.SPIKES),
                     syn, 0, "RD_BIT_RSP")
            with m.State("RD_BIT_RSP"):
                m.d.comb += rsp.ready.eq(1)
                with m.If(rsp.valid):
                    in_region = syn < Mux(region == P.WireRegion.PLASTIC.value, synapses, n)
                    bitval = Mux(region == P.WireRegion.PLASTIC.value, rsp.payload[8],
                                 rsp.payload[0]) & in_region
                    m.d.sync += [acc_byte.bit_select(bit[:3], 1).eq(bitval), bit.eq(bit + 1)]
                    m.next = "RD_BIT"

            # -- RUN ---------------------------------------------------------------------------
            with m.State("RUN"):
                with m.If(length < P.RUN_HEADER_BYTES):
                    m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                    m.next = "ERROR"
                with m.Else():
                    m.d.sync += [roff.eq(P.HEADER_BYTES), fi.eq(0)]
                    m.next = "RUN_F"
            fetch("RUN_F", P.RUN_HEADER_BYTES, "RUN_PARSE")
            with m.State("RUN_PARSE"):
                m.d.sync += [first_step.eq(word[:32]), steps.eq(word[32:48]),
                             done_steps.eq(0)]
                m.next = "RV_NEXT"
            end_of_payload = P.HEADER_BYTES + length

            # validation pass over the records
            with m.State("RV_NEXT"):
                with m.If(done_steps == steps):
                    with m.If(roff != end_of_payload):
                        m.d.sync += status.eq(P.Status.BAD_LENGTH.value)
                        m.next = "ERROR"
                    with m.Else():
                        m.next = "RUN_STEPNO"
                with m.Elif(roff + 2 > end_of_payload):
                    m.next = "RV_BAD"
                with m.Else():
                    m.next = "RV_HEAD"
            with m.State("RV_BAD"):
                m.d.sync += status.eq(P.Status.BAD_VALUE.value)
                m.next = "ERROR"
            fetch("RV_HEAD", 2, "RV_HEAD2")
            with m.State("RV_HEAD2"):
                m.d.sync += [head.eq(word[:16]), items.eq(0), prev.eq(0), popcnt.eq(0)]
                with m.If(word[15]):
                    with m.If(roff + bitmap_bytes > end_of_payload):
                        m.next = "RV_BAD"
                    with m.Else():
                        m.next = "RV_DENSE"
                with m.Else():
                    with m.If(roff + 2 * word[:15] > end_of_payload):
                        m.next = "RV_BAD"
                    with m.Else():
                        m.next = "RV_SPARSE"
            with m.State("RV_DENSE"):
                with m.If(items == bitmap_bytes):
                    with m.If(popcnt == head[:15]):
                        m.d.sync += done_steps.eq(done_steps + 1)
                        m.next = "RV_NEXT"
                    with m.Else():
                        m.next = "RV_BAD"
                with m.Else():
                    m.next = "RV_DENSE_F"
            fetch("RV_DENSE_F", 1, "RV_DENSE_B")
            with m.State("RV_DENSE_B"):
                ones = sum(word[k] for k in range(8))
                used = n - 8 * (bitmap_bytes - 1)
                with m.If((items == bitmap_bytes - 1) & (word[used:8] != 0)
                          if used < 8 else Const(0)):
                    m.next = "RV_BAD"
                with m.Else():
                    m.d.sync += [popcnt.eq(popcnt + ones), items.eq(items + 1)]
                    m.next = "RV_DENSE"
            with m.State("RV_SPARSE"):
                with m.If(items == head[:15]):
                    m.d.sync += done_steps.eq(done_steps + 1)
                    m.next = "RV_NEXT"
                with m.Else():
                    m.next = "RV_SPARSE_F"
            fetch("RV_SPARSE_F", 2, "RV_SPARSE_I")
            with m.State("RV_SPARSE_I"):
                with m.If((word[:16] >= n) | (word[:16] + 1 <= prev)):
                    m.next = "RV_BAD"
                with m.Else():
                    m.d.sync += [prev.eq(word[:16] + 1), items.eq(items + 1)]
                    m.next = "RV_SPARSE"

            core_read("RUN_STEPNO", Region.CONTROL, Register.STEP_COUNT, "RUN_SEQ")
            with m.State("RUN_SEQ"):
                with m.If(abort):                       # queued behind an ABORT
                    m.d.sync += status.eq(P.Status.ABORTED.value)
                    m.next = "ERROR"
                with m.Elif(rword[:32] != first_step):
                    m.d.sync += status.eq(P.Status.OUT_OF_SEQUENCE.value)
                    m.next = "ERROR"
                with m.Else():
                    m.d.sync += [roff.eq(P.HEADER_BYTES + P.RUN_HEADER_BYTES), fi.eq(0),
                                 done_steps.eq(0)]
                    m.next = "RA_START"

            # execution: answers of per_answer records, the last with the rest
            left = steps - done_steps
            with m.State("RA_START"):
                with m.If(left > per_answer):
                    m.d.sync += [rec_left.eq(per_answer),
                                 header(P.Status.MORE.value, seq, per_answer * rec_bytes)]
                with m.Else():
                    m.d.sync += [rec_left.eq(left),
                                 header(P.Status.OK.value, seq, (left * rec_bytes)[:16])]
                m.next = "RA_HDR"
            emit("RA_HDR", 4, "RS_NEXT")
            with m.State("RS_NEXT"):
                with m.If(rec_left == 0):
                    m.next = "RA_END"
                with m.Else():
                    m.next = "RS_HEAD"
            with m.State("RA_END"):
                m.d.comb += [src.valid.eq(1), src.payload.end.eq(1)]
                with m.If(src.ready):
                    with m.If(done_steps == steps):
                        m.next = "FREE"
                    with m.Elif(abort):
                        m.d.sync += status.eq(P.Status.ABORTED.value)
                        m.next = "ERROR"
                    with m.Else():
                        m.next = "RA_START"
            fetch("RS_HEAD", 2, "RS_HEAD2")
            with m.State("RS_HEAD2"):
                m.d.sync += [head.eq(word[:16]), items.eq(0), bit.eq(0)]
                m.next = "RS_IN"
            with m.State("RS_IN"):
                with m.If(head[15]):
                    with m.If(items == bitmap_bytes):
                        m.next = "RS_STEP"
                    with m.Else():
                        m.next = "RS_DENSE_F"
                with m.Else():
                    with m.If(items == head[:15]):
                        m.next = "RS_STEP"
                    with m.Else():
                        m.next = "RS_SPARSE_F"
            fetch("RS_SPARSE_F", 2, "RS_SPARSE_W")
            core_req("RS_SPARSE_W", 1, Region.FORCED, word[:16], 1, "RS_ITEM")
            with m.State("RS_ITEM"):
                m.d.sync += items.eq(items + 1)
                m.next = "RS_IN"
            fetch("RS_DENSE_F", 1, "RS_DENSE_BIT")
            forced_n = Signal(16)
            m.d.comb += forced_n.eq(Cat(bit[:3], items))
            with m.State("RS_DENSE_BIT"):
                with m.If(bit == 8):
                    m.d.sync += [bit.eq(0)]
                    m.next = "RS_ITEM"
                with m.Elif(word.bit_select(bit[:3], 1) & (forced_n < n)):
                    m.next = "RS_DENSE_W"
                with m.Else():
                    m.d.sync += bit.eq(bit + 1)
            core_req("RS_DENSE_W", 1, Region.FORCED, forced_n, 1, "RS_DENSE_INC")
            with m.State("RS_DENSE_INC"):
                m.d.sync += bit.eq(bit + 1)
                m.next = "RS_DENSE_BIT"
            core_req("RS_STEP", 1, Region.CONTROL, Register.COMMAND, Command.STEP.value,
                     "RS_WAIT")
            with m.State("RS_WAIT"):
                with m.If(self.core_done):
                    m.next = "RS_COUNT"
            core_read("RS_COUNT", Region.CONTROL, Register.SPIKE_COUNT, "RS_OHEAD")
            with m.State("RS_OHEAD"):
                m.d.sync += [eword.eq(rword[:15] | 0x8000), items.eq(0), bit.eq(0),
                             acc_byte.eq(0)]
                m.next = "RS_OHEAD_E"
            emit("RS_OHEAD_E", 2, "RS_OBIT")
            out_n = Signal(16)
            m.d.comb += out_n.eq(Cat(bit[:3], items))
            with m.State("RS_OBIT"):
                with m.If(bit == 8):
                    m.d.sync += [eword.eq(acc_byte), bit.eq(0)]
                    m.next = "RS_OBYTE"
                with m.Else():
                    m.next = "RS_OBIT_RD"
            core_read("RS_OBIT_RD", Region.SPIKES, out_n, "RS_OBIT_GOT")
            with m.State("RS_OBIT_GOT"):
                m.d.sync += [acc_byte.bit_select(bit[:3], 1).eq(rword[0] & (out_n < n)),
                             bit.eq(bit + 1)]
                m.next = "RS_OBIT"
            emit("RS_OBYTE", 1, "RS_OBYTE_NEXT")
            with m.State("RS_OBYTE_NEXT"):
                m.d.sync += [items.eq(items + 1), acc_byte.eq(0)]
                with m.If(items + 1 == bitmap_bytes):
                    m.d.sync += [done_steps.eq(done_steps + 1), rec_left.eq(rec_left - 1)]
                    m.next = "RS_NEXT"
                with m.Else():
                    m.next = "RS_OBIT"
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
        m.submodules.enc = enc = COBSEncoder()
        wiring.connect(m, wiring.flipped(self.sink), dec.sink)
        wiring.connect(m, dec.source, chk.sink)
        wiring.connect(m, chk.source, disp.sink)
        wiring.connect(m, disp.req, core.req)
        wiring.connect(m, core.rsp, disp.rsp)
        wiring.connect(m, disp.source, app.sink)
        wiring.connect(m, app.source, enc.sink)
        wiring.connect(m, enc.source, wiring.flipped(self.source))
        m.d.comb += [disp.uart_error.eq(self.uart_error), disp.core_done.eq(core.done),
                     self.busy.eq(disp.busy | core.busy | enc.source.valid)]
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
        # The encoder hands over a whole COBS block (up to 255 bytes) at a time; a FIFO that
        # holds one lets it return to collecting at once, so the dispatcher computes the next
        # steps while the line sends the last ones (one block RAM).
        m.submodules.txq = txq = fifo.SyncFIFOBuffered(width=8, depth=256)
        m.submodules.tx = tx = UARTTx(self.divisor)
        wiring.connect(m, rx.source, link.sink)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
                     link.uart_error.eq(rx.frame_error | rx.overrun),
                     self.busy.eq(link.busy | rx.source.valid | txq.r_rdy | ~tx.sink.ready),
                     txq.w_data.eq(link.source.payload), txq.w_en.eq(link.source.valid),
                     link.source.ready.eq(txq.w_rdy),
                     tx.sink.payload.eq(txq.r_data), tx.sink.valid.eq(txq.r_rdy),
                     txq.r_en.eq(tx.sink.ready)]
        return m

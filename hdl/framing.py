"""Frame layer of the host link, gateware half: COBS decoding and encoding, CRC-16.

The host half of the same codec is in :mod:`plasticore.protocol` (``encode_frame``,
``FrameDecoder``); the frame format is documented there.  Between the byte PHY
(:mod:`plasticore.hdl.uart`) and the command dispatcher, frames travel as streams of
:data:`TOKEN` s: data bytes, then one ``end`` token that says whether the frame was
well-formed.

Receive path:  UARTRx -> :class:`COBSDecoder` -> :class:`CRCChecker` -> dispatcher
Transmit path: dispatcher -> :class:`CRCAppender` -> :class:`COBSEncoder` -> UARTTx
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from plasticore.protocol import CRC_ALGORITHM

__all__ = ["TOKEN", "COBSDecoder", "COBSEncoder", "CRCChecker", "CRCAppender"]

#: One token of a frame.  ``end = 0``: ``data`` is a byte of the frame.  ``end = 1``: the
#: frame is over; ``error`` says it was malformed (bad COBS, CRC mismatch, too short).
TOKEN = data.StructLayout({"data": 8, "end": 1, "error": 1})


class COBSDecoder(wiring.Component):
    """Splits a byte stream at 0x00 delimiters and COBS-decodes each frame.

    A delimiter inside a COBS block (a lost byte, a truncated frame) ends the frame with
    ``error``; the next frame starts cleanly after it.  Empty frames (0x00 0x00) produce
    nothing.  A decoded frame of ``k`` bytes produces ``k`` data tokens and one end token.

    Latency: 1 cycle from ``sink`` to ``source``.  Throughput: one byte per cycle; it
    consumes a byte only when it can emit the token that byte produces.

    Members
    -------
    sink : In(stream.Signature(8))
    source : Out(stream.Signature(TOKEN))
    """

    def __init__(self):
        super().__init__({
            "sink": In(stream.Signature(8)),
            "source": Out(stream.Signature(TOKEN)),
        })

    def elaborate(self, platform):
        m = Module()
        remaining = Signal(range(255))     # data bytes left in the current COBS block
        zero_due = Signal()                # the previous block ends in an implied 0x00
        in_frame = Signal()
        byte = self.sink.payload
        out = self.source

        # A one-entry output register: accept a new byte whenever it is empty or drains.
        m.d.comb += self.sink.ready.eq(~out.valid | out.ready)
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)

        with m.If(self.sink.valid & self.sink.ready):
            with m.If(byte == 0):
                with m.If(in_frame):
                    m.d.sync += [out.valid.eq(1), out.payload.end.eq(1),
                                 out.payload.error.eq(remaining != 0), out.payload.data.eq(0)]
                m.d.sync += [remaining.eq(0), zero_due.eq(0), in_frame.eq(0)]
            with m.Elif(remaining == 0):   # a code byte: starts a block of byte - 1 bytes
                m.d.sync += [in_frame.eq(1), remaining.eq(byte - 1),
                             zero_due.eq(byte != 0xFF)]
                with m.If(zero_due):
                    m.d.sync += [out.valid.eq(1), out.payload.end.eq(0),
                                 out.payload.error.eq(0), out.payload.data.eq(0)]
            with m.Else():
                m.d.sync += [remaining.eq(remaining - 1), out.valid.eq(1),
                             out.payload.end.eq(0), out.payload.error.eq(0),
                             out.payload.data.eq(byte)]
        return m


class COBSEncoder(wiring.Component):
    """COBS-encodes frames given as tokens and ends each with a 0x00 delimiter.

    Non-zero bytes collect in a 254-byte block buffer (one block RAM); a 0x00 byte, a full
    block or the end token flushes it as a code byte plus the block.  The ``error`` bit of
    end tokens is ignored (a sender never emits a malformed frame).

    Latency: a block leaves after it is complete, so up to 254 bytes + 2 cycles.
    Throughput: one input byte per cycle while collecting, one output byte per cycle while
    flushing; the two alternate, so put a FIFO of a few bytes in front of a slow consumer
    (a UART takes 80+ cycles per byte) to keep its line busy while the next block collects.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
    source : Out(stream.Signature(8))
    """

    def __init__(self):
        super().__init__({
            "sink": In(stream.Signature(TOKEN)),
            "source": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=254, init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=())
        count = Signal(range(255))         # bytes in the block
        index = Signal(range(255))         # next byte of the block to send
        code = Signal(8)
        end_due = Signal()
        tok = self.sink.payload
        out = self.source

        m.d.comb += [wr.addr.eq(count), wr.data.eq(tok.data)]
        # The read port always looks at the byte to send next cycle, so that rd.data is the
        # byte at ``index`` whenever the DATA state offers it.
        advance = Signal()
        m.d.comb += rd.addr.eq(Mux(advance, index + 1, index))

        with m.FSM():
            with m.State("COLLECT"):
                m.d.comb += self.sink.ready.eq(1)
                m.d.sync += index.eq(0)
                with m.If(self.sink.valid):
                    with m.If(tok.end):
                        m.d.sync += [code.eq(count + 1), end_due.eq(1)]
                        m.next = "CODE"
                    with m.Elif(tok.data == 0):
                        m.d.sync += code.eq(count + 1)
                        m.next = "CODE"
                    with m.Else():
                        m.d.comb += wr.en.eq(1)
                        m.d.sync += count.eq(count + 1)
                        with m.If(count == 253):
                            m.d.sync += code.eq(0xFF)
                            m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [out.valid.eq(1), out.payload.eq(code)]
                with m.If(out.ready):
                    with m.If(count != 0):
                        m.next = "DATA"
                    with m.Elif(end_due):
                        m.next = "DELIMIT"
                    with m.Else():
                        m.next = "COLLECT"
            with m.State("DATA"):
                m.d.comb += [out.valid.eq(1), out.payload.eq(rd.data), advance.eq(out.ready)]
                with m.If(out.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index + 1 == count):
                        m.d.sync += count.eq(0)
                        with m.If(end_due):
                            m.next = "DELIMIT"
                        with m.Else():
                            m.next = "COLLECT"
            with m.State("DELIMIT"):
                m.d.comb += [out.valid.eq(1), out.payload.eq(0)]
                with m.If(out.ready):
                    m.d.sync += end_due.eq(0)
                    m.next = "COLLECT"
        return m


class CRCChecker(wiring.Component):
    """Checks the CRC-16 that ends every frame and flags the end token if it is wrong.

    Tokens pass through unchanged (the two CRC bytes included: the consumer knows the last
    two bytes of a frame are its CRC); an end token gets ``error`` set if the frame is
    shorter than its CRC or its CRC does not match.  Uses :mod:`amaranth.lib.crc` with
    :data:`plasticore.protocol.CRC_ALGORITHM`, whose residue over data + CRC is 0.

    Latency: 0 cycles (combinational pass-through).  Throughput: one token per cycle.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
    source : Out(stream.Signature(TOKEN))
    """

    def __init__(self):
        super().__init__({
            "sink": In(stream.Signature(TOKEN)),
            "source": Out(stream.Signature(TOKEN)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC_ALGORITHM(8).create()
        length = Signal(2)                 # frame bytes seen, saturating at 2
        start = Signal(init=1)
        tok = self.sink.payload
        take = self.sink.valid & self.source.ready
        m.d.comb += [
            self.sink.ready.eq(self.source.ready),
            self.source.valid.eq(self.sink.valid),
            self.source.payload.eq(tok),
            crc.data.eq(tok.data),
            crc.valid.eq(take & ~tok.end),
            crc.start.eq(start & take),
        ]
        with m.If(tok.end):
            m.d.comb += self.source.payload.error.eq(
                tok.error | (length != 2) | ~crc.match_detected)
        with m.If(take):
            m.d.sync += start.eq(tok.end)
            with m.If(tok.end):
                m.d.sync += length.eq(0)
            with m.Elif(length != 2):
                m.d.sync += length.eq(length + 1)
        return m


class CRCAppender(wiring.Component):
    """Appends the CRC-16 (most significant byte first) before every end token.

    Latency: 0 cycles for data tokens; an end token is preceded by two CRC tokens.
    Throughput: one token per cycle, plus two cycles per frame.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
    source : Out(stream.Signature(TOKEN))
    """

    def __init__(self):
        super().__init__({
            "sink": In(stream.Signature(TOKEN)),
            "source": Out(stream.Signature(TOKEN)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC_ALGORITHM(8).create()
        start = Signal(init=1)
        tok = self.sink.payload
        out = self.source
        m.d.comb += crc.data.eq(tok.data)
        with m.FSM():
            with m.State("PASS"):
                m.d.comb += [out.valid.eq(self.sink.valid & ~tok.end), out.payload.eq(tok)]
                with m.If(self.sink.valid & ~tok.end):
                    m.d.comb += [self.sink.ready.eq(out.ready),
                                 crc.valid.eq(out.ready), crc.start.eq(start & out.ready)]
                    with m.If(out.ready):
                        m.d.sync += start.eq(0)
                with m.Elif(self.sink.valid):
                    # An empty frame still gets the CRC of nothing: restart the register.
                    with m.If(start):
                        m.d.comb += crc.start.eq(1)
                    m.next = "CRC_HI"
            with m.State("CRC_HI"):
                m.d.comb += [out.valid.eq(1), out.payload.data.eq(crc.crc[8:])]
                with m.If(out.ready):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [out.valid.eq(1), out.payload.data.eq(crc.crc[:8])]
                with m.If(out.ready):
                    m.next = "END"
            with m.State("END"):
                m.d.comb += [out.valid.eq(1), out.payload.end.eq(1),
                             self.sink.ready.eq(out.ready)]
                with m.If(out.ready):
                    m.d.sync += start.eq(1)
                    m.next = "PASS"
        return m

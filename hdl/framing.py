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

__all__ = ["TOKEN", "COBSDecoder", "COBSEncoder", "CRCChecker", "CRCAppender", "StreamRegister"]

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
    """COBS-encodes frames given as tokens and ends each with a 0x00 delimiter, into a
    512-byte ring that is also the transmit queue (one block RAM for both).

    Each block reserves a slot for its code byte when it starts; its non-zero bytes follow
    it in the ring; a 0x00 byte, a full block (254 bytes) or the end token writes the code
    byte into the reserved slot (and the end token a 0x00 after the block).  Completed
    blocks are offered on ``source`` while the next one collects, so a slow consumer (a
    UART: 80+ cycles per byte) keeps its line busy with up to 512 queued bytes while the
    sender goes on.  The output is byte for byte that of :func:`plasticore.protocol.
    encode_frame`.  The ``error`` bit of end tokens is ignored (a sender never emits a
    malformed frame).

    Latency: a block is offered 2 cycles after it is complete (up to 254 bytes).
    Throughput: one input byte per cycle while the ring has room, plus one cycle per full
    block and per delimiter; one output byte per cycle.

    Members
    -------
    sink : In(stream.Signature(TOKEN))
    source : Out(stream.Signature(8))
    pending : Out(1)
        Bytes are queued or a block is being collected.
    """

    #: Ring size in bytes (an iCE40 block RAM as 512 x 8; more than two full blocks).
    DEPTH = 512

    def __init__(self):
        super().__init__({
            "sink": In(stream.Signature(TOKEN)),
            "source": Out(stream.Signature(8)),
            "pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.DEPTH
        m.submodules.ring = ring = Memory(shape=8, depth=depth, init=[])
        wr = ring.write_port()
        rd = ring.read_port(transparent_for=())
        ptr = range(2 * depth)                 # one wrap bit more: full and empty differ
        head = Signal(ptr)                     # the current block's code byte slot
        wp = Signal(ptr)                       # next free slot
        rp = Signal(ptr)                       # next byte to send
        target = Signal(ptr)                   # end of the completed blocks ...
        committed = Signal(ptr)                # ... one cycle later: what the reader sees
        count = Signal(range(255))             # bytes in the current block
        room = Signal()
        busy = Signal()                        # completing a block (FULL, DELIMIT)
        tok = self.sink.payload
        out = self.source

        # `committed` follows `target` a cycle late, so that the code byte written when a
        # block completes has landed before the read port can read it (reads see the
        # memory as it was before a write in the same cycle).
        m.d.sync += committed.eq(target)
        m.d.comb += [room.eq((wp - rp)[:len(wp)] < depth),
                     wr.addr.eq(wp[:-1]), wr.data.eq(tok.data),
                     # Unsent bytes, a block being collected, or a block being completed.
                     self.pending.eq((rp != committed) | (committed != target) | (count != 0)
                                     | busy)]

        def close(code, then):
            """Write the block's code byte into its slot and complete the block."""
            m.d.comb += [wr.en.eq(1), wr.addr.eq(head[:-1]), wr.data.eq(code)]
            m.d.sync += [target.eq(wp), count.eq(0)]
            m.next = then

        with m.FSM():
            with m.State("START"):
                # Reserve the code byte slot of the next block.
                with m.If(room):
                    m.d.sync += [head.eq(wp), wp.eq(wp + 1)]
                    m.next = "COLLECT"
            with m.State("COLLECT"):
                m.d.comb += self.sink.ready.eq(room)
                with m.If(self.sink.valid & room):
                    with m.If(tok.end):
                        close(count + 1, "DELIMIT")
                    with m.Elif(tok.data == 0):
                        close(count + 1, "START")
                    with m.Else():
                        m.d.comb += wr.en.eq(1)
                        m.d.sync += [wp.eq(wp + 1), count.eq(count + 1)]
                        with m.If(count == 253):
                            m.next = "FULL"
            with m.State("FULL"):
                m.d.comb += busy.eq(1)
                close(0xFF, "START")
            with m.State("DELIMIT"):
                m.d.comb += busy.eq(1)
                with m.If(room):
                    m.d.comb += [wr.en.eq(1), wr.data.eq(0)]
                    m.d.sync += [wp.eq(wp + 1), target.eq(wp + 1)]
                    m.next = "START"

        # Reader: the read port looks at the byte offered next cycle.
        take = out.valid & out.ready
        m.d.comb += [out.valid.eq(rp != committed), out.payload.eq(rd.data),
                     rd.addr.eq(Mux(take, rp + 1, rp)[:len(rp) - 1])]
        with m.If(take):
            m.d.sync += rp.eq(rp + 1)
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


class StreamRegister(wiring.Component):
    """One register stage on a stream: ``valid`` and ``payload`` leave from flip-flops, so
    no combinational path runs through it forwards (``ready`` passes through).

    Latency 1 cycle; throughput one item per cycle.  Used between the answer path (dispatcher,
    CRC) and the COBS encoder, whose paths together were the longest of the design on the
    iCE40.

    Members
    -------
    sink : In(stream.Signature(shape))
    source : Out(stream.Signature(shape))
    """

    def __init__(self, shape):
        super().__init__({"sink": In(stream.Signature(shape)),
                          "source": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.sink.ready.eq(~self.source.valid | self.source.ready)
        with m.If(self.sink.valid & self.sink.ready):
            m.d.sync += [self.source.valid.eq(1), self.source.payload.eq(self.sink.payload)]
        with m.Elif(self.source.ready):
            m.d.sync += self.source.valid.eq(0)
        return m

"""The framing codec's gateware half against its host half, both ways, with corruption."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from plasticore.hdl.framing import COBSDecoder, COBSEncoder, CRCAppender, CRCChecker
from plasticore.protocol import FrameDecoder, FramingError, cobs_decode, cobs_encode, encode_frame


def packets(seed):
    rng = random.Random(seed)
    fixed = [b"\x01", b"\x00", b"\x00\x00\x00", bytes(range(1, 255)), bytes(254),
             bytes([7]) * 253, bytes([7]) * 254, bytes([7]) * 255, bytes([9]) * 600]
    rand = [bytes(rng.choice([0, rng.randrange(256)]) for _ in range(rng.randrange(1, 700)))
            for _ in range(6)]
    return fixed + rand


def rx_chain():
    m = Module()
    m.submodules.dec = dec = COBSDecoder()
    m.submodules.chk = chk = CRCChecker()
    wiring.connect(m, dec.source, chk.sink)
    return m, dec.sink, chk.source


def run_rx(line: bytes, backpressure_seed=None):
    """Feed ``line`` into decoder + checker; return frames as (bytes, error)."""
    m, sink, source = rx_chain()
    frames, cur = [], bytearray()
    rng = random.Random(backpressure_seed)

    async def feed(ctx):
        for b in line:
            ctx.set(sink.payload, b)
            ctx.set(sink.valid, 1)
            await ctx.tick().until(sink.ready)
        ctx.set(sink.valid, 0)
        await ctx.tick().repeat(10)

    async def drain(ctx):
        while True:
            ready = backpressure_seed is None or rng.random() < 0.6
            ctx.set(source.ready, ready)
            # sample before the edge: the token that this edge hands over
            tok = ctx.get(source.payload) if ready and ctx.get(source.valid) else None
            await ctx.tick()
            if tok is not None:
                if tok.end:
                    frames.append((bytes(cur[:-2]) if not tok.error else None, bool(tok.error)))
                    cur.clear()
                else:
                    cur.append(tok.data)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(drain, background=True)
    sim.run()
    return frames


@pytest.mark.parametrize("seed", [1, 2])
def test_host_frames_decode_in_gateware(seed):
    pk = packets(seed)
    line = b"\x00" + b"".join(encode_frame(p) for p in pk)
    frames = run_rx(line, backpressure_seed=seed if seed == 2 else None)
    assert frames == [(p, False) for p in pk]


def test_corrupted_frames_are_flagged_and_the_next_frame_survives():
    good = [b"\x10\x20\x00\x30", b"hello", bytes(300)]
    rng = random.Random(7)
    line = bytearray()
    expect = []
    for k in range(30):
        frame = bytearray(encode_frame(good[k % 3]))
        kind = k % 5
        if kind == 1:                                   # a bit flip (not creating 0x00)
            pos = rng.randrange(len(frame) - 1)
            flipped = frame[pos] ^ (1 << rng.randrange(8))
            frame[pos] = flipped if flipped else frame[pos] ^ 0xFF
        elif kind == 2:                                 # a lost byte
            del frame[rng.randrange(len(frame) - 1)]
        elif kind == 3:                                 # an extra byte
            frame.insert(rng.randrange(len(frame) - 1), rng.randrange(1, 256))
        elif kind == 4:                                 # truncated, then the delimiter
            frame = frame[: rng.randrange(1, len(frame) - 1)] + b"\x00"
        line += frame
        expect.append(kind == 0)
    frames = run_rx(bytes(line))
    assert len(frames) == 30
    for k, ((data, error), ok) in enumerate(zip(frames, expect, strict=True)):
        if ok:
            assert not error and data == good[k % 3], k
        else:
            assert error, f"frame {k} (corruption kind {k % 5}) was not flagged"


def test_garbage_without_delimiter_then_frames():
    line = bytes(random.Random(3).randrange(1, 256) for _ in range(500)) + b"\x00" + \
        encode_frame(b"ok") + encode_frame(b"again")
    frames = run_rx(line)
    assert frames[-2:] == [(b"ok", False), (b"again", False)]
    assert all(error for _, error in frames[:-2])


def run_tx(pk, backpressure_seed=None, ready_rate=0.5):
    m = Module()
    m.submodules.app = app = CRCAppender()
    m.submodules.enc = enc = COBSEncoder()
    wiring.connect(m, app.source, enc.sink)
    out = bytearray()
    rng = random.Random(backpressure_seed)

    async def feed(ctx):
        for p in pk:
            for b in p:
                ctx.set(app.sink.payload, {"data": b, "end": 0, "error": 0})
                ctx.set(app.sink.valid, 1)
                await ctx.tick().until(app.sink.ready)
            ctx.set(app.sink.payload, {"data": 0, "end": 1, "error": 0})
            await ctx.tick().until(app.sink.ready)
        ctx.set(app.sink.valid, 0)
        # The encoder's ring queues up to COBSEncoder.DEPTH bytes: wait until it is empty.
        await ctx.tick().repeat(10)
        await ctx.tick().until(~enc.pending)
        await ctx.tick().repeat(10)

    async def drain(ctx):
        while True:
            ready = backpressure_seed is None or rng.random() < ready_rate
            ctx.set(enc.source.ready, ready)
            if ready and ctx.get(enc.source.valid):
                out.append(ctx.get(enc.source.payload))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(drain, background=True)
    sim.run()
    return bytes(out)


@pytest.mark.parametrize("seed", [None, 4, 5])
def test_gateware_frames_decode_on_the_host(seed):
    pk = packets(5)
    line = run_tx(pk, seed)
    assert line == b"".join(encode_frame(p) for p in pk)     # byte-identical to the host
    assert FrameDecoder().feed(line) == pk


def test_slow_line_fills_the_ring():
    """A consumer far slower than the sender (a UART): the encoder's ring fills, wraps and
    throttles the sender many times, and the line still carries exactly the host encoding."""
    pk = packets(7)
    line = run_tx(pk, 7, ready_rate=0.05)
    assert line == b"".join(encode_frame(p) for p in pk)
    assert sum(len(p) for p in pk) > 4 * COBSEncoder.DEPTH


def test_host_codec_properties():
    for p in [*packets(6), b"", bytes(254 * 3)]:
        enc = cobs_encode(p)
        assert 0 not in enc and cobs_decode(enc) == p
        assert len(enc) <= len(p) + len(p) // 254 + 1
    dec = FrameDecoder(max_frame=100)
    out = dec.feed(encode_frame(bytes(200)) + encode_frame(b"x"))
    assert isinstance(out[0], FramingError) and "longer than 100" in str(out[0])
    assert out[1] == b"x"
    line = encode_frame(b"split across chunks")
    got = []
    for k in range(len(line)):
        got += dec.feed(line[k:k + 1])
    assert got == [b"split across chunks"]
    bad = bytearray(encode_frame(b"abc"))
    bad[1] ^= 0x01
    (err,) = FrameDecoder().feed(bytes(bad))
    assert isinstance(err, FramingError)

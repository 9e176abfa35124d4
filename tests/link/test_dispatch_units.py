"""The dispatcher's parts on their own: the latency and throughput their docstrings state."""

from amaranth.hdl import Module
from amaranth.sim import Simulator

from plasticore import protocol as P
from plasticore.hdl.dispatch import WORD_BYTES, Answer, ByteEngine, RxBuffers


def parts():
    """A receive buffer feeding a byte engine, as in the dispatcher."""
    m = Module()
    m.submodules.rx = rx = RxBuffers()
    m.submodules.eng = eng = ByteEngine(bytes(range(100, 100 + P.IDENTITY_BYTES)))
    m.d.comb += [rx.rd_offset.eq(eng.rd_offset), eng.rd_data.eq(rx.rd_data)]
    return m, rx, eng


def run(bench):
    m, rx, eng = parts()
    sim = Simulator(m)
    sim.add_clock(1e-6)

    async def testbench(ctx):
        await bench(ctx, rx, eng)
    sim.add_testbench(testbench)
    sim.run()


async def receive(ctx, rx, frame: bytes, error=0):
    """Send ``frame`` one byte per cycle, then its end token; return the cycles until the
    buffer is ready after the end token was taken."""
    for byte in frame:
        ctx.set(rx.sink.payload, {"data": byte, "end": 0, "error": 0})
        ctx.set(rx.sink.valid, 1)
        assert ctx.get(rx.sink.ready)
        await ctx.tick()
    ctx.set(rx.sink.payload, {"data": 0, "end": 1, "error": error})
    await ctx.tick()
    ctx.set(rx.sink.valid, 0)
    return ctx.get(rx.ready)


def test_frame_ready_after_its_end_then_fetched_one_byte_per_cycle():
    frame = bytes(range(1, 12))

    async def bench(ctx, rx, eng):
        assert await receive(ctx, rx, frame)        # ready the cycle after the end token
        assert ctx.get(rx.length) == len(frame) and not ctx.get(rx.crc_error)
        ctx.set(eng.seek, 1)                        # offset 0 next cycle
        await ctx.tick()
        ctx.set(eng.seek, 0)
        ctx.set(eng.fetch, 1)
        ctx.set(eng.last_index, 6)
        for k in range(7):                          # one byte per cycle
            assert ctx.get(eng.done) == (k == 6)
            await ctx.tick()
        ctx.set(eng.fetch, 0)
        assert ctx.get(eng.offset) == 7
        top = ctx.get(eng.word) >> (8 * (WORD_BYTES - 7))
        assert top.to_bytes(7, "little") == frame[:7]
        assert ctx.get(eng.word) & ((1 << (8 * (WORD_BYTES - 7))) - 1) == 0
        ctx.set(rx.free, 1)
        await ctx.tick()
        ctx.set(rx.free, 0)
        assert not ctx.get(rx.ready) and not ctx.get(rx.busy)

    run(bench)


def test_full_buffers_leave_one_pending_answer():
    busy = bytes([P.Opcode.STATUS.value, 9, 0, 0, 0, 0])      # header + CRC (any)

    async def bench(ctx, rx, eng):
        for _ in range(P.RX_BUFFERS):
            await receive(ctx, rx, busy)
        assert not ctx.get(rx.pending)
        await receive(ctx, rx, busy)                # no buffer left: answered BUSY
        assert ctx.get(rx.pending)
        assert ctx.get(rx.pending_status) == P.Status.BUSY.value
        assert ctx.get(rx.pending_seq) == 9
        await receive(ctx, rx, busy, error=1)       # a second one is dropped silently
        assert ctx.get(rx.pending_status) == P.Status.BUSY.value
        assert ctx.get(rx.frames) == P.RX_BUFFERS + 2 and ctx.get(rx.crc_errors) == 1
        ctx.set(rx.take, 1)
        await ctx.tick()
        ctx.set(rx.take, 0)
        assert not ctx.get(rx.pending) and ctx.get(rx.rejected) == 1

    run(bench)


def test_emit_one_byte_per_ready_cycle():
    async def bench(ctx, rx, eng):
        ctx.set(eng.header, {"status": P.Status.MORE, "seq": 0x5A, "length": 0x1F7})
        ctx.set(eng.sel, Answer.HEADER)
        ctx.set(eng.emit, 1)
        ctx.set(eng.last_index, P.HEADER_BYTES - 1)
        out = []
        stall = [0, 1, 0, 0, 1, 0]                  # source.ready low now and then
        for ready in [1 - s for s in stall]:
            ctx.set(eng.source.ready, ready)
            assert ctx.get(eng.source.valid)
            if ready:
                out.append(ctx.get(eng.source.payload.data))
            done = ctx.get(eng.done)
            await ctx.tick()
            if done:
                break
        assert bytes(out) == P.pack(P.RESPONSE_HEADER,
                                    {"status": P.Status.MORE, "seq": 0x5A, "length": 0x1F7})
        ctx.set(eng.sel, Answer.IDENTITY)
        ctx.set(eng.last_index, P.IDENTITY_BYTES - 1)
        ctx.set(eng.source.ready, 1)
        ident = []
        for _ in range(P.IDENTITY_BYTES):
            ident.append(ctx.get(eng.source.payload.data))
            await ctx.tick()
        assert ident == list(range(100, 100 + P.IDENTITY_BYTES))

    run(bench)

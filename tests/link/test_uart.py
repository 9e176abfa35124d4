"""UART PHY: loopback, baud tolerance, framing errors, breaks, glitches, overrun."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from plasticore.hdl.uart import BAUD_TOLERANCE, UARTRx, UARTTx, uart_divisor


def simulate(dut, bench, background, until_cycles=None):
    """Run ``bench`` (and ``background``) on ``dut`` with a 1 MHz clock, until ``bench``
    returns or for ``until_cycles`` cycles."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(background, background=True)
    if until_cycles is None:
        sim.run()
    else:
        sim.run_until(until_cycles * 1e-6)


async def send_bits(ctx, rx, byte, period, stop=1):
    """Drive an 8N1 frame onto ``rx`` with a bit period of ``period`` cycles (a float, so
    baud mismatches accumulate as on a real line)."""
    bits = [0] + [(byte >> k) & 1 for k in range(8)] + [stop]
    t = 0.0
    done = 0
    for b in bits:
        ctx.set(rx, b)
        t += period
        await ctx.tick().repeat(int(round(t)) - done)
        done = int(round(t))
    ctx.set(rx, 1)


def collector(rx_dut, out, errors):
    """A background testbench that takes every byte and counts the error strobes."""
    async def collect(ctx):
        ctx.set(rx_dut.source.ready, 1)
        async for _, _, valid, payload, fe, ovr in ctx.tick().sample(
                rx_dut.source.valid, rx_dut.source.payload, rx_dut.frame_error, rx_dut.overrun):
            if valid:
                out.append(payload)
            errors["frame"] += fe
            errors["overrun"] += ovr
    return collect


@pytest.mark.parametrize("divisor", [8, 13, 100])
def test_loopback_back_to_back(divisor):
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    m.submodules.rx = rx = UARTRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    rng = random.Random(divisor)
    data = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80] + [rng.randrange(256) for _ in range(20)]
    got, errors = [], {"frame": 0, "overrun": 0}

    async def bench(ctx):
        ctx.set(tx.sink.valid, 1)
        for byte in data:
            ctx.set(tx.sink.payload, byte)
            await ctx.tick().until(tx.sink.ready)
        ctx.set(tx.sink.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    simulate(m, bench, collector(rx, got, errors))
    assert got == data and errors == {"frame": 0, "overrun": 0}


def test_tx_throughput_is_ten_bit_periods_per_byte():
    divisor = 10
    dut = UARTTx(divisor)

    async def bench(ctx):
        ctx.set(dut.sink.valid, 1)
        for k in range(4):
            ctx.set(dut.sink.payload, 0x5A + k)
            await ctx.tick().until(dut.sink.ready)
        ctx.set(dut.sink.valid, 0)

    times = []

    async def watch(ctx):
        n = 0
        async for _, _, valid, ready in ctx.tick().sample(dut.sink.valid, dut.sink.ready):
            if valid and ready:
                times.append(n)
            n += 1

    simulate(dut, bench, watch, until_cycles=500)
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [10 * divisor] * 3


@pytest.mark.parametrize("skew", [-BAUD_TOLERANCE, 0.0, BAUD_TOLERANCE])
def test_receiver_tolerates_baud_mismatch(skew):
    divisor = 16
    dut = UARTRx(divisor)
    data = [0x00, 0xFF, 0x0F, 0xF0, 0x81, 0x7E, 0x33]
    got, errors = [], {"frame": 0, "overrun": 0}

    async def bench(ctx):
        await ctx.tick().repeat(5)
        for byte in data:
            await send_bits(ctx, dut.rx, byte, divisor * (1 + skew))
        await ctx.tick().repeat(3 * divisor)

    simulate(dut, bench, collector(dut, got, errors))
    assert got == data and errors == {"frame": 0, "overrun": 0}


def test_bad_stop_bit_break_and_glitch():
    divisor = 16
    dut = UARTRx(divisor)
    got, errors = [], {"frame": 0, "overrun": 0}

    async def bench(ctx):
        await ctx.tick().repeat(5)
        await send_bits(ctx, dut.rx, 0x42, divisor, stop=0)     # framing error
        await ctx.tick().repeat(2 * divisor)
        ctx.set(dut.rx, 0)                                      # break: 40 bit periods low
        await ctx.tick().repeat(40 * divisor)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        ctx.set(dut.rx, 0)                                      # a 3-cycle glitch
        await ctx.tick().repeat(3)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        await send_bits(ctx, dut.rx, 0x99, divisor)             # the link still works
        await ctx.tick().repeat(3 * divisor)

    simulate(dut, bench, collector(dut, got, errors))
    assert got == [0x99]
    assert errors == {"frame": 2, "overrun": 0}


def test_overrun_is_counted_and_newest_byte_kept():
    divisor = 8
    dut = UARTRx(divisor)
    seen = {"overrun": 0}

    async def bench(ctx):
        ctx.set(dut.source.ready, 0)
        await send_bits(ctx, dut.rx, 0x11, divisor)
        await send_bits(ctx, dut.rx, 0x22, divisor)
        await ctx.tick().repeat(2 * divisor)
        assert ctx.get(dut.source.valid) and ctx.get(dut.source.payload) == 0x22

    async def watch(ctx):
        async for _, _, ovr in ctx.tick().sample(dut.overrun):
            seen["overrun"] += ovr

    simulate(dut, bench, watch)
    assert seen["overrun"] == 1


def test_divisor_from_clock():
    assert uart_divisor(12e6, 1_000_000) == 12
    assert uart_divisor(100e6, 1_000_000) == 100
    with pytest.raises(ValueError, match="at least 8 clock cycles per bit"):
        uart_divisor(12e6, 3_000_000)
    with pytest.raises(ValueError, match="not reachable"):
        uart_divisor(12e6, 1_300_000)        # 12/9 = 1.333 Mbaud, 2.6 % off
    with pytest.raises(ValueError, match="at least 8"):
        UARTRx(4)

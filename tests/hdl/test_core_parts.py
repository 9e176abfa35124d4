"""The core's small components alone, in Amaranth's simulator, with the latency their
docstrings state; and the cycle formula built from the sequencer's latency constants."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from plasticore.core import CoreParams
from plasticore.hdl import core_sequencer as S
from plasticore.hdl.core import Core, step_cycles
from plasticore.hdl.core_access import AddressDivider
from plasticore.hdl.core_monitor import CollisionMonitor


@pytest.mark.parametrize("n", [8, 13, 100, 256])
def test_address_divider(n):
    """j, i = divmod(addr, N): at once for N = 2^k, else index_width + 1 cycles after
    request."""
    params = CoreParams(n)
    dut = AddressDivider(params)
    latency = 0 if n & (n - 1) == 0 else params.index_width + 1
    addrs = sorted({0, 1, n - 1, n, n + 1, n * n - 1, (n * n) // 3, 7 * n + 5})
    seen = []

    async def bench(ctx):
        for addr in addrs:
            ctx.set(dut.addr, addr)
            ctx.set(dut.request, 1)
            waited = 0
            while not ctx.get(dut.ok):
                await ctx.tick()
                waited += 1
                assert waited <= latency
            seen.append((addr, waited, ctx.get(dut.j), ctx.get(dut.i)))
            ctx.set(dut.taken, 1)
            ctx.set(dut.request, 0)
            await ctx.tick()
            ctx.set(dut.taken, 0)

    top = Module()                      # a clock domain also when the divider has no logic
    top.submodules.dut = dut
    tick = Signal()
    top.d.sync += tick.eq(~tick)
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(a, latency, a // n, a % n) for a in addrs]


def test_collision_monitor():
    """Sticky, one cycle after a used read meets a write at its address, or a conflict."""
    dut = CollisionMonitor({"a": 4}, conflicts=2)
    trace = []

    async def bench(ctx):
        steps = [  # (used, raddr, waddr, we, conflict)
            (1, 3, 4, 1, 0),   # different addresses
            (0, 3, 3, 1, 0),   # read data not used
            (1, 3, 3, 0, 0),   # no write
            (1, 5, 5, 1, 0),   # collision
            (0, 0, 0, 0, 0),   # stays set
        ]
        for used, raddr, waddr, we, conflict in steps:
            ctx.set(dut.a.used, used)
            ctx.set(dut.a.raddr, raddr)
            ctx.set(dut.a.waddr, waddr)
            ctx.set(dut.a.we, we)
            ctx.set(dut.conflict, conflict)
            await ctx.tick()
            trace.append(ctx.get(dut.collision))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert trace == [0, 0, 0, 1, 1]


def test_cycle_formula_is_the_constants():
    """step_cycles and Core's per-phase counts are sums of the sequencer's constants."""
    n, s = 100, 7
    pairs = 2 * ((n + 3) // 4)
    assert Core.neuron_pass_cyc(n) == n + S.NEURON_DRAIN_CYC == n + 4
    assert Core.row_pass_cyc(n, s) == S.ROW_PROLOGUE_CYC + s * pairs + S.SYNAPSE_DRAIN_CYC
    assert Core.column_pass_cyc(n, s) == S.COL_PROLOGUE_CYC + s * pairs + S.SYNAPSE_DRAIN_CYC
    assert Core.reset_cyc(n) == n + S.NEURON_DRAIN_CYC + S.FINISH_CYC == n + 5
    assert step_cycles(n, s, True) == (Core.neuron_pass_cyc(n) + Core.row_pass_cyc(n, s)
                                       + Core.column_pass_cyc(n, s) + S.FINISH_CYC)
    assert step_cycles(256, 13, True) == 3600

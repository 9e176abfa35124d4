"""Fixtures of the simulated-board tests: the echo board and a board that works while its
UART lines are idle, each built once per session (and cached across sessions)."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore.hdl.echo import EchoTop
from plasticore.hdl.uart import UARTRx, UARTTx, uart_divisor
from plasticore.sim import board


def pytest_collection_modifyitems(config, items):
    reason = board.have_verilator()
    if reason:
        skip = pytest.mark.skip(reason=f"simulated board: {reason}")
        for item in items:
            if "needs_board" in item.fixturenames:
                item.add_marker(skip)


class DelayedEchoTop(wiring.Component):
    """Sends each received byte back ``delay_cyc`` cycles after receiving it, with ``busy``
    high meanwhile: a design that works while both UART lines are idle.  Takes one byte at a
    time (bytes arriving during the delay are lost)."""

    def __init__(self, divisor, delay_cyc):
        self.divisor, self.delay_cyc = divisor, delay_cyc
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(self.divisor)
        m.submodules.tx = tx = UARTTx(self.divisor)
        byte = Signal(8)
        count = Signal(range(self.delay_cyc + 1))
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx),
                     tx.sink.payload.eq(byte)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [rx.source.ready.eq(1), self.busy.eq(~tx.sink.ready)]
                with m.If(rx.source.valid):
                    m.d.sync += [byte.eq(rx.source.payload), count.eq(self.delay_cyc)]
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += count.eq(count - 1)
                with m.If(count == 1):
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.busy.eq(1), tx.sink.valid.eq(1)]
                with m.If(tx.sink.ready):
                    m.next = "IDLE"
        return m


#: Cycles the delayed echo works with idle lines: ~0.5 s of simulation, but 100x the
#: harness's idle guard, so a harness that slept through it would take minutes.
DELAY_CYC = 4_000_000


@pytest.fixture(scope="session")
def needs_board():
    """Marks a test as needing Verilator (skipped with the reason otherwise)."""


def echo_top():
    """The echo top at the simulated board's default clock and baud rate: ``(top, divisor)``.
    (Today this is also what ``board_top`` returns, so ``plasticore sim`` shares the build.)"""
    divisor = uart_divisor(board.DEFAULT_CLOCK_HZ, board.DEFAULT_BAUD)
    return EchoTop(divisor), divisor


@pytest.fixture(scope="session")
def echo_build(needs_board):
    top, divisor = echo_top()
    return board.build(top, divisor=divisor, name="echo")


@pytest.fixture(scope="session")
def delayed_build(needs_board):
    """``(build, delay_cyc)`` of a :class:`DelayedEchoTop`."""
    divisor = 12
    return board.build(DelayedEchoTop(divisor, DELAY_CYC), divisor=divisor,
                       name="delayed-echo"), DELAY_CYC

"""A UART echo board top: the stand-in design of the simulated board.

:class:`EchoTop` has the board-level interface that :mod:`plasticore.sim.board` serves (the
serial pins ``uart_rx``/``uart_tx`` and an optional ``busy`` flag, one ``sync`` clock domain)
and sends back every byte it receives.  It exercises the whole simulated-board path (bit-level
UART in both directions, the host link, the cycle loop) without the core.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .uart import UARTRx, UARTTx

__all__ = ["EchoTop"]


class EchoTop(wiring.Component):
    """Receives 8N1 bytes on ``uart_rx`` and sends each one back on ``uart_tx``.

    Path: :class:`~plasticore.hdl.uart.UARTRx` -> a ``depth``-entry FIFO ->
    :class:`~plasticore.hdl.uart.UARTTx`.  Both ends run at the same bit period, so a sender
    that never pauses keeps the FIFO at one or two entries; the FIFO only absorbs the phase
    difference between the incoming and outgoing byte streams.

    Latency: the start bit of the echo begins about 9.5 bit periods + 5 cycles after the
    start bit of the received byte (the receiver's mid-stop-bit sample, its synchroniser, the
    FIFO and the transmitter's one-cycle start).  Throughput: one byte per 10 bit periods.

    Members
    -------
    uart_rx : In(1)
        Serial line from the host (idle high).
    uart_tx : Out(1)
        Serial line to the host (idle high).
    busy : Out(1)
        High while a received byte waits in the FIFO or the transmitter is sending: work
        that will change ``uart_tx`` without further input.
    frame_error : Out(1)
        One-cycle strobe per received byte dropped for a bad stop bit.
    overrun : Out(1)
        One-cycle strobe per received byte lost because the FIFO was full.
    """

    def __init__(self, divisor: int, *, depth: int = 16):
        if not isinstance(depth, int) or depth < 2:
            self._MustUse__silence = True     # never elaborated: no "unused" warning
            raise ValueError(f"Echo FIFO depth must be an integer of at least 2, not {depth!r}")
        self.divisor = divisor
        self.depth = depth
        # Validate the divisor now (UARTRx raises a full-sentence ValueError), not at
        # elaboration time.
        self._rx = UARTRx(divisor)
        self._tx = UARTTx(divisor)
        super().__init__({
            "uart_rx": In(1, init=1),
            "uart_tx": Out(1, init=1),
            "busy": Out(1),
            "frame_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = self._rx
        m.submodules.tx = tx = self._tx
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self.depth)
        m.d.comb += [
            rx.rx.eq(self.uart_rx),
            self.uart_tx.eq(tx.tx),
            fifo.w_data.eq(rx.source.payload),
            fifo.w_en.eq(rx.source.valid),
            rx.source.ready.eq(fifo.w_rdy),
            tx.sink.payload.eq(fifo.r_data),
            tx.sink.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(tx.sink.ready),
            self.busy.eq(fifo.r_rdy | ~tx.sink.ready),
            self.frame_error.eq(rx.frame_error),
            self.overrun.eq(rx.overrun),
        ]
        return m

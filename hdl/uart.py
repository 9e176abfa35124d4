"""UART byte PHY: 8N1 receiver and transmitter.

The PHY knows the bit period (``divisor`` clock cycles per bit) and nothing of frames or
opcodes.  Boards compute the divisor from their clock with :func:`uart_divisor`; the
components never see a board.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "uart_divisor", "MIN_DIVISOR", "BAUD_TOLERANCE"]

#: The receiver takes three samples around the middle of each bit, one cycle apart, and a
#: 2-flip-flop synchroniser delays the line by 2 cycles; 8 cycles per bit keep all of that
#: inside the bit with margin.
MIN_DIVISOR = 8
#: Largest accepted relative error between the requested and the realised baud rate.  8N1
#: resynchronises on every start bit, so the error accumulates over 9.5 bit periods until
#: the stop bit is sampled; 2 % (0.19 bit) leaves room for the other end's error too.
BAUD_TOLERANCE = 0.02


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` on a ``clk_hz`` clock.

    Raises :class:`ValueError` if the divisor would be below :data:`MIN_DIVISOR` or the
    realised rate ``clk_hz / divisor`` differs from ``baud`` by more than 2 %.
    """
    if baud <= 0 or clk_hz <= 0:
        raise ValueError(f"Baud rate and clock frequency must be positive, not {baud} and "
                         f"{clk_hz}")
    divisor = round(clk_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{baud} baud needs at least {MIN_DIVISOR} clock cycles per bit, but "
                         f"a {clk_hz / 1e6:g} MHz clock gives {clk_hz / baud:.2f}")
    error = abs(clk_hz / divisor - baud) / baud
    if error > BAUD_TOLERANCE:
        raise ValueError(f"{baud} baud is not reachable from a {clk_hz / 1e6:g} MHz clock: "
                         f"the nearest rate is {clk_hz / divisor:.0f} baud "
                         f"({error:.1%} off, more than {BAUD_TOLERANCE:.0%})")
    return divisor


def _check_divisor(component, divisor):
    if not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        component._MustUse__silence = True     # never elaborated: no "unused" warning
        raise ValueError(f"UART divisor must be an integer of at least {MIN_DIVISOR}, "
                         f"not {divisor!r}")


class UARTRx(wiring.Component):
    """8N1 receiver with majority-vote sampling and stop-bit check.

    The line passes a 2-flip-flop synchroniser.  A falling edge starts a byte; the start bit
    must still read low at its middle (otherwise it was a glitch and the receiver re-arms).
    Each bit is the majority of three samples taken at the middle of the bit period, one
    cycle apart.  A byte whose stop bit reads low is dropped and counted as a framing error;
    the receiver then waits for the line to return high, so a break (line held low) gives
    exactly one framing error however long it lasts.

    Latency: a byte appears on ``source`` 2 + 9.5 x ``divisor`` (+1) cycles after the falling
    edge of its start bit.  Throughput: one byte per 10 bit periods, back to back.

    Members
    -------
    rx : In(1)
        The serial line (idle high).
    source : Out(stream.Signature(8))
        Received bytes.  The byte waits for ``ready`` until the next byte is complete; a byte
        not taken by then is lost and counted in ``overrun``.
    frame_error : Out(1)
        One-cycle strobe per byte dropped for a bad stop bit (or a break).
    overrun : Out(1)
        One-cycle strobe per byte lost because ``source`` was not read in time.
    """

    def __init__(self, divisor: int):
        _check_divisor(self, divisor)
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "source": Out(stream.Signature(8)),
            "frame_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(d + d // 2 + 1))
        votes = Signal(2)                 # samples taken at mid-bit - 1 and mid-bit
        bit = Signal()
        shift = Signal(8)
        count = Signal(range(9))

        # A majority of the two earlier samples and the current one.
        m.d.comb += bit.eq((votes[0] & votes[1]) | (votes[0] & line) | (votes[1] & line))

        with m.If(self.source.ready):
            m.d.sync += self.source.valid.eq(0)
        m.d.sync += [self.frame_error.eq(0), self.overrun.eq(0)]

        mid = d // 2                      # cycles from a bit's start to its middle sample
        # In START and DATA the timer counts down to the middle of the bit, taking the first
        # two votes on the way; the states below act at timer == 0 (and reload the timer).
        sampling = Signal()
        with m.If(sampling):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 2):
                m.d.sync += votes[0].eq(line)
            with m.If(timer == 1):
                m.d.sync += votes[1].eq(line)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(mid - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += sampling.eq(1)
                with m.If(timer == 0):
                    with m.If(bit):       # high at mid-start: a glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), count.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += sampling.eq(1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(d - 1), count.eq(count + 1),
                                 shift.eq(Mux(count == 8, shift, (shift >> 1) | (bit << 7)))]
                    with m.If(count == 8):            # this was the stop bit
                        with m.If(bit):
                            with m.If(self.source.valid & ~self.source.ready):
                                m.d.sync += self.overrun.eq(1)
                            m.d.sync += [self.source.payload.eq(shift),
                                         self.source.valid.eq(1)]
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += self.frame_error.eq(1)
                            m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter.

    Takes a byte from ``sink`` whenever idle and shifts out start bit, 8 data bits (LSB
    first) and one stop bit, each ``divisor`` cycles long.

    Latency: the start bit begins 1 cycle after the byte is accepted.  Throughput: one byte
    per 10 x ``divisor`` cycles; ``sink.ready`` rises in the cycle the stop bit ends, so
    bytes go out back to back with no idle bit between them.

    Members
    -------
    sink : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial line (idle high).
    """

    def __init__(self, divisor: int):
        _check_divisor(self, divisor)
        self.divisor = divisor
        super().__init__({
            "sink": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        shift = Signal(10, init=0x3FF)     # stop bit, 8 data bits, start bit (LSB first)
        count = Signal(range(11))          # bits still to send

        m.d.comb += [self.tx.eq(shift[0]),
                     self.sink.ready.eq((count == 0) | ((count == 1) & (timer == 0)))]
        with m.If(self.sink.valid & self.sink.ready):
            m.d.sync += [shift.eq((1 << 9) | (self.sink.payload << 1)),
                         count.eq(10), timer.eq(d - 1)]
        with m.Elif(count != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [shift.eq((shift >> 1) | (1 << 9)), count.eq(count - 1),
                             timer.eq(d - 1)]
        return m

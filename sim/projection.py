"""What a board would take for the traffic of a session: the projected figure beside the
simulated board's measured one.

A :class:`~plasticore.driver.chip.Chip` with ``traffic = []`` records every request as an
:class:`~plasticore.driver.chip.Exchange` (wire bytes each way, the spikes of each RUN step,
whether it was pipelined).  :func:`board_seconds` replays that log on a model of a board
with clock ``clock_hz`` and a UART of ``baud`` (8N1: 10 bit times per byte):

* the request's frame arrives at the line rate: ``rx = 10 * request_bytes / baud``; the host
  sends it when the previous answer has ended, or, if it was pipelined, as soon as the line
  is free and one of the ``rx_buffers`` receive buffers is (answered);
* the device executes requests one at a time, in order, once the whole frame is in (the CRC
  is checked first): a RUN takes :func:`plasticore.hdl.core.step_cycles` per step (``S`` =
  the neurons that fired, learning as last set), plus, if it streams state fields,
  :func:`plasticore.hdl.dispatch.stream_cycles` per step (the state words read and their
  bytes handed on; the bytes themselves are in ``answer_bytes``), a RESET
  ``Core.reset_cyc(n)``, anything else no core cycles (the dispatcher's other cycles are
  left out);
* the answer streams while the request executes (the encoder's ring), so it ends at
  ``max(end of execution, start + 10 * answer_bytes / baud)``, and never before the previous
  answer has left the line.

The host's own time and the USB latency of a real board (an FTDI bridge adds 1-16 ms per
round trip) are left out, so the figure is an upper bound of what the board can do: a
simulated board that beats it beats the board.
"""

from __future__ import annotations

from collections.abc import Sequence

from plasticore import protocol as P
from plasticore.driver.chip import Exchange

__all__ = ["BITS_PER_BYTE", "PROJECTED_BOARD", "projected_clock_hz", "projected_label",
           "exchange_cycles", "board_seconds", "board_steps_per_s"]

#: 8N1: a start bit, 8 data bits and a stop bit per byte.
BITS_PER_BYTE = 10
#: The board whose figure is projected beside the simulated board's: the iCEBreaker, at its
#: default clock (:data:`plasticore.boards.top.BOARDS`: 18 MHz, the PLL's from its 12 MHz
#: crystal) and :data:`~plasticore.protocol.DEFAULT_BAUD`.  The simulated board runs its
#: design at 12 MHz unless told otherwise; only line time in cycles depends on that.
PROJECTED_BOARD = "icebreaker"


def projected_clock_hz(board: str = PROJECTED_BOARD) -> float:
    """The default core clock of ``board`` (a name of :data:`plasticore.boards.top.BOARDS`)."""
    from plasticore.boards.top import get_board
    return float(get_board(board).clock_hz)


def projected_label(board: str = PROJECTED_BOARD, baud: int = P.DEFAULT_BAUD) -> str:
    """``"iCEBreaker (18 MHz, 1,000,000 baud)"``: what a projected figure stands for."""
    from plasticore.boards.top import get_board
    name = get_board(board).title.split(" (")[0]
    return f"{name} ({projected_clock_hz(board) / 1e6:g} MHz, {baud:,} baud)"


def exchange_cycles(ex: Exchange, n: int) -> int:
    """Core clock cycles that ``ex`` keeps a core of ``n`` neurons busy (see the module)."""
    from plasticore.hdl.core import Core, step_cycles
    from plasticore.hdl.dispatch import stream_cycles

    if ex.opcode == P.Opcode.RUN:
        learning = bool(ex.learning)
        return sum(step_cycles(n, s, learning) + stream_cycles(n, ex.record) for s in ex.spikes)
    if ex.opcode == P.Opcode.RESET:
        return Core.reset_cyc(n)
    return 0


def board_seconds(traffic: Sequence[Exchange], n: int, *, clock_hz: float, baud: float,
                  rx_buffers: int = P.RX_BUFFERS) -> float:
    """Seconds a board (``n`` neurons, ``clock_hz``, ``baud``) takes for ``traffic``, from the
    first request byte to the last answer byte (the model of the module docstring)."""
    byte_s = BITS_PER_BYTE / baud
    rx_end = ex_end = ans_end = 0.0
    answers: list[float] = []           # end of each answer, in order
    for k, ex in enumerate(traffic):
        if ex.pipelined and k >= rx_buffers:
            send = answers[k - rx_buffers]     # a receive buffer frees when it is answered
        elif ex.pipelined:
            send = 0.0
        else:
            send = ans_end
        rx_end = max(send, rx_end) + ex.request_bytes * byte_s
        start = max(rx_end, ex_end)
        ex_end = start + exchange_cycles(ex, n) / clock_hz
        ans_end = max(ex_end, max(start, ans_end) + ex.answer_bytes * byte_s)
        answers.append(ans_end)
    return ans_end


def board_steps_per_s(traffic: Sequence[Exchange], n: int, *, clock_hz: float,
                      baud: float) -> float:
    """Timesteps per second of the RUNs in ``traffic`` on the board (:func:`board_seconds`
    over the whole log, set-up requests included)."""
    steps = sum(len(ex.spikes) for ex in traffic if ex.opcode == P.Opcode.RUN)
    seconds = board_seconds(traffic, n, clock_hz=clock_hz, baud=baud)
    return steps / seconds if seconds > 0 else float("inf")

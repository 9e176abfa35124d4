"""The simulated board's two transports answer alike: the byte-level link (target
``sim-bytes``) and the bit-level UART (``sim``, the default) give the same answer frames, byte
for byte,
to the same session, and both equal the reference.  (The driver suite also runs unchanged on
both: tests/conftest.py's ``--target``.)"""

import time

import numpy as np
import pytest
from support.stimulus import random_config, random_forced

from plasticore import protocol as P
from plasticore.driver import Chip
from plasticore.sim import Reference
from plasticore.sim.board import SimulatedBoard
from plasticore.sim.projection import board_seconds, exchange_cycles

N = 16


def _session(chip, cfg, forced):
    """A session that touches every request kind; returns what it read back."""
    chip.clear()
    chip.load(cfg)
    chip.learning = True
    out = {"spikes": [chip.run(len(forced), forced).spikes]}
    chip.learning = False
    out["spikes"].append(chip.run(5, np.ones((5, chip.n), bool)).spikes)   # every neuron
    out["spikes"].append(chip.run(3).spikes)                                 # none forced
    out["state"] = {name: np.asarray(chip.read_state()[name]) for name in ("v", "i", "x")}
    out["weights"] = chip.read_weights()
    out["spikes_region"] = chip.read_spikes()
    # (no STATUS: its frame counters hold the board's history, which other tests share)
    chip.reset()
    out["spikes"].append(chip.run(4, forced[:4]).spikes)
    with pytest.raises(Exception, match="BAD_ADDRESS"):
        chip.request(P.Opcode.READ, b"\x09" + bytes(6))
    out["identity"] = chip.identify()
    return out


def _recorded(url, build, cfg, forced):
    """Run the session on ``url``; also return every answer frame as decoded, in order."""
    frames = []
    with Chip(url, neurons=N, build=build, timeout=30) as chip:
        feed = chip._decoder.feed

        def keep(data):
            got = feed(data)
            frames.extend(got)
            return got

        chip._decoder.feed = keep
        chip.traffic = []
        out = _session(chip, cfg, forced)
        out["traffic"] = chip.traffic
        out["stats"] = dict(chip.stats)
    return out, frames


@pytest.mark.parametrize("seed", [0, 1])
def test_byte_transport_answers_as_the_uart(boards, seed):
    rng = np.random.default_rng(seed)
    cfg = random_config(N, rng)
    forced = random_forced(40, N, 0.2, rng)
    forced[7] = True                     # a step with every neuron forced
    forced[8] = False                    # and one with none
    results = {}
    for transport in ("bytes", "uart"):
        # A fresh board of the shared build: a STATUS (the driver reads one in a session)
        # answers the board's frame and step counters, which hold the history of the tests
        # that used the shared board before (with --target sim-bytes, the whole driver suite).
        shared, build = boards(N, transport)
        with SimulatedBoard(build_result=shared.build_result, progress=False) as board:
            results[transport] = _recorded(board.url, build, cfg, forced)
    (a, frames_a), (b, frames_b) = results["bytes"], results["uart"]
    # (a retry after a timeout on a loaded machine would add frames: say so if it happened)
    stats = f"driver statistics: bytes {a['stats']}, uart {b['stats']}"
    assert len(frames_a) == len(frames_b) > 20, stats
    for k, (fa, fb) in enumerate(zip(frames_a, frames_b, strict=True)):
        assert fa == fb, f"answer frame {k} differs between the transports; {stats}"
    ref = Reference(cfg, learning=True)
    expect = [ref.run(len(forced), forced=forced).spikes]
    ref.learning = False
    expect.append(ref.run(5, forced=np.ones((5, N), bool)).spikes)
    expect.append(ref.run(3).spikes)
    state = {name: np.asarray(ref.state[name]) for name in ("v", "i", "x")}
    weights = ref.weights.copy()
    ref.reset()
    expect.append(ref.run(4, forced=forced[:4]).spikes)
    for got in (a, b):
        for s, e in zip(got["spikes"], expect, strict=True):
            assert np.array_equal(s, e)
        for name, value in state.items():
            assert np.array_equal(got["state"][name], value)
        assert np.array_equal(got["weights"], weights)
    assert a["identity"] == b["identity"]
    assert [(e.opcode, e.request_bytes, e.answer_bytes, e.spikes) for e in a["traffic"]] == \
        [(e.opcode, e.request_bytes, e.answer_bytes, e.spikes) for e in b["traffic"]]


def _burst(url, build, frames):
    """Write ``frames`` (encoded requests) in one piece; the statuses of their answers."""
    with Chip(url, neurons=N, build=build, timeout=30) as chip:
        chip._write(b"".join(frames))
        deadline = time.monotonic() + chip.timeout
        answers = []
        while len(answers) < len(frames):
            answer = chip._next_response(deadline)
            assert answer is not None, f"the burst was answered only by {answers}"
            if answer[0] != P.Status.MORE:            # a RUN's partial answers
                answers.append(answer[:2])
    return answers


def _frame(opcode, seq, payload=b""):
    head = P.pack(P.REQUEST_HEADER, {"opcode": opcode, "seq": seq, "length": len(payload)})
    return P.encode_frame(head + payload)


def test_byte_transport_paces_an_overrun_as_the_uart(boards):
    """More frames at once than the receive buffers hold (``rx_buffers`` = 2): the byte link
    delivers the host's bytes at the UART's line rate, so the first request is answered
    before the third frame is in, as on the UART: both answer OK to all three (unpaced, the
    byte link answered the third BUSY).  A RESET and a long RUN in front keep the buffers
    full on both: then both answer the last STATUS BUSY (first, as it is refused at once)."""
    status = [_frame(P.Opcode.STATUS, k) for k in (1, 2, 3)]
    run = P.pack(P.RUN_HEADER, {"first_step": 0, "steps": 60}) + P.encode_record([], N) * 60
    long = [_frame(P.Opcode.RESET, 4), _frame(P.Opcode.RUN, 5, run),
            _frame(P.Opcode.STATUS, 6), _frame(P.Opcode.STATUS, 7)]
    got = {}
    for transport in ("bytes", "uart"):
        board, build = boards(N, transport)
        got[transport] = (_burst(board.url, build, status), _burst(board.url, build, long))
    assert got["bytes"] == got["uart"]
    assert got["uart"][0] == [(P.Status.OK, k) for k in (1, 2, 3)]
    assert (P.Status.BUSY, 7) in got["uart"][1]


def test_projection_of_a_known_traffic():
    """The board model of plasticore.sim.projection on hand-computed cases."""
    from plasticore.driver.chip import Exchange
    from plasticore.hdl.core import Core, step_cycles

    clock, baud = 12e6, 1e6
    run = Exchange(P.Opcode.RUN, request_bytes=100, answer_bytes=50, learning=True,
                   spikes=[0, 3, 80])
    cycles = step_cycles(80, 0, True) + step_cycles(80, 3, True) + step_cycles(80, 80, True)
    assert exchange_cycles(run, 80) == cycles
    assert exchange_cycles(Exchange(P.Opcode.RESET), 80) == Core.reset_cyc(80)
    assert exchange_cycles(Exchange(P.Opcode.STATUS), 80) == 0
    # one request: in, then the longer of execution and answer
    t = board_seconds([run], 80, clock_hz=clock, baud=baud)
    assert t == pytest.approx(1e-5 * 100 + max(cycles / clock, 1e-5 * 50))
    # synchronous requests add up; a pipelined one is received while the first executes
    status = Exchange(P.Opcode.STATUS, request_bytes=10, answer_bytes=20)
    sync = board_seconds([run, status], 80, clock_hz=clock, baud=baud)
    assert sync == pytest.approx(t + 1e-5 * 30)
    piped = Exchange(P.Opcode.STATUS, request_bytes=10, answer_bytes=20, pipelined=True)
    assert board_seconds([run, piped], 80, clock_hz=clock, baud=baud) == pytest.approx(
        t + 1e-5 * 20)
    assert board_seconds([], 80, clock_hz=clock, baud=baud) == 0


def test_the_projected_board_is_the_icebreaker_at_its_default_clock():
    """Projected figures stand for the iCEBreaker as built (its PLL's 18 MHz), not for the
    simulated board's 12 MHz design clock."""
    from plasticore.boards.top import BOARDS
    from plasticore.sim.board import DEFAULT_CLOCK_HZ
    from plasticore.sim.projection import projected_clock_hz, projected_label

    assert projected_clock_hz() == BOARDS["icebreaker"].clock_hz == 18e6 != DEFAULT_CLOCK_HZ
    assert projected_label() == "iCEBreaker (18 MHz, 1,000,000 baud)"
    assert projected_clock_hz("ulx3s") == 40e6

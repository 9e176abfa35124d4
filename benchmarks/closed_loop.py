#!/usr/bin/env python
"""Speed of the closed loop (:mod:`plasticore.driver.loop`) on each target.

A benchmark script, not a test: it prints steps/s.  The network is
:func:`plasticore.sim.workload.activity_config` (N neurons, all-to-all, pair STDP on, about
5 % of the neurons spiking per step); the "environment" is a small host computation that
reads every spike the core answers and forces, in each step of the next exchange, the
neurons of a random set chosen from a generator seeded by the spikes it saw, so that the
inputs really depend on the outputs.

For each target and each (chunk, lag) the loop runs ``--exchanges`` exchanges; the spikes of
every target are checked equal to the reference's before the speed is printed (a speed of a
wrong answer means nothing).  ``lag = 1`` is the synchronous loop (one round trip per
exchange), ``lag = 2`` keeps a second exchange in flight (``plasticore.protocol.RX_BUFFERS``
= 2 receive buffers).

Run::

    python benchmarks/closed_loop.py                        # ref and virtual, N=64
    python benchmarks/closed_loop.py --targets ref,virtual,sim --exchanges 300
    python benchmarks/closed_loop.py --targets socket://127.0.0.1:PORT    # a served board

On a board the figure is bounded by the line: at 1 Mbaud a one-step exchange of a 64-neuron
core is a RUN of ~16 bytes out and a dense record of ~16 bytes back (~0.16 ms each way).
``--line`` measures that on the simulated board in *design time*: the board harness stops
simulated time while nothing can happen, so the cycles from the first start bit to the last
stop bit are what a board at the same clock and baud rate spends with an infinitely fast
host.  It prints the steps per second of design time and the share of the line's capacity
used in each direction.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from plasticore.driver.loop import ClosedLoop, Inputs
from plasticore.driver.runtime import open_session
from plasticore.sim.workload import activity_config


class Environment:
    """Forces ``k`` random neurons per step; the generator is reseeded by the spikes seen."""

    def __init__(self, n, chunk, per_step=3):
        self.n, self.chunk, self.per_step = n, chunk, per_step
        self.rng = np.random.default_rng(0)

    def __call__(self, k, spikes):
        if spikes is not None:           # the next inputs depend on what the core answered
            self.rng = np.random.default_rng([k, int(np.flatnonzero(spikes).sum())])
        forced = np.zeros((self.chunk, self.n), bool)
        for s in range(self.chunk):
            forced[s, self.rng.choice(self.n, self.per_step, replace=False)] = True
        return Inputs(forced)


def measure(target, cfg, chunk, lag, exchanges):
    with open_session(target, cfg, learning=True) as session:
        loop = ClosedLoop(session, chunk=chunk, lag=lag)
        rec = loop.run(Environment(cfg.n, chunk), max_exchanges=exchanges)
    return rec


def measure_line(cfg, chunk, lag, exchanges):
    """The loop on a simulated board, timed in design cycles: (steps per design second,
    line use host -> core, line use core -> host)."""
    from plasticore.driver import Chip
    from plasticore.driver.runtime import ChipSession
    from plasticore.sim.board import DEFAULT_CLOCK_HZ, SimulatedBoard, board_top

    top, divisor = board_top(cfg.n)
    with SimulatedBoard(top, divisor=divisor, name=f"link-n{cfg.n}") as board, \
            Chip(board.url, neurons=cfg.n, timeout=60) as chip:
        chip.load(cfg)
        chip.learning = True
        session = ChipSession(chip, "sim")
        board.line_window()
        rec = ClosedLoop(session, chunk=chunk, lag=lag).run(Environment(cfg.n, chunk),
                                                            max_exchanges=exchanges)
        w = board.line_window()
    cycles = max(w["in_last"], w["out_last"]) - w["in_first"]
    capacity = cycles / (10 * divisor)                  # bytes the line could carry
    return (rec.steps / (cycles / DEFAULT_CLOCK_HZ), w["in_bytes"] / capacity,
            w["out_bytes"] / capacity)


def line_table(cfg, chunks, lags, exchanges):
    print(f"\nsimulated board, design time (12 MHz, 1 Mbaud; a board with an infinitely fast "
          f"host), N={cfg.n}, {exchanges} exchanges:")
    print(f"{'chunk':>6}{'lag':>5}{'steps/s':>11}{'line in':>9}{'line out':>10}")
    for chunk in chunks:
        for lag in lags:
            rate, use_in, use_out = measure_line(cfg, chunk, lag, exchanges)
            print(f"{chunk:>6}{lag:>5}{rate:>11,.0f}{use_in:>9.1%}{use_out:>10.1%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="ref,virtual")
    ap.add_argument("--neurons", type=int, default=64)
    ap.add_argument("--exchanges", type=int, default=2000)
    ap.add_argument("--chunks", default="1,10", help="steps per exchange, comma-separated")
    ap.add_argument("--lags", default="1,2", help="exchanges of delay, comma-separated")
    ap.add_argument("--line", action="store_true",
                    help="also time the loop on the simulated board in design cycles")
    ap.add_argument("--line-exchanges", type=int, default=300)
    args = ap.parse_args(argv)
    cfg = activity_config(args.neurons, seed=0)
    targets = [t for t in args.targets.split(",") if t]
    chunks = [int(c) for c in args.chunks.split(",")]
    lags = [int(g) for g in args.lags.split(",")]
    print(f"closed loop: N={args.neurons}, {args.exchanges} exchanges per run, pair STDP on, "
          f"activity_config(seed=0)")
    print(f"{'target':<12}{'chunk':>6}{'lag':>5}{'steps':>8}{'spikes':>8}{'steps/s':>11}"
          f"{'exchanges/s':>13}   equal to ref")
    for chunk in chunks:
        for lag in lags:
            base = None
            for target in ["ref", *[t for t in targets if t != "ref"]]:
                exchanges = args.exchanges
                rec = measure(target, cfg, chunk, lag, exchanges)
                if base is None:
                    base = rec.spikes
                same = np.array_equal(rec.spikes, base)
                if not same:
                    sys.exit(f"{target}: spikes differ from the reference (chunk {chunk}, "
                             f"lag {lag})")
                if target not in targets:
                    continue
                print(f"{target:<12}{chunk:>6}{lag:>5}{rec.steps:>8}{int(rec.spikes.sum()):>8}"
                      f"{rec.steps_per_s:>11,.0f}{rec.exchanges / rec.wall_s:>13,.0f}   "
                      f"{'yes' if same else 'NO'}")
    if args.line:
        line_table(cfg, chunks, lags, args.line_exchanges)


if __name__ == "__main__":
    main()

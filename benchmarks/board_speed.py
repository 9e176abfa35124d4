#!/usr/bin/env python
"""Speed of the simulated board: design clock cycles simulated per second.

A benchmark script, not a test: it prints figures.  It builds (or takes from the cache) the
top that ``plasticore sim`` serves (:func:`plasticore.sim.board.board_top`, today the echo
stand-in) and measures the harness in two situations:

* ``link``: serving the link.  A pyserial client on ``socket://`` streams ``--bytes`` random
  bytes back to back at the line rate from one thread and reads the answer in another; the
  figure is the harness's own count of cycles divided by the time it was not asleep (its
  ``running_cycles_per_s``).  With the echo top this also checks that every byte came back.
* ``free``: no client, ``--no-sleep``, ``--max-cycles``: the cycle loop alone (the model's
  ``eval()`` twice per cycle, the bit-level UART, a service call every K cycles).

With ``--top link`` it builds :class:`plasticore.hdl.link.LinkTop` (the core behind its
command dispatcher and UART) instead, and measures it serving the driver: a
:class:`plasticore.driver.chip.Chip` loads :func:`plasticore.sim.workload.activity_config`
(~5 % of the neurons spiking per step, STDP on) and runs ``--steps`` timesteps; the figure
is the harness's cycles per second over the whole session (loading and running).

The target of the project is >= 1 M cycles/s at N=256 while serving the link.  The echo top's
model is tiny, so its figures bound the harness's own overhead.

Run::

    python benchmarks/board_speed.py                  # 200,000 bytes, 50 M free cycles
    python benchmarks/board_speed.py --bytes 50000 --free-cycles 10000000 --json
    python benchmarks/board_speed.py --top link --neurons 256 --steps 2000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time

import serial

from plasticore.protocol import DEFAULT_BAUD
from plasticore.sim.board import DEFAULT_CLOCK_HZ, SimulatedBoard, board_top, build


def measure_link(build_result, n_bytes: int, seed: int) -> dict:
    """Stream ``n_bytes`` through the board and back; return the harness's statistics plus
    ``wall_s`` (first byte written to last byte read) and ``echo_ok``."""
    data = random.Random(seed).randbytes(n_bytes)
    with SimulatedBoard(build_result=build_result, progress=False) as board:
        port = serial.serial_for_url(board.url, timeout=30)
        t0 = time.perf_counter()
        writer = threading.Thread(target=port.write, args=(data,))
        writer.start()
        got = bytearray()
        while len(got) < n_bytes:
            chunk = port.read(min(65536, n_bytes - len(got)))
            if not chunk:
                break
            got += chunk
        wall = time.perf_counter() - t0
        writer.join()
        port.close()
    return {**board.stats, "wall_s": wall, "echo_ok": bytes(got) == data}


def measure_free(build_result, cycles: int) -> dict:
    """Run ``cycles`` cycles with no client and no sleeping; return the statistics."""
    board = SimulatedBoard(build_result=build_result, sleep=False, max_cycles=cycles,
                           progress=False).start()
    board.wait()
    return board.stats


def measure_core(neurons: int, clock_hz: float, baud: int, steps: int) -> dict:
    """Load and run the N-neuron core through the driver on the simulated board."""
    from plasticore.driver.chip import Chip
    from plasticore.hdl.link import LinkTop
    from plasticore.hdl.uart import uart_divisor
    from plasticore.sim.workload import activity_config

    divisor = uart_divisor(clock_hz, baud)
    top = LinkTop(neurons, divisor=divisor, clock_hz=int(clock_hz))
    b = build(top, divisor=divisor, name=f"link-n{neurons}")
    cfg = activity_config(neurons, seed=0)
    with SimulatedBoard(build_result=b, progress=False) as board:
        with Chip(board.url, baud=baud, neurons=neurons, build=top.build, timeout=60) as chip:
            t0 = time.perf_counter()
            chip.load(cfg)
            t1 = time.perf_counter()
            rec = chip.run(steps)
            t2 = time.perf_counter()
    return {**board.stats, "divisor": divisor, "load_s": t1 - t0, "run_s": t2 - t1,
            "spike_fraction": float(rec.spikes.mean())}


def main_core(args):
    st = measure_core(args.neurons, args.clock_hz, args.baud, args.steps)
    print(f"board: LinkTop, N={args.neurons}, {args.clock_hz / 1e6:g} MHz, {args.baud} baud = "
          f"{st['divisor']} cycles per bit")
    print(f"load {st['load_s']:.2f} s, {args.steps} steps in {st['run_s']:.2f} s "
          f"({args.steps / st['run_s']:,.0f} steps/s, {st['spike_fraction']:.1%} spiking); "
          f"{st['cycles']:,} cycles, {st['running_cycles_per_s'] / 1e6:.2f} M cycles/s while "
          f"running ({st['sleep_seconds']:.2f} s asleep), {st['bytes_in']:,} bytes in, "
          f"{st['bytes_out']:,} out")
    if args.json:
        print(json.dumps({"top": "link", "neurons": args.neurons,
                          "cycles_per_s": st["running_cycles_per_s"],
                          "steps_per_s": round(args.steps / st["run_s"], 1)}))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", choices=("echo", "link"), default="echo",
                        help="the design: board_top() (echo) or the core's LinkTop")
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2000, help="timesteps run (link)")
    parser.add_argument("--clock-hz", type=float, default=DEFAULT_CLOCK_HZ)
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    parser.add_argument("--bytes", type=int, default=200_000, help="bytes streamed (link)")
    parser.add_argument("--free-cycles", type=int, default=50_000_000,
                        help="cycles of the free-running measurement")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args(argv)
    if args.top == "link":
        return main_core(args)

    top, divisor = board_top(args.neurons, clock_hz=args.clock_hz, baud=args.baud)
    b = build(top, divisor=divisor, name=f"board-n{args.neurons}")
    print(f"board: {type(top).__name__} (neurons={args.neurons}), {args.clock_hz / 1e6:g} MHz, "
          f"{args.baud} baud = {divisor} cycles per bit; build {'cached' if b.cached else 'new'}"
          f" ({b.directory})")

    link = max((measure_link(b, args.bytes, seed=k) for k in range(args.repeat)),
               key=lambda s: s["running_cycles_per_s"])
    free = max((measure_free(b, args.free_cycles) for _ in range(args.repeat)),
               key=lambda s: s["running_cycles_per_s"])
    byte_rate = args.bytes / link["wall_s"]
    print(f"link: {args.bytes:,} bytes echoed ({'all correct' if link['echo_ok'] else 'WRONG'}) "
          f"in {link['wall_s']:.2f} s = {byte_rate:,.0f} bytes/s each way; "
          f"{link['cycles']:,} cycles, {link['running_cycles_per_s'] / 1e6:.2f} M cycles/s "
          f"while running ({link['sleep_seconds']:.2f} s asleep)")
    print(f"free: {free['cycles']:,} cycles in {free['seconds']:.2f} s = "
          f"{free['running_cycles_per_s'] / 1e6:.2f} M cycles/s")
    realtime = args.clock_hz
    print(f"real time would be {realtime / 1e6:g} M cycles/s: the simulated board runs at "
          f"{link['running_cycles_per_s'] / realtime:.2f}x real time while serving the link")
    if args.json:
        print(json.dumps({"divisor": divisor, "link_cycles_per_s": link["running_cycles_per_s"],
                          "link_bytes_per_s": round(byte_rate), "echo_ok": link["echo_ok"],
                          "free_cycles_per_s": free["running_cycles_per_s"]}))
    return 0 if link["echo_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

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

With ``--top compare`` it measures the two transports of the simulated board side by side in
one run, at each ``--sizes`` N: ``uart`` (the bit-level UART, the board as it was) and
``bytes`` (the byte-level transport, the default), both serving the same driver session as
``--top link``.  It checks that both answer the same spikes, prints their timesteps/s, and
beside them the timesteps/s that an iCEBreaker (18 MHz, 1 Mbaud) would reach on the same
requests (:mod:`plasticore.sim.projection`: the core's cycle formula and the line rate), and
the CPU an idle board takes (a client connected, nothing sent, 3 s).

Run::

    python benchmarks/board_speed.py                  # 200,000 bytes, 50 M free cycles
    python benchmarks/board_speed.py --bytes 50000 --free-cycles 10000000 --json
    python benchmarks/board_speed.py --top link --neurons 256 --steps 2000
    python benchmarks/board_speed.py --top compare --sizes 80,256 --steps 2000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time

import numpy as np
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    import os
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_on(transport: str, neurons: int, clock_hz: float, baud: int, steps: int,
               idle_s: float) -> dict:
    """The ``--top link`` session on one transport, with its line traffic recorded; then
    ``idle_s`` seconds with the client connected and silent, for the idle CPU."""
    from plasticore.driver.chip import Chip
    from plasticore.sim.workload import activity_config

    top, divisor = board_top(neurons, clock_hz=clock_hz, baud=baud, transport=transport)
    b = build(top, divisor=divisor, name=f"link-n{neurons}-{transport}")
    cfg = activity_config(neurons, seed=0)
    with SimulatedBoard(build_result=b, progress=False) as board:
        with Chip(board.url, baud=baud, neurons=neurons, build=top.build, timeout=60) as chip:
            chip.load(cfg)
            chip.learning = True
            chip.traffic = []
            cpu0, host0 = _cpu_seconds(board.process.pid), time.process_time()
            t0 = time.perf_counter()
            rec = chip.run(steps)
            run_s = time.perf_counter() - t0
            board_cpu = _cpu_seconds(board.process.pid) - cpu0
            host_cpu = time.process_time() - host0
            traffic = chip.traffic
            time.sleep(0.5)                 # past the idle guard
            c0, t0 = _cpu_seconds(board.process.pid), time.perf_counter()
            time.sleep(idle_s)
            idle = (_cpu_seconds(board.process.pid) - c0) / (time.perf_counter() - t0)
    return {**board.stats, "spikes": rec.spikes, "run_s": run_s, "traffic": traffic,
            "idle_core": idle, "board_cpu_s": board_cpu, "host_cpu_s": host_cpu}


def main_compare(args):
    from plasticore.sim.projection import board_steps_per_s, projected_clock_hz

    print(f"simulated board, old (uart: bit-level UART) and new (bytes: byte-level transport) "
          f"side by side; {args.clock_hz / 1e6:g} MHz, {args.baud:,} baud; {args.steps} steps "
          f"of activity_config (~5 % spiking, STDP on) per session")
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        got = {t: session_on(t, n, args.clock_hz, args.baud, args.steps, args.idle_seconds)
               for t in ("uart", "bytes")}
        same = bool(np.array_equal(got["uart"]["spikes"], got["bytes"]["spikes"]))
        board = board_steps_per_s(got["uart"]["traffic"], n, clock_hz=projected_clock_hz(),
                                  baud=args.baud)
        rate = {t: args.steps / g["run_s"] for t, g in got.items()}
        row = {"neurons": n, "uart_steps_per_s": round(rate["uart"], 1),
               "bytes_steps_per_s": round(rate["bytes"], 1),
               "speedup": round(rate["bytes"] / rate["uart"], 2),
               "icebreaker_steps_per_s": round(board, 1),
               "bytes_vs_icebreaker": round(rate["bytes"] / board, 2),
               "uart_cycles_per_s": got["uart"]["running_cycles_per_s"],
               "bytes_cycles_per_s": got["bytes"]["running_cycles_per_s"],
               "uart_cycles_per_step": round(got["uart"]["cycles"] / args.steps),
               "bytes_cycles_per_step": round(got["bytes"]["cycles"] / args.steps),
               "idle_core_uart": round(got["uart"]["idle_core"], 4),
               "idle_core_bytes": round(got["bytes"]["idle_core"], 4),
               "spikes_equal": same, "spike_fraction": float(got["bytes"]["spikes"].mean())}
        # CPU seconds do not depend on the machine's load as wall seconds do: on a quiet
        # machine the board and the driver each have a core, so the run takes about the
        # larger of the two (they overlap: two requests in flight).
        for t, g in got.items():
            row[f"{t}_board_cpu_s"] = round(g["board_cpu_s"], 2)
            row[f"{t}_host_cpu_s"] = round(g["host_cpu_s"], 2)
            row[f"{t}_steps_per_cpu_s"] = round(
                args.steps / max(g["board_cpu_s"], g["host_cpu_s"], 1e-9), 1)
        rows.append(row)
        print(f"N={n}: uart {rate['uart']:,.0f} steps/s, bytes {rate['bytes']:,.0f} steps/s "
              f"({row['speedup']:.1f}x); iCEBreaker projected {board:,.0f} steps/s (bytes = "
              f"{row['bytes_vs_icebreaker']:.2f}x of it); spikes "
              f"{'equal' if same else 'DIFFER'} ({row['spike_fraction']:.1%} spiking)")
        print(f"       per CPU second (load-independent; the larger of board and driver): "
              f"uart {row['uart_steps_per_cpu_s']:,.0f} steps/s (board "
              f"{row['uart_board_cpu_s']} s, driver {row['uart_host_cpu_s']} s), bytes "
              f"{row['bytes_steps_per_cpu_s']:,.0f} steps/s (board {row['bytes_board_cpu_s']} s,"
              f" driver {row['bytes_host_cpu_s']} s): "
              f"{row['bytes_steps_per_cpu_s'] / row['uart_steps_per_cpu_s']:.1f}x")
        print(f"       whole-session cycles/step incl. set-up: uart {row['uart_cycles_per_step']:,}"
              f", bytes {row['bytes_cycles_per_step']:,}; M cycles/s: uart "
              f"{row['uart_cycles_per_s'] / 1e6:.2f}, bytes {row['bytes_cycles_per_s'] / 1e6:.2f};"
              f" idle board: {row['idle_core_uart']:.2%} (uart), {row['idle_core_bytes']:.2%} "
              f"(bytes) of a core")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load average during the run: {' '.join(load)} (2 cores shared: rates are +-30 %)")
    if args.json:
        print(json.dumps({"top": "compare", "rows": rows, "loadavg": load}))
    return 0 if all(r["spikes_equal"] for r in rows) else 1


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
    parser.add_argument("--top", choices=("echo", "link", "compare"), default="echo",
                        help="the design: echo, the core's LinkTop, or both transports of "
                             "the core's board side by side (compare)")
    parser.add_argument("--sizes", default="80,256", help="N of the compare runs")
    parser.add_argument("--idle-seconds", type=float, default=3.0,
                        help="idle time over which compare measures the board's CPU")
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
    if args.top == "compare":
        return main_compare(args)

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

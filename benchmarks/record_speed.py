#!/usr/bin/env python
"""What recording the membrane potential costs: timesteps/s without ``v``, with ``v`` read
back after every step (protocol READs), and with ``v`` streamed with the RUN's answers.

A benchmark script, not a test: it prints figures.  On each ``--targets`` target (default
the simulated board, ``sim``) it loads :func:`plasticore.sim.workload.activity_config` of
``--neurons`` neurons (~5 % spiking, STDP on) and runs, one after the other on the same
session, through :class:`plasticore.driver.Chip`:

* ``spikes_only``: ``--steps`` steps, no state recorded;
* ``v_read``: ``--read-steps`` steps with ``record=("v",)`` and streaming switched off
  (``Chip.stream_state = False``): a RUN of one step, then READs of the whole NEURON_STATE
  region (14 bytes a neuron), pipelined -- what every version before RUN_HEADER.record did;
* ``v_streamed``: ``--steps`` steps with ``record=("v",)``: the RUNs stream v (3 bytes a
  neuron and step) with their answers (``docs/protocol.md``, RUN).

Beside each it prints the timesteps/s that an iCEBreaker (18 MHz, 1 Mbaud) would reach on
the same requests (:mod:`plasticore.sim.projection`), the line bytes per step, and whether
the spikes and v equal the reference's (every step, exactly).

Run::

    python benchmarks/record_speed.py --neurons 96 --steps 300
    python benchmarks/record_speed.py --targets sim,sim-bytes --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from plasticore.driver.targets import open_chip
from plasticore.protocol import DEFAULT_BAUD
from plasticore.sim.projection import board_steps_per_s, projected_clock_hz
from plasticore.sim.reference import Reference
from plasticore.sim.workload import activity_config

#: (name, record v, stream it)
MODES = (("spikes_only", False, True), ("v_read", True, False), ("v_streamed", True, True))


def measure(target: str, n: int, steps: int, read_steps: int) -> dict:
    cfg = activity_config(n, seed=0)
    counts = {"spikes_only": steps, "v_read": read_steps, "v_streamed": steps}
    ref = Reference(cfg, learning=True)
    expect = ref.run(sum(counts.values()), record=("spikes", "v"))
    out = {}
    first = 0
    with open_chip(target, n, timeout=60) as chip:
        chip.load(cfg)
        chip.learning = True
        for name, record_v, stream in MODES:
            count = counts[name]
            chip.stream_state = stream
            chip.traffic = []
            t0 = time.perf_counter()
            rec = chip.run(count, record=("v",) if record_v else ())
            wall = time.perf_counter() - t0
            rows = slice(first, first + count)
            first += count
            ok = np.array_equal(rec.spikes, expect.spikes[rows]) and (
                not record_v or np.array_equal(rec.state["v"], expect.state["v"][rows]))
            board = board_steps_per_s(chip.traffic, n, clock_hz=projected_clock_hz(),
                                      baud=DEFAULT_BAUD)
            out[name] = {
                "steps": count, "streamed": bool(record_v and chip.streams(("v",))),
                "steps_per_s": round(count / wall, 1),
                "icebreaker_steps_per_s": round(board, 1),
                "line_bytes_per_step": round(
                    sum(e.request_bytes + e.answer_bytes for e in chip.traffic) / count, 1),
                "equal_to_reference": bool(ok)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=96)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--read-steps", type=int, default=60,
                        help="steps of the v_read mode (a few timesteps/s on sim)")
    parser.add_argument("--targets", default="sim")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args(argv)
    result = {}
    for target in args.targets.split(","):
        result[target] = r = measure(target, args.neurons, args.steps, args.read_steps)
        for name, row in r.items():
            print(f"{target} N={args.neurons} {name:11s}: {row['steps_per_s']:8,.1f} timesteps/s; "
                  f"iCEBreaker projected {row['icebreaker_steps_per_s']:8,.1f}; "
                  f"{row['line_bytes_per_step']:,.0f} line bytes per step; "
                  f"equal to the reference: {'yes' if row['equal_to_reference'] else 'NO'}")
        new = r["v_streamed"]
        for base in ("spikes_only", "v_read"):
            old = r[base]
            print(f"{target}: v_streamed / {base}: "
                  f"{new['steps_per_s'] / old['steps_per_s']:.2f}x measured, "
                  f"{new['icebreaker_steps_per_s'] / old['icebreaker_steps_per_s']:.2f}x "
                  f"projected")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load average at the end: {' '.join(load)} (2 shared cores)")
    if args.json:
        print(json.dumps({"neurons": args.neurons, "steps": args.steps,
                          "read_steps": args.read_steps, "targets": result, "loadavg": load}))
    ok = all(row["equal_to_reference"] for r in result.values() for row in r.values())
    ok = ok and all(r["v_streamed"]["streamed"] for r in result.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

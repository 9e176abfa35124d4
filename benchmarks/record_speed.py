#!/usr/bin/env python
"""What recording the membrane potential costs: timesteps/s with and without ``v``.

A benchmark script, not a test: it prints figures.  On each ``--targets`` target (default
the simulated board, ``sim``) it loads :func:`plasticore.sim.workload.activity_config` of
``--neurons`` neurons (~5 % spiking, STDP on) and runs ``--steps`` steps twice through
:class:`plasticore.driver.Chip`: spikes only, then with ``record=("v",)`` (the state read
after every step, pipelined with the steps).  Beside each it prints the timesteps/s that an
iCEBreaker (12 MHz, 1 Mbaud) would reach on the same requests
(:mod:`plasticore.sim.projection`), and checks that both runs equal the reference.

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
from plasticore.sim.board import DEFAULT_CLOCK_HZ
from plasticore.sim.projection import board_steps_per_s
from plasticore.sim.reference import Reference
from plasticore.sim.workload import activity_config


def measure(target: str, n: int, steps: int) -> dict:
    cfg = activity_config(n, seed=0)
    ref = Reference(cfg, learning=True)
    expect = ref.run(2 * steps, record=("spikes", "v"))
    out = {}
    with open_chip(target, n, timeout=60) as chip:
        chip.load(cfg)
        chip.learning = True
        for k, record in enumerate(((), ("v",))):
            chip.traffic = []
            t0 = time.perf_counter()
            rec = chip.run(steps, record=record)
            wall = time.perf_counter() - t0
            rows = slice(k * steps, (k + 1) * steps)
            ok = np.array_equal(rec.spikes, expect.spikes[rows]) and (
                not record or np.array_equal(rec.state["v"], expect.state["v"][rows]))
            board = board_steps_per_s(chip.traffic, n, clock_hz=DEFAULT_CLOCK_HZ,
                                      baud=DEFAULT_BAUD)
            out["with_v" if record else "spikes_only"] = {
                "steps_per_s": round(steps / wall, 1), "icebreaker_steps_per_s": round(board, 1),
                "line_bytes": sum(e.request_bytes + e.answer_bytes for e in chip.traffic),
                "equal_to_reference": bool(ok)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=96)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--targets", default="sim")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args(argv)
    result = {}
    for target in args.targets.split(","):
        result[target] = r = measure(target, args.neurons, args.steps)
        for name, row in r.items():
            print(f"{target} N={args.neurons} {name:11s}: {row['steps_per_s']:8,.1f} timesteps/s; "
                  f"iCEBreaker projected {row['icebreaker_steps_per_s']:8,.1f}; "
                  f"{row['line_bytes'] / args.steps:,.0f} line bytes per step; "
                  f"equal to the reference: {'yes' if row['equal_to_reference'] else 'NO'}")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load average at the end: {' '.join(load)} (2 shared cores)")
    if args.json:
        print(json.dumps({"neurons": args.neurons, "steps": args.steps, "targets": result,
                          "loadavg": load}))
    ok = all(row["equal_to_reference"] for r in result.values() for row in r.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Speed of ``plasticore demo`` on the simulated board, old and new side by side in one run.

A benchmark script, not a test: it prints figures.  It runs the demo (a subset of the digits,
``--train``/``--test``/``--epochs``) as separate processes, one after the other, on the same
machine:

* ``baseline``: another checkout's ``plasticore`` (``--baseline PATH``, e.g. a clone of main
  with its own ``.venv/bin/plasticore``), target ``sim``: the demo as it was;
* ``sim``: this checkout, the simulated board with its bit-level UART;
* ``sim-bytes``: this checkout, the simulated board's byte-level transport paced at the line
  rate (the demo's default).

For each it prints the demo's timesteps/s (training and test, set-up excluded), whether every
spike and the final weights equal the reference's, and the timesteps/s that an iCEBreaker
(18 MHz, 1 Mbaud) would reach on the same requests (:mod:`plasticore.sim.projection`), then
the ratios to the first run.  The builds are made (or found in the cache) by a first short
run of each; a second short run gives the set-up's CPU: the timesteps per CPU second (of the demo
and the harness together, set-up excluded) are the figure that the machine's load does not
change, as it changes wall time.

Run::

    python benchmarks/demo_speed.py --train 100 --test 50
    python benchmarks/demo_speed.py --baseline /tmp/main/.venv/bin/plasticore --json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_demo(command: list[str], target: str, args: argparse.Namespace,
             train: int, test: int) -> dict:
    """One demo process; its JSON summary plus ``process_s`` (the whole process)."""
    cmd = [*command, "demo", "--target", target, "--train", str(train), "--test", str(test),
           "--epochs", str(args.epochs), "--out", "", "--json", "-q"]
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    summary["process_s"] = time.perf_counter() - t0
    # CPU of the demo and of the harness it started and reaped (a grandchild of this one)
    summary["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary["images"] = train * args.epochs + test
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--baseline", help="another checkout's plasticore executable")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args(argv)
    this = [sys.executable, "-m", "plasticore"]
    runs = [("sim", this, "sim"), ("sim-bytes", this, "sim-bytes")]
    if args.baseline:
        runs.insert(0, ("baseline", [args.baseline], "sim"))
    warm = {}
    for name, command, target in runs:
        # The first short run builds the board (or finds it in the cache); the second, the
        # set-up's CPU without a build (a build's compiler runs as a grandchild and its CPU
        # would count).
        run_demo(command, target, args, 2, 1)
        warm[name] = run_demo(command, target, args, 2, 1)
    rows = {}
    for name, command, target in runs:
        s = run_demo(command, target, args, args.train, args.test)
        # CPU per image beyond the set-up (the short run's CPU less its few images): the
        # figure the machine's load does not change, as it changes wall time
        extra_cpu = s["cpu_s"] - warm[name]["cpu_s"]
        extra_steps = s["timesteps"] - warm[name]["timesteps"]
        rows[name] = {"steps_per_s": s["steps_per_s"], "timesteps": s["timesteps"],
                      "wall_s": s["wall_s"], "process_s": round(s["process_s"], 1),
                      "steps_per_cpu_s": round(extra_steps / max(extra_cpu, 1e-9), 1),
                      "bit_exact": bool(s["weights_match"] and s["spikes_match"]),
                      "board_steps_per_s": s.get("board_steps_per_s")}
    first = next(iter(rows.values()))["steps_per_s"]
    first_cpu = next(iter(rows.values()))["steps_per_cpu_s"]
    print(f"plasticore demo, {args.train} training / {args.test} test images, "
          f"{args.epochs} epoch(s), on the simulated board:")
    for name, r in rows.items():
        board = r["board_steps_per_s"]
        print(f"  {name:9s} {r['steps_per_s']:8,.0f} timesteps/s ({r['steps_per_s'] / first:.2f}x;"
              f" {r['timesteps']:,} steps in {r['wall_s']:.1f} s, process {r['process_s']} s); "
              f"{r['steps_per_cpu_s']:,.0f} per CPU second of demo and board "
              f"({r['steps_per_cpu_s'] / first_cpu:.2f}x); "
              f"bit-exact {'yes' if r['bit_exact'] else 'NO'}; iCEBreaker projected "
              + (f"{board:,.0f}" if board else "n/a"))
    load = open("/proc/loadavg").read().split()[:3]
    print(f"load average at the end: {' '.join(load)} (2 shared cores)")
    if args.json:
        print(json.dumps({"rows": rows, "loadavg": load}))
    return 0 if all(r["bit_exact"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

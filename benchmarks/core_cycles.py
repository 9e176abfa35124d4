"""Cycles per timestep of the gateware core, measured in cycle-accurate simulation.

For each core size, learning off and on, and activity 0 %, 5 %, 20 % and 100 % of the
neurons firing (forced, so the activity is exact), run timesteps of the generated Verilog
under Verilator and read each step's cycle count (the ``CYCLES`` register, cross-checked
against the ``done`` pulse).  Prints cycles per step, synaptic operations per cycle and the
closed form :func:`plasticore.hdl.core.step_cycles` next to each measurement.

A synaptic operation is one visit of one synapse: S*N in the row pass (transmission, plus
depression when learning), and S*N more in the column pass when learning.

    python benchmarks/core_cycles.py                 # N = 32 and 256
    python benchmarks/core_cycles.py --n 32 256 1024 # adds N = 1024 (slow: ~1 M-word memory,
                                                     # minutes of Verilog generation and build)
    python benchmarks/core_cycles.py --natural 200   # also a self-driven ~5 % network
    python benchmarks/core_cycles.py --options eligibility stochastic
                                                     # a core with learning options: adds
                                                     # modulated steps (the modulation pass)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from plasticore.core import OPTIONS

HERE = Path(__file__).resolve().parent
#: The test tree: ``core_cycles_tb`` uses its verification helpers (``support``).
TESTS = HERE.parent / "tests"


def measure(n, steps, activities, natural, options=()):
    from plasticore.sim import rtl
    for path in (HERE, TESTS):         # the runner exports sys.path to the simulator
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    t0 = time.time()
    from plasticore.core import CoreParams
    runner, build_dir = rtl.build_core(CoreParams(n, **dict.fromkeys(options, True)))
    build_s = time.time() - t0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cycles.json"
        t0 = time.time()
        runner.test(test_module="core_cycles_tb", hdl_toplevel=rtl.TOPLEVEL,
                    build_dir=build_dir, test_dir=build_dir / "bench",
                    log_file=build_dir / "bench" / "sim.log",
                    extra_env={"PLASTICORE_N": str(n), "PLASTICORE_BENCH_OUT": str(out),
                               "PLASTICORE_BENCH_STEPS": str(steps),
                               "PLASTICORE_BENCH_ACTIVITIES": ",".join(map(str, activities)),
                               "PLASTICORE_BENCH_NATURAL": str(natural),
                               "PLASTICORE_OPTIONS": ",".join(options)})
        sim_s = time.time() - t0
        if not out.exists():
            raise SystemExit(f"The simulation of N = {n} wrote no results; see "
                             f"{build_dir / 'bench' / 'sim.log'}.")
        result = json.loads(out.read_text())
    result["build_s"], result["sim_s"] = build_s, sim_s
    return result


def report(result):
    from plasticore.hdl.core import Core, step_cycles
    n = result["n"]
    print(f"\nN = {n}  (neuron pass {Core.neuron_pass_cyc(n)} cycles; "
          f"build {result['build_s']:.0f} s, simulation {result['sim_s']:.0f} s)")
    print(f"{'learning':>8} {'mod':>3} {'activity':>8} {'spikes':>6} {'cycles/step':>11} "
          f"{'formula':>8} {'syn ops':>9} {'ops/cycle':>9} {'ops/cycle in passes':>19}")
    for p in result["points"]:
        s, learning, modulated = p["spikes"], p["learning"], p.get("modulated", False)
        cycles = sum(p["cycles"]) / len(p["cycles"])
        ops = s * n * (2 if learning else 1) + (n * n if modulated and learning else 0)
        passes = 0
        if s:
            passes = Core.row_pass_cyc(n, s) + (Core.column_pass_cyc(n, s) if learning else 0)
        if modulated and learning:
            passes += Core.mod_pass_cyc(n)
        formula = step_cycles(n, s, learning, modulated)
        flag = "" if all(c == formula for c in p["cycles"]) else "  MISMATCH"
        print(f"{'on' if learning else 'off':>8} {'yes' if modulated else 'no':>3} "
              f"{p['activity']:>8.0%} {s:>6} {cycles:>11.0f} "
              f"{formula:>8} {ops:>9} {ops / cycles:>9.3f} "
              f"{(ops / passes if passes else 0):>19.3f}{flag}")
    nat = result.get("natural")
    if nat:
        c, s = nat["cycles"], nat["spikes"]
        print(f"self-driven activity_config, learning on, {len(c)} steps: "
              f"{sum(s) / len(s) / n:.1%} mean activity, {sum(c) / len(c):.0f} cycles/step "
              f"(max {max(c)})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[32, 256],
                        help="core sizes (default 32 256; add 1024 if you have minutes)")
    parser.add_argument("--steps", type=int, default=3, help="steps per point (default 3)")
    parser.add_argument("--activities", type=float, nargs="+", default=[0, 0.05, 0.2, 1.0])
    parser.add_argument("--natural", type=int, default=0,
                        help="also run the self-driven ~5%% activity_config for this many steps")
    parser.add_argument("--json", type=Path, help="write all results to this file")
    parser.add_argument("--options", nargs="*", default=[],
                        choices=OPTIONS,
                        help="learning options of the core (default none)")
    args = parser.parse_args(argv)
    os.environ.setdefault("COCOTB_LOG_LEVEL", "WARNING")
    results = []
    for n in args.n:
        results.append(measure(n, args.steps, args.activities, args.natural, args.options))
        report(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""How long the compiler takes for a full 256-neuron core with all-to-all connectivity.

    .venv/bin/python benchmarks/compile_speed.py [--repeat 5] [--json]

The network: 56 Poisson inputs, 200 LIF neurons, all-to-all input -> LIF (learning, STDP)
and all-to-all LIF -> LIF (fixed, random weights): every one of the 256 x 256 synapse slots
that can be used is.  Measured: ``compile_network`` (allocation, scaling, quantisation,
report, packing the configuration words) and ``Program.save``.  It must take well under a
second; the script exits 1 if the median compile is above 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from plasticore.compiler import LIF, STDP, AllToAll, Network, Poisson, compile_network


def build(seed=0):
    rng = np.random.default_rng(seed)
    net = Network(dt=1e-3, duration=1.0, name="all_to_all_256")
    inp = net.inputs("in", 56, Poisson(rate=20.0, seed=seed))
    exc = net.population("exc", 200, LIF(tau_mem=20e-3, tau_syn=5e-3, v_rest=-65e-3,
                                        v_reset=-65e-3, v_threshold=-50e-3, tau_refrac=2e-3))
    net.connect(inp, exc, AllToAll(rng.uniform(0, 2e-3, (56, 200))),
                stdp=STDP(tau_plus=20e-3, tau_minus=20e-3, A_plus=5e-5, A_minus=6e-5,
                          w_min=0.0, w_max=3e-3))
    net.connect(exc, exc, AllToAll(rng.normal(0, 3e-4, (200, 200))))
    exc.record("spikes")
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="machine-readable last line")
    args = ap.parse_args(argv)
    build_s, compile_s, save_s = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            t0 = time.perf_counter()
            net = build(k)
            t1 = time.perf_counter()
            prog = compile_network(net)
            t2 = time.perf_counter()
            prog.save(Path(tmp) / "p.npz")
            t3 = time.perf_counter()
            build_s.append(t1 - t0)
            compile_s.append(t2 - t1)
            save_s.append(t3 - t2)
    result = {"neurons": prog.n, "synapses": int((prog.config.weights != 0).sum()),
              "build_s": statistics.median(build_s),
              "compile_s": statistics.median(compile_s),
              "save_s": statistics.median(save_s), "repeat": args.repeat}
    print(f"256-neuron all-to-all network ({result['synapses']} nonzero synapses): "
          f"description {result['build_s'] * 1e3:.1f} ms, compile "
          f"{result['compile_s'] * 1e3:.1f} ms, save {result['save_s'] * 1e3:.1f} ms "
          f"(median of {args.repeat})")
    if args.json:
        print(json.dumps(result))
    return 0 if result["compile_s"] < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""NIR graphs of real exporters on the core, against the exporting framework's own run.

A benchmark script, not a test: it prints figures.  For every fixture in
``tests/fixtures/nir`` (graphs written by snnTorch's ``export_to_nir`` and Norse's
``to_nir``, with the framework's own output spikes on the same input; made by
``tests/fixtures/nir/make_fixtures.py``), it imports the graph with the options that state
the framework's conventions (``meta.options``: ``dt``, ``method``, ``reset``,
``strict_threshold``, ``synaptic_jump``), compiles it, runs it on each target and on the
float64 model of the same description, shifts the core's output by the fixture's
``delay`` (the core's one-step synaptic delay per layer where the framework acts within the
step) and prints, per run:

* ``steps``: share of steps whose whole output vector equals the framework's;
* ``entries``: share of equal (step, output neuron) entries;
* ``spikes``: output spikes, the framework's and the run's, and the relative count error.

For snnTorch's graphs a last row runs them on the reference with ``reset="subtract"`` (the
threshold subtracted at the spike and then decayed, and ``>=``): what the core did before
its DEFERRED reset mode.

The float model has no rounding: what it shares with the framework is the conventions; what
the core adds is quantisation (16-bit decay factors, the truncating decay, the 24-bit
potential; the weights are the core's realised ones in the fixtures).  ``docs/compiler.md``
("Graphs of real exporters") explains each difference.

Run::

    python benchmarks/nir_frameworks.py                       # ref and the float model
    python benchmarks/nir_frameworks.py --targets ref,virtual,sim
"""

from __future__ import annotations

import argparse
import glob
import os

from plasticore.compiler.nir_compare import compare_fixture, load_fixture

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                        "nir")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default="ref", help="comma-separated targets (default ref)")
    ap.add_argument("--fixtures", default=FIXTURES, help="folder of NAME.nir + NAME.npz")
    args = ap.parse_args()
    targets = tuple(t for t in args.targets.split(",") if t)
    paths = sorted(glob.glob(os.path.join(args.fixtures, "*.npz")))
    if not paths:
        raise SystemExit(f"no fixtures in {args.fixtures}")
    print(f"{'fixture':16} {'framework':16} {'run':20} {'steps':>7} {'entries':>8} "
          f"{'spikes fw':>9} {'run':>6} {'error':>7}")
    for path in paths:
        fx = load_fixture(path)
        fw = f"{fx.meta['framework']} {fx.meta['version']}"
        rows = compare_fixture(fx, targets)
        if fx.options.get("reset") == "deferred":
            # what the core did before its DEFERRED reset mode: subtract at the spike, >=
            old = compare_fixture(fx, ("ref",), reset="subtract")
            rows["ref, subtract reset"] = old["ref"]
        for run, a in rows.items():
            print(f"{fx.name:16} {fw:16} {run:20} {a.steps_identical:7.1%} "
                  f"{a.entries_identical:8.2%} {a.spikes_framework:9d} {a.spikes:6d} "
                  f"{a.count_error:+7.1%}")


if __name__ == "__main__":
    main()

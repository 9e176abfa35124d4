#!/usr/bin/env python
"""PyNN's own example scripts on plasticore (``import plasticore.pynn as sim``) and on PyNN's
Brian2 backend: spike counts compared with the tolerance of the quantisation report.

A benchmark script, not a test: it prints figures.  Each script in ``pynn_examples/`` is a
verbatim copy of PyNN 0.13.0's ``examples/`` (CeCILL 2.1, the PyNN authors).  It runs twice,
each in a fresh process and folder: as it is, with the simulator argument ``brian2``
(``pyNN.brian2``), and with only its simulator import line replaced by
``import plasticore.pynn as sim`` (the ``ref`` target).  The per-neuron spike counts the
script prints are compared; the tolerance for each neuron is the compiled network's
:meth:`~plasticore.compiler.report.QuantizationReport.allowed_deviation` of Brian2's count
(the report is written by ``plasticore.pynn.end`` to ``PLASTICORE_PYNN_REPORT``).

Brian2 integrates the same equations (PyNN's ``IF_curr_exp``, exactly per step) with the
same inputs and connections (the scripts seed PyNN's ``NumpyRNG``); what differs is the
core's discretisation (forward-Euler input ``w dt / cm`` per step, spikes at the end of a
step), the quantisation, and Brian2's spike-time rounding.

Run::

    python benchmarks/pynn_vs_brian2.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from plasticore.compiler.report import QuantizationReport

HERE = os.path.dirname(os.path.abspath(__file__))
#: script -> (its simulator import line, the simulator argument the script expects)
EXAMPLES = {
    "simpleRandomNetwork.py": ('sim = import_module("pyNN.%s" % simulator_name)', "{}"),
}
COUNT = re.compile(r"^(\d+) (\d+)$")


def run(script: str, text: str, arg: str, env: dict[str, str]) -> tuple[dict[int, int], float]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, script)
        with open(path, "w") as f:
            f.write(text)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, path, arg], cwd=folder, env=env,
                             capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{script} ({arg}) failed:\n{out.stderr[-3000:]}")
    counts = {int(m[1]): int(m[2]) for m in map(COUNT.match, out.stdout.splitlines()) if m}
    return counts, wall


def main() -> None:
    for script, (line, _) in EXAMPLES.items():
        with open(os.path.join(HERE, "pynn_examples", script)) as f:
            text = f.read()
        if text.count(line) != 1:
            raise SystemExit(f"{script}: the import line {line!r} is not there once")
        ours = text.replace(line, "import plasticore.pynn as sim")
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as rep:
            report_path = rep.name
        env = {**os.environ, "PLASTICORE_PYNN_REPORT": report_path}
        b2, t_b2 = run(script, text, "brian2", env)
        pc, t_pc = run(script, ours, "plasticore", env)
        with open(report_path) as f:
            report = QuantizationReport.from_dict(json.load(f))
        os.unlink(report_path)
        b = np.array([b2[k] for k in sorted(b2)], float)
        p = np.array([pc[k] for k in sorted(pc)], float)
        allowed = report.allowed_deviation(b)
        within = np.abs(p - b) <= allowed
        print(f"{script}: {len(b)} neurons; wall time brian2 {t_b2:.1f} s, "
              f"plasticore (ref) {t_pc:.1f} s")
        print(f"  {'neuron':>6} {'brian2':>7} {'core':>6} {'diff':>6} {'allowed':>8}")
        for k in range(len(b)):
            print(f"  {k:6d} {b[k]:7.0f} {p[k]:6.0f} {p[k] - b[k]:+6.0f} {allowed[k]:8.1f}"
                  f"{'' if within[k] else '  outside'}")
        print(f"  total: brian2 {b.sum():.0f}, core {p.sum():.0f} "
              f"({(p.sum() - b.sum()) / max(b.sum(), 1):+.1%}); within the report's "
              f"tolerance: {int(within.sum())} of {len(b)} neurons")


if __name__ == "__main__":
    main()

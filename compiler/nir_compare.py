"""Run a NIR fixture of a real exporter on the core and compare it with the framework's own
output, step for step.

A *fixture* (``tests/fixtures/nir/NAME.nir`` + ``NAME.npz``, written by
``tests/fixtures/nir/make_fixtures.py`` from the ``frameworks`` extra) is a graph exported by
snnTorch or Norse, an input raster, the exporting framework's output spikes on it, and the
:func:`~plasticore.compiler.from_nir` options that state the framework's conventions.  The
core's output lags the framework's by ``delay`` steps (its one-step synaptic delay per layer
where the framework's layer acts within the step), so the core runs ``steps + delay`` steps
and its output from step ``delay`` on is compared.

:func:`compare_fixture` returns, per target, the share of steps whose whole output vector is
identical, the share of identical (step, neuron) entries, and the output spike counts; the
float64 model of the same description (no rounding anywhere) is run beside it, so that a
difference the float model does not have is the core's quantisation, and one it has too is
a convention (``docs/compiler.md``, "Graphs of real exporters").
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .floatsim import simulate
from .lower import compile_network
from .network import CompileError, SpikeRaster
from .nir_import import from_nir

__all__ = ["Fixture", "Agreement", "load_fixture", "compare_fixture", "agreement"]


@dataclass
class Fixture:
    """A graph of a real exporter and the exporting framework's own run."""
    name: str
    graph_path: str
    input: np.ndarray           # bool (steps, inputs)
    output: np.ndarray          # bool (steps, outputs): the framework's output spikes
    meta: dict[str, Any]        # framework, version, options (from_nir), delay, conventions

    @property
    def delay(self) -> int:
        return int(self.meta["delay"])

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.meta["options"])


@dataclass
class Agreement:
    """Output spikes of one run against the framework's, over the compared steps."""
    steps_identical: float      # share of steps whose output vector is identical
    entries_identical: float    # share of identical (step, neuron) entries
    spikes: int                 # output spikes of this run
    spikes_framework: int

    @property
    def count_error(self) -> float:
        """Relative spike-count error, (spikes - framework) / framework."""
        return (self.spikes - self.spikes_framework) / max(self.spikes_framework, 1)


def load_fixture(npz_path: str | os.PathLike[str]) -> Fixture:
    """Read ``NAME.npz`` and locate ``NAME.nir`` beside it."""
    path = os.fspath(npz_path)
    graph = path[:-len(".npz")] + ".nir"
    if not (path.endswith(".npz") and os.path.isfile(path) and os.path.isfile(graph)):
        raise CompileError(f"A NIR fixture is NAME.npz with NAME.nir beside it; {path!r} is "
                           f"not one.")
    with np.load(path) as z:
        return Fixture(os.path.basename(graph)[:-4], graph, z["input"].astype(bool),
                       z["output"].astype(bool), json.loads(str(z["meta"])))


def agreement(framework: np.ndarray, run: np.ndarray) -> Agreement:
    """Compare two bool (steps, outputs) rasters of the same shape."""
    if framework.shape != run.shape:
        raise ValueError(f"rasters of different shapes: {framework.shape} vs {run.shape}")
    same = framework == run
    return Agreement(float(same.all(axis=1).mean()), float(same.mean()), int(run.sum()),
                     int(framework.sum()))


def compare_fixture(fixture: Fixture, targets: tuple[str, ...] = ("ref",),
                    n: int = 256, **overrides: Any) -> dict[str, Agreement]:
    """Import the fixture's graph with its options (``overrides`` replace some: how the
    graph runs with other conventions), compile it for an ``n``-neuron core, run it on each
    target and on the float model; return ``{target or "float": Agreement}``."""
    steps = fixture.input.shape[0]
    total = steps + fixture.delay
    net = _network(fixture, total, overrides)
    prog = compile_network(net, n=n, steps=total)
    out = _output_population(net)
    found = {"float": simulate(net, steps=total).spikes[out]}
    for target in targets:
        found[target] = prog.run(steps=total, target=target).spikes[out]
    return {k: agreement(fixture.output, r[fixture.delay:fixture.delay + steps])
            for k, r in found.items()}


def _network(fixture: Fixture, total: int, overrides: dict[str, Any]) -> Any:
    import nir

    graph = nir.read(fixture.graph_path)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise CompileError(f"Fixture {fixture.name!r} must have one Input node, not "
                           f"{len(inputs)}.")
    raster = np.zeros((total, fixture.input.shape[1]), bool)
    raster[:fixture.input.shape[0]] = fixture.input
    opts = {**fixture.options, **overrides}
    dt = opts.pop("dt")
    return from_nir(graph, dt, inputs={inputs[0]: SpikeRaster(raster)}, name=fixture.name,
                    **opts)


def _output_population(net: Any) -> str:
    rec = [p.name for p in net.populations.values() if not p.is_input and p.recorded]
    if len(rec) != 1:
        raise CompileError(f"A fixture's graph must have one output population, not {rec}.")
    return rec[0]

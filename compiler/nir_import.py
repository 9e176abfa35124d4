r"""Import of NIR graphs (the ``nir`` package) into a :class:`~plasticore.compiler.Network`.

Supported nodes: ``Input``, ``Output``, ``LIF``, ``CubaLIF``, ``IF`` (one population each,
1-D shapes), ``Linear`` and ``Affine`` (projections), in any graph, recurrent ones included.
Anything else raises :class:`CompileError` naming the node.  NIR has no plasticity: STDP
rules are given alongside, per ``Linear``/``Affine`` node, in that node's weight unit.

Discretisation (NIR is continuous-time; every backend picks its own)
--------------------------------------------------------------------
The signals on NIR edges are taken as per-step values: a spike is 1 for one step of ``dt``
(a Dirac of area ``dt``), a ``Linear`` node outputs ``W @ s`` held constant over the step.
This is the convention of the discrete-time exporters (snnTorch exports ``Leaky(beta)`` as
``LIF(tau = dt / (1 - beta), r = tau / dt)`` so that the input gain is exactly 1).  Then,
with ``alpha = exp(-dt / tau)`` (``method="exp"``, exact for input held over the step) or
``alpha = 1 - dt / tau`` (``method="euler"``, forward Euler: what snnTorch, Norse and Sinabs
step, and so what reproduces their graphs exactly):

=========== ====================================================================
``LIF``     ``v <- v_leak + alpha (v - v_leak) + (1 - alpha) r I``:
            description weight ``w = (1 - alpha) r W``, ``tau_syn = 0``
``CubaLIF`` ``I <- alpha_syn I + (1 - alpha_syn) w_in (W s)``,
            ``v <- v_leak + alpha_mem (v - v_leak) + (1 - alpha_mem) r I``:
            ``w = (1 - alpha_mem) r (1 - alpha_syn) w_in W``
``IF``      ``v <- v + dt r I``: ``w = dt r W``, ``tau_mem = inf``
=========== ====================================================================

Pitfalls handled here (see ``docs/compiler.md``): ``tau`` is a time in seconds, never
multiplied by ``dt`` again (norse #411); ``r`` and ``w_in`` scale the *weights*, never the
threshold (snnTorch PR #435); thresholds, resets and ``v_leak`` are taken as they are.
``v_leak`` becomes ``v_rest``.  An ``Affine`` bias ``b`` is a constant input: it becomes the
population's bias (``r b / tau`` V/s, ``r b`` for ``IF``); into a ``CubaLIF`` it is applied
at its steady state (``w_in b``), which differs from NIR during the first ``tau_syn`` of a run.
Two differences from NIR remain and are documented, not hidden: every synapse has the
core's one-step delay, and a potential exactly at threshold fires (NIR: ``v > v_thr``).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from .network import (
    LIF,
    STDP,
    CompileError,
    Dense,
    Network,
    Poisson,
    SpikeRaster,
    SpikeTimes,
)

if TYPE_CHECKING:
    from nir import Affine, Linear, NIRGraph, NIRNode

    from .network import Population

__all__ = ["from_nir", "METHODS", "NirConventionWarning", "implied_dt"]

METHODS = ("exp", "euler")

#: The spikes of an ``Input`` node: a spike source or a bool (steps, n) raster.
_InputSpikes: TypeAlias = "SpikeTimes | SpikeRaster | Poisson | ArrayLike"


def _nir() -> ModuleType:
    try:
        import nir
    except ImportError:                                      # pragma: no cover
        raise CompileError("NIR import needs the 'nir' package (pip install nir).") from None
    return nir


def _arr(node_name: str, node: NIRNode, field: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(getattr(node, field), dtype=np.float64)
    where = f"NIR node {node_name!r} ({type(node).__name__})"
    if a.ndim == 0 and n is not None:
        a = np.full(n, float(a))
    if a.ndim != 1:
        raise CompileError(f"{where}: {field} has shape {a.shape}; only 1-D populations are "
                           f"supported.")
    if n is not None and a.shape != (n,):
        raise CompileError(f"{where}: {field} has shape {a.shape}, expected ({n},).")
    if np.isnan(a).any() or (np.isinf(a).any() and field not in ("tau", "tau_mem")):
        raise CompileError(f"{where}: {field} contains NaN or inf.")
    return a


def _alpha_and_tau(tau: np.ndarray, dt: float, method: str,
                   where: str) -> tuple[np.ndarray, np.ndarray]:
    """The per-step decay ``alpha`` of ``method`` and the tau the description needs so that
    ``exp(-dt / tau) == alpha``."""
    if (tau <= 0).any():
        raise CompileError(f"{where}: time constant {tau[tau <= 0][0]} s is not positive.")
    if method == "exp":
        return np.exp(-dt / tau), tau.copy()
    alpha = 1 - dt / tau
    if (alpha < 0).any():
        raise CompileError(f"{where}: time constant {tau[alpha < 0][0]} s is shorter than dt = "
                           f"{dt} s, which forward Euler cannot step (use method='exp').")
    with np.errstate(divide="ignore"):
        eq = np.where(alpha > 0, -dt / np.log(np.where(alpha > 0, alpha, 0.5)), 0.0)
    return alpha, np.where(np.isinf(tau), np.inf, eq)


def _neuron(name: str, node: NIRNode, dt: float, method: str,
            kw: dict[str, Any]) -> tuple[int, LIF, np.ndarray, np.ndarray]:
    """Return ``(size, LIF parameters, weight factor per neuron, bias factor per neuron)``;
    ``kw``: the LIF fields the graph does not give (reset, refractory time, comparison)."""
    nir = _nir()
    where = f"NIR node {name!r} ({type(node).__name__})"
    if not isinstance(node, nir.CubaLIF):
        kw = {k: v for k, v in kw.items() if k != "synaptic_jump"}
    if isinstance(node, nir.IF):
        th = _arr(name, node, "v_threshold")
        n = th.size
        r = _arr(name, node, "r", n)
        v_reset = _arr(name, node, "v_reset", n)
        cell = LIF(tau_mem=np.inf, tau_syn=0.0, v_threshold=th, v_rest=0.0, v_reset=v_reset,
                   **kw)
        return n, cell, dt * r, r
    if isinstance(node, nir.LIF):
        th = _arr(name, node, "v_threshold")
        n = th.size
        tau = _arr(name, node, "tau", n)
        r, v_leak = _arr(name, node, "r", n), _arr(name, node, "v_leak", n)
        v_reset = _arr(name, node, "v_reset", n)
        alpha, tau_eq = _alpha_and_tau(tau, dt, method, f"{where} tau")
        cell = LIF(tau_mem=tau_eq, tau_syn=0.0, v_threshold=th, v_rest=v_leak,
                   v_reset=v_reset, **kw)
        return n, cell, (1 - alpha) * r, r / np.where(np.isinf(tau_eq), 1.0, tau_eq)
    if isinstance(node, nir.CubaLIF):
        th = _arr(name, node, "v_threshold")
        n = th.size
        tau_m, tau_s = _arr(name, node, "tau_mem", n), _arr(name, node, "tau_syn", n)
        r, v_leak = _arr(name, node, "r", n), _arr(name, node, "v_leak", n)
        v_reset, w_in = _arr(name, node, "v_reset", n), _arr(name, node, "w_in", n)
        a_m, tm_eq = _alpha_and_tau(tau_m, dt, method, f"{where} tau_mem")
        a_s, ts_eq = _alpha_and_tau(tau_s, dt, method, f"{where} tau_syn")
        if np.isinf(ts_eq).any():
            raise CompileError(f"{where}: tau_syn must be finite.")
        kw = dict(kw)
        gain_s = 1.0 if kw.pop("synaptic_jump") else 1 - a_s      # Norse: I jumps by W s
        cell = LIF(tau_mem=tm_eq, tau_syn=ts_eq, v_threshold=th, v_rest=v_leak,
                   v_reset=v_reset, **kw)
        bias = r * w_in / np.where(np.isinf(tm_eq), 1.0, tm_eq) * ((1 - a_s) / gain_s)
        return n, cell, (1 - a_m) * r * gain_s * w_in, bias
    raise AssertionError(name)


def _as_source(name: str,
               spikes: _InputSpikes | None) -> SpikeTimes | SpikeRaster | Poisson | None:
    if spikes is None or isinstance(spikes, (SpikeTimes, SpikeRaster, Poisson)):
        return spikes
    a = np.asarray(spikes)
    if a.ndim == 2:
        return SpikeRaster(a)
    raise CompileError(f"Spikes for NIR input {name!r} must be SpikeTimes, SpikeRaster, Poisson "
                       f"or a 2-D boolean raster (steps, neurons), not {type(spikes).__name__}.")


def from_nir(graph: NIRGraph | str | os.PathLike[str], dt: float, *,
             inputs: Mapping[str, _InputSpikes] | None = None,
             stdp: Mapping[str, STDP] | None = None, method: str = "exp", reset: str = "value",
             refractory: float = 0.0, duration: float | None = None, record_v: bool = False,
             name: str | None = None, strict_threshold: bool = False,
             synaptic_jump: bool = False) -> Network:
    """Build a :class:`Network` from a NIR graph (a ``nir.NIRGraph`` or a path to a ``.nir``
    file).

    Parameters
    ----------
    dt : float, seconds
        The timestep (NIR has none).
    inputs : dict, optional
        Spikes of each ``Input`` node: :class:`SpikeTimes`, :class:`SpikeRaster`,
        :class:`Poisson` or a bool (steps, n) array.  Inputs without spikes stay silent.
    stdp : dict, optional
        ``{linear_node_name: STDP(...)}``: makes that projection learn; amplitudes and bounds
        in the NIR weight unit of that node.
    method : ``"exp"`` or ``"euler"``
        How ``alpha`` is computed from ``tau`` (module docstring).
    reset : ``"value"`` (NIR's ``v <- v_reset``), ``"subtract"`` or ``"deferred"``
        (snnTorch's ``reset_mechanism="subtract"``: the threshold is subtracted one step
        later, undecayed; fires on ``v > v_threshold``).  See :class:`LIF`.
    refractory : float, seconds, for every neuron (NIR has none; default 0).
    duration : float, seconds, optional: length of the input (see :class:`Network`).
    record_v : bool
        Also record the potential of the populations that feed ``Output`` nodes (their
        spikes always are).
    strict_threshold : bool
        Fire on ``v > v_threshold`` (NIR's, snnTorch's and Norse's comparison) instead of
        the core's native ``>=`` (realised as threshold + 1 LSB); ``reset="deferred"`` is
        always strict.
    synaptic_jump : bool
        ``CubaLIF`` input makes the current jump by ``w_in W s`` (Norse's ``LIFCell``, whose
        export writes ``w_in = 1``: ``i <- i + W s``) instead of NIR's
        ``(1 - alpha_syn) w_in W s``.

    A graph whose ``LIF``/``CubaLIF`` nodes all have ``r = tau / dt'`` for one ``dt'`` is
    the output of a discrete-time exporter (snnTorch writes ``dt' = 1e-4`` s): imported with
    another ``dt`` or method it does not step as its framework did, and a
    :class:`NirConventionWarning` says which options reproduce it.
    """
    nir = _nir()
    graph = _flatten(nir, _read_graph(nir, graph))
    if method not in METHODS:
        raise CompileError(f"NIR discretisation method must be 'exp' or 'euler', "
                           f"not {method!r}.")
    _check_convention(graph, dt, method, reset)
    inputs, stdp = dict(inputs or {}), dict(stdp or {})
    net = Network(dt=dt, duration=duration, name=name or "nir")
    kw = {"reset": reset, "tau_refrac": refractory,
          "strict_threshold": None if reset == "deferred" else bool(strict_threshold),
          "synaptic_jump": bool(synaptic_jump)}
    b = _Builder(nir, graph, net, method, kw)
    for node_name, node in graph.nodes.items():
        b.add_node(node_name, node, inputs)
    if inputs:
        raise CompileError(f"Spikes were given for {', '.join(map(repr, inputs))}, which "
                           f"{'is not an' if len(inputs) == 1 else 'are not'} Input node(s) "
                           f"of the graph.")
    unknown = [k for k in stdp if k not in b.linears]
    if unknown:
        raise CompileError(f"STDP was given for {unknown[0]!r}, which is not a Linear or Affine "
                           f"node of the graph.")
    for src, dst in graph.edges:
        b.add_edge(src, dst)
    # one weight matrix per (source, target) pair: inputs to a node add up in NIR
    for lname, lin in b.linears.items():
        b.sum_linear(lname, lin, stdp)
    b.sum_direct()
    for key, w in b.pairs.items():
        rule = b.learning_rule(key, stdp) if key in b.learn else None
        net.connect(b.neurons[key[0]], b.neurons[key[1]], Dense(w), stdp=rule,
                    name="+".join(b.names[key]))
    for name_ in dict.fromkeys(b.recorded):
        b.neurons[name_].record("spikes")
        if record_v and not b.neurons[name_].is_input:
            b.neurons[name_].record("v")
    return net


class NirConventionWarning(UserWarning):
    """A NIR graph is imported with options that do not reproduce the framework that wrote
    it (the message names the options that do)."""


def implied_dt(graph: NIRGraph) -> float | None:
    """The timestep a discrete-time exporter wrote into ``graph``, or None.

    snnTorch exports ``Leaky(beta)`` as ``LIF(tau = dt / (1 - beta), r = tau / dt)`` (and
    ``Synaptic`` as ``CubaLIF`` with ``r = tau_mem / dt``, ``w_in = tau_syn / dt``) for
    ``dt = 1e-4`` s, with ``v_leak = v_reset = 0``.  Returns that ``dt`` if every ``LIF`` and
    ``CubaLIF`` node (there is at least one) has these zeros and the same ``tau / r`` (and
    ``tau_syn / w_in``), relative 1e-6, a value of at most 3 significant digits, and
    ``r != 1`` somewhere; None otherwise (a graph of
    a continuous-time model, Norse's ``r = 1``)."""
    nir = _nir()
    ratios, r_all = [], []
    for node in _flatten(nir, graph).nodes.values():
        if isinstance(node, nir.LIF):
            tau, r = np.asarray(node.tau, float), np.asarray(node.r, float)
            pairs = [(tau, r)]
        elif isinstance(node, nir.CubaLIF):
            tau, r = np.asarray(node.tau_mem, float), np.asarray(node.r, float)
            pairs = [(tau, r), (np.asarray(node.tau_syn, float), np.asarray(node.w_in, float))]
        else:
            continue
        zero = [np.asarray(node.v_leak, float), np.asarray(node.v_reset, float)]
        if any(np.any(z != 0) for z in zero):
            return None
        for t, g in pairs:
            if not (np.isfinite(t).all() and (g > 0).all()):
                return None
            ratios.append(np.ravel(t / g))
        r_all.append(np.ravel(r))
    if not ratios or np.allclose(np.concatenate(r_all), 1.0):
        return None
    q = np.concatenate(ratios)
    dt = float(q[0])
    # A timestep someone chose has few digits (snnTorch's 1e-4); tau / r of a graph written
    # for exp-discretised import (plasticore's exporter) does not.
    # (exporters write float32: 1e-4 comes back as 9.99999984e-05)
    if not np.allclose(q, dt, rtol=1e-6, atol=0) or not math.isclose(
            float(f"{dt:.3g}"), dt, rel_tol=1e-6):
        return None
    return float(f"{dt:.3g}")


def _check_convention(graph: NIRGraph, dt: float, method: str, reset: str) -> None:
    """Warn when a discrete-time exporter's graph is imported so that it does not step as
    its framework did."""
    dt_x = implied_dt(graph)
    if dt_x is None:
        return
    wrong = []
    if not np.isclose(dt, dt_x, rtol=1e-6, atol=0):
        wrong.append(f"dt={dt_x:g} (--dt {dt_x:g}; this import has dt={dt:g})")
    if method != "euler":
        wrong.append("method='euler' (--method euler)")
    if wrong:
        snn = ("" if reset == "deferred" else
               "; snnTorch's graphs also need its reset and comparison: reset='deferred' "
               "(--reset deferred) for its default subtract reset, else strict_threshold=True "
               "(--strict-threshold)")
        warnings.warn(
            f"Every LIF/CubaLIF node of this NIR graph has r = tau / {dt_x:g}: it was written "
            f"by a discrete-time exporter (snnTorch writes dt = 1e-4 s) and steps as its "
            f"framework did only with {' and '.join(wrong)}{snn}.", NirConventionWarning,
            stacklevel=3)


def _flatten(nir: ModuleType, graph: NIRGraph) -> NIRGraph:
    """``graph`` with every sub-graph node (snnTorch exports ``RLeaky`` as one) replaced by
    its nodes, named ``outer.inner``; an edge to (from) the sub-graph goes to (comes from)
    its ``Input`` (``Output``) node's neighbours."""
    subs = {k: v for k, v in graph.nodes.items() if isinstance(v, nir.NIRGraph)}
    if not subs:
        return graph
    nodes = {k: v for k, v in graph.nodes.items() if k not in subs}
    edges: list[tuple[str, str]] = []
    ins: dict[str, list[str]] = {}
    outs: dict[str, list[str]] = {}
    for name, sub in subs.items():
        sub = _flatten(nir, sub)
        inner_in = [k for k, v in sub.nodes.items() if isinstance(v, nir.Input)]
        inner_out = [k for k, v in sub.nodes.items() if isinstance(v, nir.Output)]
        for k, v in sub.nodes.items():
            if k not in inner_in and k not in inner_out:
                nodes[f"{name}.{k}"] = v
        ins[name] = [f"{name}.{d}" for s_, d in sub.edges if s_ in inner_in]
        outs[name] = [f"{name}.{s_}" for s_, d in sub.edges if d in inner_out]
        edges += [(f"{name}.{s_}", f"{name}.{d}") for s_, d in sub.edges
                  if s_ not in inner_in and d not in inner_out]
    for s_, d in graph.edges:
        for src in outs.get(s_, [s_]):
            for dst in ins.get(d, [d]):
                edges.append((src, dst))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _read_graph(nir: ModuleType, graph: NIRGraph | str | os.PathLike[str]) -> NIRGraph:
    if isinstance(graph, (str, os.PathLike)):
        path = os.fspath(graph)
        try:
            graph = nir.read(path)
        except FileNotFoundError:
            raise CompileError(f"NIR file {path!r} does not exist.") from None
        except Exception as e:       # h5py/nir raise many kinds for a bad file
            raise CompileError(f"Cannot read NIR file {path!r}: {e}.") from None
    if not isinstance(graph, nir.NIRGraph):
        raise CompileError(f"from_nir needs a nir.NIRGraph or a .nir file, not "
                           f"{type(graph).__name__}.")
    return graph


class _Builder:
    """The network being built from a graph: its populations (``neurons``), linear nodes
    (``linears``: weight, bias, sources, targets), ``Output`` nodes, per-neuron weight and
    bias factors, and the summed connections (``pairs``, ``names``, ``learn``)."""

    def __init__(self, nir: ModuleType, graph: NIRGraph, net: Network, method: str,
                 cell_kw: dict[str, Any]) -> None:
        self.nir, self.graph, self.net = nir, graph, net
        self.method, self.cell_kw = method, cell_kw
        self.neurons: dict[str, Population]
        self.linears: dict[str, dict[str, Any]]
        self.outputs: list[str]
        self.neurons, self.linears, self.outputs = {}, {}, []
        self.factor: dict[str, np.ndarray]
        self.bias_factor: dict[str, np.ndarray]
        self.factor, self.bias_factor = {}, {}
        self.direct: list[tuple[str, str]]
        self.recorded: list[str]
        self.direct, self.recorded = [], []
        self.pairs: dict[tuple[str, str], np.ndarray]
        self.names: dict[tuple[str, str], list[str]]
        self.learn: dict[tuple[str, str], str]
        self.pairs, self.names, self.learn = {}, {}, {}

    # -- nodes ----------------------------------------------------------------------------

    def add_node(self, node_name: str, node: NIRNode, inputs: dict[str, _InputSpikes]) -> None:
        nir, net = self.nir, self.net
        where = f"NIR node {node_name!r}"
        if isinstance(node, nir.Input):
            shape = np.asarray(node.input_type["input"]).ravel()
            if shape.size != 1:
                raise CompileError(f"{where} (Input) has shape {tuple(shape)}; only 1-D inputs "
                                   f"are supported.")
            self.neurons[node_name] = net.inputs(
                node_name, int(shape[0]), _as_source(node_name, inputs.pop(node_name, None)))
        elif isinstance(node, nir.Output):
            self.outputs.append(node_name)
        elif isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF)):
            n, cell, fac, bfac = _neuron(node_name, node, net.dt, self.method, self.cell_kw)
            self.neurons[node_name] = net.population(node_name, n, cell)
            self.factor[node_name], self.bias_factor[node_name] = fac, bfac
        elif isinstance(node, (nir.Linear, nir.Affine)):
            self.linears[node_name] = self._linear(where, node)
        else:
            raise CompileError(f"{where} is a {type(node).__name__}, which plasticore cannot "
                               f"map; supported: Input, Output, LIF, CubaLIF, IF, Linear, "
                               f"Affine.")

    def _linear(self, where: str, node: Linear | Affine) -> dict[str, Any]:
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            raise CompileError(f"{where} ({type(node).__name__}) has a weight of shape "
                               f"{w.shape}; only 2-D (out, in) matrices are supported.")
        b = None
        if isinstance(node, self.nir.Affine):
            b = np.asarray(node.bias, np.float64)
            if b.shape != (w.shape[0],):
                raise CompileError(f"{where} (Affine) has a bias of shape {b.shape}, but "
                                   f"its weight has {w.shape[0]} outputs.")
        if not np.isfinite(w).all() or (b is not None and not np.isfinite(b).all()):
            raise CompileError(f"{where} ({type(node).__name__}) has NaN or inf weights.")
        return {"w": w, "b": b, "src": [], "dst": []}

    # -- edges ----------------------------------------------------------------------------

    def add_edge(self, a: str, b: str) -> None:
        for end in (a, b):
            if end not in self.graph.nodes:
                raise CompileError(f"NIR edge ({a!r}, {b!r}) names node {end!r}, which is not "
                                   f"in the graph.")
        if b in self.linears:
            if a in self.linears:
                raise CompileError(f"NIR node {a!r} (a linear node) feeds linear node {b!r}; "
                                   f"only Input and neuron nodes can feed a linear node.")
            self._no_edge_from_output(a, b)
            self.linears[b]["src"].append(a)
        elif b in self.outputs:
            if a in self.linears:
                raise CompileError(f"NIR linear node {a!r} feeds Output {b!r} directly; the "
                                   f"core can only output spikes of neurons.")
            self.recorded.append(a)
        elif b in self.neurons:
            if self.neurons[b].is_input:
                raise CompileError(f"NIR edge ({a!r}, {b!r}) ends in Input node {b!r}.")
            if a in self.linears:
                self.linears[a]["dst"].append(b)
            else:
                self._no_edge_from_output(a, b)
                self.direct.append((a, b))

    def _no_edge_from_output(self, a: str, b: str) -> None:
        if a in self.outputs:
            raise CompileError(f"NIR Output node {a!r} has an outgoing edge to {b!r}.")

    # -- connections ----------------------------------------------------------------------

    def sum_linear(self, lname: str, lin: dict[str, Any], stdp: Mapping[str, STDP]) -> None:
        """Add a linear node's weights (times the target's factor) to each (source, target)
        pair it joins; fold an Affine bias into the target's bias."""
        if not lin["src"] or not lin["dst"]:
            side = "no input" if not lin["src"] else "no output"
            kind = "Affine" if lin["b"] is not None else "Linear"
            raise CompileError(f"NIR node {lname!r} ({kind}) has {side} edge.")
        w = lin["w"]
        for dst in lin["dst"]:
            n_dst = self.neurons[dst].size
            for src in lin["src"]:
                if w.shape != (n_dst, self.neurons[src].size):
                    raise CompileError(f"NIR node {lname!r}: weight shape {w.shape} does not "
                                       f"fit {src!r} ({self.neurons[src].size}) -> {dst!r} "
                                       f"({n_dst}); expected ({n_dst}, "
                                       f"{self.neurons[src].size}).")
                key = (src, dst)
                self.pairs[key] = self.pairs.get(key, 0) + w.T * self.factor[dst][None, :]
                self.names.setdefault(key, []).append(lname)
                if lname in stdp:
                    self.learn.setdefault(key, lname)
            if lin["b"] is not None:
                self._add_bias(lname, dst, lin["b"] * self.bias_factor[dst] * len(lin["src"]))

    def _add_bias(self, lname: str, dst: str, extra: np.ndarray) -> None:
        pop = self.neurons[dst]
        params = dict(pop.cell.__dict__)
        params["bias"] = np.asarray(params["bias"]) + extra
        self.neurons[dst] = _replace_cell(self.net, pop, LIF(**params))
        if isinstance(self.graph.nodes[dst], self.nir.CubaLIF):
            self.net.notes.append(f"The bias of Affine {lname!r} enters CubaLIF {dst!r} "
                                  f"at its steady state.")

    def sum_direct(self) -> None:
        """Neuron-to-neuron edges without a linear node: one-to-one, weight 1."""
        for a, b in self.direct:
            if self.neurons[a].size != self.neurons[b].size:
                raise CompileError(f"NIR edge ({a!r}, {b!r}) connects {self.neurons[a].size} "
                                   f"to {self.neurons[b].size} neurons without a linear node.")
            key = (a, b)
            self.pairs[key] = self.pairs.get(key, 0) + np.diag(self.factor[b])
            self.names.setdefault(key, []).append(f"{a}->{b}")

    def learning_rule(self, key: tuple[str, str], stdp: Mapping[str, STDP]) -> STDP:
        """The STDP rule of a learning connection, in the core's weight unit."""
        src, dst = key
        lname = self.learn[key]
        if len(self.names[key]) > 1:
            raise CompileError(f"NIR node {lname!r} learns but shares its connection "
                               f"{src!r} -> {dst!r} with {', '.join(self.names[key])}; the "
                               f"core has one synapse per pair.")
        fac = self.factor[dst]
        if not np.allclose(fac, fac[0], rtol=1e-12, atol=0) or fac[0] <= 0:
            raise CompileError(f"STDP on NIR node {lname!r} needs the same positive weight "
                               f"scale for every neuron of {dst!r} (equal tau, r, w_in).")
        s = stdp[lname]
        if not isinstance(s, STDP):
            raise CompileError(f"STDP for NIR node {lname!r} must be an STDP rule.")
        f = float(fac[0])
        return STDP(s.tau_plus, s.tau_minus, s.A_plus * f, s.A_minus * f, s.w_min * f,
                    s.w_max * f)


def _replace_cell(net: Network, pop: Population, cell: LIF) -> Population:
    """Swap the parameters of a population that has no projections yet."""
    from .network import Population
    new = Population(net, pop.name, pop.size, cell)
    new.recorded = pop.recorded
    net.populations[pop.name] = new
    return new

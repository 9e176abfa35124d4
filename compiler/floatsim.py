r"""The float64 model of the core: the core's equations in real numbers, and the compiler's
yardstick.

:class:`FloatModel` computes the timestep of ``docs/model.md`` (section 4) in the same order
as :class:`~plasticore.sim.reference.Reference` -- neuron update, transmission with the
pre-learning weights, depression, then potentiation, then the post-trace bump -- but in
real numbers, without rounding, truncation or saturation::

    I   <- alpha_i * I + acc                           # acc: sum of weights of step t-1's spikes
    V   <- V (refractory)   or   alpha_v * V + I + bias - sub
           (sub = threshold if deferred and the old V > threshold, else 0)
    spike <- forced  or  (not refractory and V >= threshold)     (V > threshold: strict, deferred)
    V   <- v_reset  or  V - threshold  or  V (deferred);  ref <- refractory   (on a spike)
    x   <- alpha_x * x + x_inc * spike
    y'  <- alpha_y * y;   x2' <- alpha_x2 * x2;   y2' <- alpha_y2 * y2
    acc <- sum over spiking j of W[j, :]
    W[j, i] <- clip(W[j, i] - y'_i (a_minus_i + a3_minus_i x2'_j))   for spiking j, plastic
    W[j, i] <- clip(W[j, i] + x_j  (a_plus_i  + a3_plus_i  y2'_i))   for spiking i, plastic
    y   <- y' + y_inc * spike;   x2 <- x2' + spike;   y2 <- y2' + spike

(the triplet terms are those of :class:`~plasticore.compiler.TripletSTDP`, ``docs/model.md``
4.5; with ``a3 = 0`` it is the pair rule).  Three-factor rules (``ThreeFactor``) are not
modelled: :func:`simulate` refuses them.

Its parameters are a :class:`FloatParams`: ``V, I, bias, threshold, v_reset`` and the
weights in one unit of potential (a weight is the jump of ``I`` per pre-synaptic spike);
traces in units of :data:`~plasticore.fixed.TRACE_ONE`; ``a_plus``/``a_minus`` in potential
units per unit trace (``Delta w = A * trace``); decay factors as real numbers in ``[0, 1]``
(:func:`alpha` turns a time constant in steps into one).

:func:`simulate` runs a :class:`~plasticore.compiler.network.Network` on it with the
*requested* parameters: potentials in volts relative to ``v_rest``, input spikes from
:func:`~plasticore.compiler.lower.input_rasters` (the same as the compiled program's),
refractory periods in whole steps (no discrete simulation can do otherwise), STDP traces
that jump by 1.0.  The only differences between it and the compiled program run on the
reference are then the ones the :class:`~plasticore.compiler.QuantizationReport` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike

from .lower import _alpha, bias_gain, input_rasters
from .network import STDP, CompileError, Network, ThreeFactor, TripletSTDP

__all__ = ["alpha", "FloatParams", "FloatModel", "simulate", "FloatResults"]


def alpha(tau: ArrayLike) -> np.ndarray:
    """Per-step retention ``exp(-1/tau)`` of a time constant ``tau`` in steps
    (``inf``: no decay, 1.0; ``0``: forget every step, 0.0)."""
    return _alpha(tau, 1.0)


@dataclass
class FloatParams:
    """Real parameters of an ``n``-neuron core.  Per-neuron arrays of shape ``(n,)``;
    ``weights`` and ``plastic`` are ``(n, n)``, row = pre, column = post."""
    n: int
    threshold: np.ndarray
    v_reset: np.ndarray
    bias: np.ndarray
    alpha_v: np.ndarray
    alpha_i: np.ndarray
    refractory: np.ndarray      # int steps
    subtract: np.ndarray        # bool: reset by subtraction (else to v_reset)
    deferred: np.ndarray        # bool: snnTorch's reset (core DEFERRED; strict as well)
    strict: np.ndarray          # bool: fire on V > threshold (else V >= threshold)
    alpha_x: np.ndarray
    x_inc: np.ndarray
    alpha_y: np.ndarray
    y_inc: np.ndarray
    a_plus: np.ndarray
    a_minus: np.ndarray
    w_min: np.ndarray
    w_max: np.ndarray
    weights: np.ndarray
    plastic: np.ndarray
    alpha_x2: np.ndarray | None = None     # triplet: slow traces (None: no triplet terms)
    alpha_y2: np.ndarray | None = None
    a3_plus: np.ndarray | None = None
    a3_minus: np.ndarray | None = None

    _PER_NEURON_DEFAULTS = dict(threshold=1.0, v_reset=0.0, bias=0.0, alpha_v=1.0, alpha_i=0.0,
                                refractory=0, subtract=False, deferred=False,
                                strict=False, alpha_x=1.0, x_inc=0.0,
                                alpha_y=1.0, y_inc=0.0, a_plus=0.0, a_minus=0.0,
                                w_min=-1.0, w_max=1.0)
    _TRIPLET = ("alpha_x2", "alpha_y2", "a3_plus", "a3_minus")

    @classmethod
    def make(cls, n: int, weights: ArrayLike | None = None, plastic: ArrayLike | None = None,
             **per_neuron: ArrayLike) -> Self:
        """Build from scalars or arrays (broadcast to ``(n,)``); unspecified fields take
        the defaults of :attr:`_PER_NEURON_DEFAULTS`."""
        unknown = set(per_neuron) - set(cls._PER_NEURON_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown parameters {sorted(unknown)}")
        kw: dict[str, np.ndarray] = {}
        for name, default in cls._PER_NEURON_DEFAULTS.items():
            dtype = (np.int64 if name == "refractory" else
                     bool if name in ("subtract", "deferred", "strict") else np.float64)
            kw[name] = np.broadcast_to(np.asarray(per_neuron.get(name, default), dtype),
                                       (n,)).copy()
        w = np.zeros((n, n)) if weights is None else np.array(weights, np.float64)
        pl = np.zeros((n, n), bool) if plastic is None else np.array(plastic, bool)
        return cls(n=n, weights=w, plastic=pl, **kw)

    @property
    def triplet(self) -> bool:
        return self.a3_plus is not None

    def copy(self) -> FloatParams:
        return FloatParams(**{f.name: (getattr(self, f.name).copy()
                                       if isinstance(getattr(self, f.name), np.ndarray)
                                       else getattr(self, f.name)) for f in fields(self)})


class FloatModel:
    """float64 model of one core with real parameters; same interface as the reference
    (:meth:`step`, :meth:`run`), state in real units."""

    STATE = ("v", "i", "acc", "ref", "x", "y", "y_dec", "x2", "y2")

    def __init__(self, params: FloatParams, learning: bool = False) -> None:
        self.p = params.copy()
        self.n = params.n
        self.learning = bool(learning)
        self.weights = self.p.weights            # mutated in place by learning
        self.reset()

    def reset(self) -> None:
        n = self.n
        self.t = 0
        self.spikes = np.zeros(n, bool)
        self.v, self.i, self.acc, self.x, self.y, self.y_dec = (np.zeros(n) for _ in range(6))
        self.x2, self.y2 = np.zeros(n), np.zeros(n)
        self.ref = np.zeros(n, np.int64)

    def step(self, forced: ArrayLike | None = None) -> np.ndarray:
        p = self.p
        force = np.zeros(self.n, bool)
        if forced is not None:
            f = np.asarray(forced)
            if f.dtype == bool:
                force[:] = f
            else:
                force[f.astype(np.int64)] = True
        # 1. neuron update
        self.i = p.alpha_i * self.i + self.acc
        refr = self.ref > 0
        late = np.where(p.deferred & (self.v > p.threshold), p.threshold, 0.0)
        v = np.where(refr, self.v, p.alpha_v * self.v + self.i + p.bias - late)
        ref = self.ref - refr
        above = np.where(p.strict | p.deferred, v > p.threshold, v >= p.threshold)
        spike = force | (~refr & above)
        self.v = np.where(spike & ~p.deferred,
                          np.where(p.subtract, v - p.threshold, p.v_reset), v)
        self.ref = np.where(spike, p.refractory, ref)
        self.x = p.alpha_x * self.x + spike * p.x_inc
        self.y_dec = p.alpha_y * self.y
        # 2. transmission with the weights before this step's learning
        fired = np.flatnonzero(spike)
        w = self.weights
        self.acc = w[fired].sum(axis=0) if fired.size else np.zeros(self.n)
        x2_dec, y2_dec = self._slow_decayed()
        # 3. learning: depression of the rows of spiking pre, then potentiation of the
        #    columns of spiking post
        if self.learning and fired.size:
            self._learn(fired, x2_dec, y2_dec)
        # 4. post traces take this step's spikes
        self.y = self.y_dec + spike * p.y_inc
        if p.triplet:
            self.x2, self.y2 = x2_dec + spike, y2_dec + spike
        self.spikes = spike
        self.t += 1
        return spike

    def _slow_decayed(self) -> tuple[np.ndarray, np.ndarray]:
        """The slow traces decayed by this step (``x2'``, ``y2'``), before its spikes."""
        p = self.p
        if p.alpha_x2 is None or p.alpha_y2 is None:
            return self.x2, self.y2
        return self.x2 * p.alpha_x2, self.y2 * p.alpha_y2

    def _learn(self, fired: np.ndarray, x2_dec: np.ndarray, y2_dec: np.ndarray) -> None:
        p, w = self.p, self.weights
        a_minus = np.broadcast_to(p.a_minus, (fired.size, self.n))
        a_plus = np.broadcast_to(p.a_plus[fired], (self.n, fired.size))
        if p.a3_plus is not None and p.a3_minus is not None:
            # triplet: the slow traces as they were before this step's own spike
            a_minus = a_minus + p.a3_minus * x2_dec[fired][:, None]
            a_plus = a_plus + p.a3_plus[fired] * y2_dec[fired]
        rows = w[fired]
        new = np.clip(rows - a_minus * self.y_dec, p.w_min, p.w_max)
        w[fired] = np.where(p.plastic[fired], new, rows)
        cols = w[:, fired]
        new = np.clip(cols + a_plus * self.x[:, None], p.w_min[fired], p.w_max[fired])
        w[:, fired] = np.where(p.plastic[:, fired], new, cols)

    def run(self, steps: int, forced: np.ndarray | Sequence[ArrayLike] | None = None,
            record: Sequence[str] = ("spikes",)) -> dict[str, np.ndarray]:
        """Run ``steps`` steps; returns a dict ``name -> (steps, n)`` array with ``spikes``
        and the requested state fields (out of :attr:`STATE`)."""
        fields_ = [r for r in record if r != "spikes"]
        bad = [r for r in fields_ if r not in self.STATE]
        if bad:
            raise ValueError(f"cannot record {bad}; choose from {self.STATE}")
        out = {"spikes": np.zeros((steps, self.n), bool)}
        out.update({r: np.zeros((steps, self.n)) for r in fields_})
        for k in range(steps):
            out["spikes"][k] = self.step(None if forced is None else forced[k])
            for r in fields_:
                out[r][k] = getattr(self, r)
        return out


# -- a network description on the float model ------------------------------------------------

class FloatResults:
    """``spikes[pop]`` bool (steps, size) for every population, ``v[pop]`` volts (steps,
    size) for every LIF population, ``weights[proj]`` float (pre, post) at the end."""

    def __init__(self, spikes: dict[str, np.ndarray], v: dict[str, np.ndarray],
                 weights: dict[str, np.ndarray]) -> None:
        self.spikes, self.v, self.weights = spikes, v, weights

    def spike_counts(self) -> dict[str, np.ndarray]:
        return {k: s.sum(axis=0) for k, s in self.spikes.items()}


def _ranges(network: Network) -> tuple[dict[str, tuple[int, int]], int]:
    """``{population: (first, end)}``: the neurons of each population, in order."""
    starts: dict[str, tuple[int, int]]
    starts, k = {}, 0
    for p in network.populations.values():
        starts[p.name] = (k, k + p.size)
        k += p.size
    return starts, k


def _neuron_params(network: Network, starts: dict[str, tuple[int, int]],
                   n: int) -> dict[str, np.ndarray]:
    """Per-neuron real parameters of the LIF populations (potentials relative to
    ``v_rest``); input neurons never fire on their own (threshold ``inf``)."""
    dt = network.dt
    kw = dict(alpha_v=np.zeros(n), alpha_i=np.zeros(n), threshold=np.full(n, np.inf),
              v_reset=np.zeros(n), subtract=np.zeros(n, bool), deferred=np.zeros(n, bool),
              strict=np.zeros(n, bool), bias=np.zeros(n),
              refractory=np.zeros(n, np.int64))
    for p in network.populations.values():
        if p.is_input:
            continue
        lo, hi = starts[p.name]
        q = p.params
        kw["alpha_v"][lo:hi] = _alpha(q["tau_mem"], dt)
        kw["alpha_i"][lo:hi] = _alpha(q["tau_syn"], dt)
        kw["threshold"][lo:hi] = q["v_threshold"] - q["v_rest"]
        kw["v_reset"][lo:hi] = q["v_reset"] - q["v_rest"]
        kw["subtract"][lo:hi] = p.cell.reset == "subtract"
        kw["deferred"][lo:hi] = p.cell.reset == "deferred"
        kw["strict"][lo:hi] = p.cell.strict
        kw["bias"][lo:hi] = bias_gain(q["tau_mem"], dt) * q["bias"]
        kw["refractory"][lo:hi] = np.rint(q["tau_refrac"] / dt).astype(np.int64)
    return kw


def _synapse_params(network: Network, starts: dict[str, tuple[int, int]],
                    n: int) -> dict[str, Any]:
    """Weights, plasticity bits and STDP parameters (triplet terms if any rule has them);
    traces jump by 1.0, and the weights of columns without a rule are unbounded."""
    dt = network.dt
    kw: dict[str, Any] = dict(
        weights=np.zeros((n, n)), plastic=np.zeros((n, n), bool), alpha_x=np.zeros(n),
        alpha_y=np.zeros(n), x_inc=np.ones(n), y_inc=np.ones(n), a_plus=np.zeros(n),
        a_minus=np.zeros(n), w_min=np.full(n, -np.inf), w_max=np.full(n, np.inf))
    rules = [pr for pr in network.projections.values() if pr.learning]
    for pr in rules:
        if isinstance(pr.stdp, ThreeFactor):
            raise CompileError(f"Projection {pr.name!r}: the float model has no three-factor "
                               f"learning (ThreeFactor); simulate() cannot run it.")
    if any(isinstance(pr.stdp, TripletSTDP) for pr in rules):
        kw.update(alpha_x2=np.zeros(n), alpha_y2=np.zeros(n), a3_plus=np.zeros(n),
                  a3_minus=np.zeros(n))
    for pr in network.projections.values():
        (r0, r1), (c0, c1) = starts[pr.pre.name], starts[pr.post.name]
        kw["weights"][r0:r1, c0:c1] += np.where(pr.mask, pr.weights, 0.0)
        if pr.learning:
            _rule_params(kw, pr.stdp, (r0, r1), (c0, c1), dt)  # type: ignore[arg-type]
            kw["plastic"][r0:r1, c0:c1] |= pr.mask
    return kw


def _rule_params(kw: dict[str, Any], s: STDP, rows: tuple[int, int], cols: tuple[int, int],
                 dt: float) -> None:
    (r0, r1), (c0, c1) = rows, cols
    kw["alpha_x"][r0:r1] = _alpha(s.tau_plus, dt)
    kw["alpha_y"][c0:c1] = _alpha(s.tau_minus, dt)
    kw["a_plus"][c0:c1], kw["a_minus"][c0:c1] = s.A_plus, s.A_minus
    kw["w_min"][c0:c1], kw["w_max"][c0:c1] = s.w_min, s.w_max
    if isinstance(s, TripletSTDP):
        kw["alpha_x2"][r0:r1] = _alpha(s.tau_x, dt)
        kw["alpha_y2"][c0:c1] = _alpha(s.tau_y, dt)
        kw["a3_plus"][c0:c1], kw["a3_minus"][c0:c1] = s.A3_plus, s.A3_minus


def simulate(network: Network, steps: int | None = None,
             learning: bool | None = None) -> FloatResults:
    """Simulate ``network`` in float64 for ``steps`` steps (default: its input length).

    ``learning``: ``None`` (on if any projection has an STDP rule), ``True`` or ``False``.
    """
    if not isinstance(network, Network):
        raise CompileError(f"simulate needs a Network, not {type(network).__name__}.")
    rasters, in_steps, _, _ = input_rasters(network, steps)
    steps = in_steps if steps is None else int(steps)
    starts, n = _ranges(network)
    forced = np.zeros((steps, n), bool)
    for p in network.populations.values():
        if p.is_input:
            lo, hi = starts[p.name]
            forced[:, lo:hi] = rasters[p.name][:steps]
    params = FloatParams(n=n, **_neuron_params(network, starts, n),
                         **_synapse_params(network, starts, n))
    learn = bool(params.plastic.any()) if learning is None else bool(learning)
    model = FloatModel(params, learning=learn)
    rec = model.run(steps, forced, record=("spikes", "v"))
    spikes: dict[str, np.ndarray]
    volts: dict[str, np.ndarray]
    spikes, volts = {}, {}
    for p in network.populations.values():
        lo, hi = starts[p.name]
        spikes[p.name] = rec["spikes"][:, lo:hi]
        if not p.is_input:
            volts[p.name] = p.params["v_rest"] + rec["v"][:, lo:hi]
    weights: dict[str, np.ndarray] = {}
    for pr in network.projections.values():
        (r0, r1), (c0, c1) = starts[pr.pre.name], starts[pr.post.name]
        weights[pr.name] = np.where(pr.mask, model.weights[r0:r1, c0:c1], 0.0)
    return FloatResults(spikes, volts, weights)

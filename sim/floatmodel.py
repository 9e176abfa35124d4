r"""A float64 model of the core's equations in real numbers, and the quantisation that maps
its parameters to a :class:`~plasticore.core.CoreConfig`.

:class:`FloatModel` computes the same timestep as :class:`~plasticore.sim.reference.Reference`
(same ordering: neuron update, transmission with the pre-learning weights, depression, then
potentiation, then the post-trace bump), but in real numbers, without rounding, truncation
or saturation::

    I   <- alpha_i * I + acc                           # acc: sum of weights of step t-1's spikes
    V   <- V (refractory)   or   alpha_v * V + I + bias
    spike <- forced  or  (not refractory and V >= threshold)
    V   <- v_reset  or  V - threshold;  ref <- refractory          (on a spike)
    x   <- alpha_x * x + x_inc * spike
    y'  <- alpha_y * y
    acc <- sum over spiking j of W[j, :]
    W[j, i] <- clip(W[j, i] - a_minus_i * y'_i)    for spiking j, plastic (j, i)
    W[j, i] <- clip(W[j, i] + a_plus_i  * x_j)     for spiking i, plastic (j, i)
    y   <- y' + y_inc * spike

Units: ``V, I, bias, threshold, v_reset`` and the weights in units of "V" (a threshold of
1.0 is the natural choice); a weight is the jump of ``I`` per pre-synaptic spike; traces in
units of :data:`~plasticore.fixed.TRACE_ONE`; ``a_plus``/``a_minus`` in V units per unit
trace (``Delta w = A * trace``); decay factors as real numbers in ``[0, 1]``
(:func:`alpha` turns a time constant in steps into one).

:func:`quantise` is the precursor of the compiler: it rounds every real parameter to nearest
in its format, choosing one ``w_shift`` per post-synaptic neuron (column) so that its weights,
bounds and amplitudes use the finest weight LSB that still fits.  It raises
:class:`~plasticore.fixed.RangeError` rather than clipping.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from plasticore import fixed as F
from plasticore.core import CoreConfig, CoreParams, ResetMode

__all__ = ["V_SCALE", "alpha", "FloatParams", "FloatModel", "Quantised", "quantise"]

#: Raw LSBs of V (and I, bias, threshold, v_reset) per real unit: a threshold of 1.0 is 2**16.
V_SCALE = 1 << 16


def alpha(tau):
    """Per-step retention ``exp(-1/tau)`` of a time constant ``tau`` in steps
    (``inf``: no decay, 1.0; ``0``: forget every step, 0.0)."""
    tau = np.asarray(tau, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(tau == 0, 0.0, np.exp(-1.0 / np.where(tau == 0, 1.0, tau)))


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

    _PER_NEURON_DEFAULTS = dict(threshold=1.0, v_reset=0.0, bias=0.0, alpha_v=1.0, alpha_i=0.0,
                                refractory=0, subtract=False, alpha_x=1.0, x_inc=0.0,
                                alpha_y=1.0, y_inc=0.0, a_plus=0.0, a_minus=0.0,
                                w_min=-1.0, w_max=1.0)

    @classmethod
    def make(cls, n, weights=None, plastic=None, **per_neuron):
        """Build from scalars or arrays (broadcast to ``(n,)``); unspecified fields take
        the defaults of :attr:`_PER_NEURON_DEFAULTS`."""
        unknown = set(per_neuron) - set(cls._PER_NEURON_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown parameters {sorted(unknown)}")
        kw = {}
        for name, default in cls._PER_NEURON_DEFAULTS.items():
            dtype = (np.int64 if name == "refractory" else
                     bool if name == "subtract" else np.float64)
            kw[name] = np.broadcast_to(np.asarray(per_neuron.get(name, default), dtype),
                                       (n,)).copy()
        w = np.zeros((n, n)) if weights is None else np.array(weights, np.float64)
        pl = np.zeros((n, n), bool) if plastic is None else np.array(plastic, bool)
        return cls(n=n, weights=w, plastic=pl, **kw)

    def copy(self):
        return FloatParams(**{f.name: (getattr(self, f.name).copy()
                                       if isinstance(getattr(self, f.name), np.ndarray)
                                       else getattr(self, f.name)) for f in fields(self)})


class FloatModel:
    """float64 model of one core with real parameters; same interface as the reference
    (:meth:`step`, :meth:`run`), state in real units."""

    STATE = ("v", "i", "acc", "ref", "x", "y", "y_dec")

    def __init__(self, params: FloatParams, learning: bool = False):
        self.p = params.copy()
        self.n = params.n
        self.learning = bool(learning)
        self.weights = self.p.weights            # mutated in place by learning
        self.reset()

    def reset(self):
        n = self.n
        self.t = 0
        self.spikes = np.zeros(n, bool)
        self.v, self.i, self.acc, self.x, self.y, self.y_dec = (np.zeros(n) for _ in range(6))
        self.ref = np.zeros(n, np.int64)

    def step(self, forced=None):
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
        v = np.where(refr, self.v, p.alpha_v * self.v + self.i + p.bias)
        ref = self.ref - refr
        spike = force | (~refr & (v >= p.threshold))
        self.v = np.where(spike, np.where(p.subtract, v - p.threshold, p.v_reset), v)
        self.ref = np.where(spike, p.refractory, ref)
        self.x = p.alpha_x * self.x + spike * p.x_inc
        self.y_dec = p.alpha_y * self.y
        # 2. transmission with the weights before this step's learning
        fired = np.flatnonzero(spike)
        w = self.weights
        self.acc = w[fired].sum(axis=0) if fired.size else np.zeros(self.n)
        # 3. learning: depression of the rows of spiking pre, then potentiation of the
        #    columns of spiking post
        if self.learning and fired.size:
            rows = w[fired]
            new = np.clip(rows - p.a_minus * self.y_dec, p.w_min, p.w_max)
            w[fired] = np.where(p.plastic[fired], new, rows)
            cols = w[:, fired]
            new = np.clip(cols + p.a_plus[fired] * self.x[:, None],
                          p.w_min[fired], p.w_max[fired])
            w[:, fired] = np.where(p.plastic[:, fired], new, cols)
        # 4. post traces take this step's spikes
        self.y = self.y_dec + spike * p.y_inc
        self.spikes = spike
        self.t += 1
        return spike

    def run(self, steps, forced=None, record=("spikes",)):
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


# -- quantisation: real parameters -> CoreConfig ----------------------------------------------

@dataclass
class Quantised:
    """The integer program and the scales needed to read it back as real numbers."""
    config: CoreConfig
    w_shift: np.ndarray      # per post neuron
    w_lsb: np.ndarray        # real V units of one weight LSB, per post neuron: 2**w_shift / 2**16

    def weights_real(self, w_int):
        """Real value of integer weights (column ``i`` scaled by ``w_lsb[i]``)."""
        return np.asarray(w_int, np.float64) * self.w_lsb[None, :]


def _round(x):
    """Round to nearest, ties away from zero (``np.round`` ties to even; any rule with
    error <= 1/2 LSB serves, this one is what a compiler would print)."""
    x = np.asarray(x, np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _fit(fmt, raw, what):
    return fmt.check(raw, what)


def choose_w_shift(params: FloatParams):
    """Smallest ``w_shift`` per column (finest weight LSB) for which every weight of the
    column, the column's bounds and its STDP amplitudes fit their formats after rounding."""
    n = params.n
    shifts = np.zeros(n, np.int64)
    for i in range(n):
        col = np.concatenate([params.weights[:, i], [params.w_min[i], params.w_max[i]]])
        amps = np.array([params.a_plus[i], params.a_minus[i]])
        for s in range(F.W_SHIFT.max + 1):
            per_unit = V_SCALE / (1 << s)             # weight LSBs per real unit
            if (F.WEIGHT.contains(_round(col * per_unit))
                    and F.AMPLITUDE.contains(_round(amps * per_unit * (1 << F.AMP_FRAC)))):
                shifts[i] = s
                break
        else:
            raise F.RangeError(f"weights of neuron {i} do not fit any w_shift "
                               f"(largest |w| = {np.abs(col).max()})")
    return shifts


def quantise(params: FloatParams, w_shift=None) -> Quantised:
    """Round the real parameters to the integer program (round to nearest everywhere).

    * ``V, I, bias, threshold, v_reset``: ``round(x * 2**16)``
    * decay factors: ``round(alpha * 2**15)``
    * weights of column ``i``, ``w_min_i``, ``w_max_i``: ``round(w * 2**16 / 2**w_shift_i)``
    * amplitudes: ``round(A * 2**16 / 2**w_shift_i * 2**4)`` (UQ8.4 weight LSBs per unit trace)
    * trace increments: ``round(x_inc * 2**12)``
    """
    p, n = params, params.n
    ws = choose_w_shift(p) if w_shift is None else np.broadcast_to(w_shift, (n,)).astype(np.int64)
    per_unit = V_SCALE / (1 << ws).astype(np.float64)          # weight LSBs per real unit
    cfg = CoreConfig(CoreParams(n))
    q, lq = cfg.neurons, cfg.learning
    q["threshold"] = _fit(F.THRESHOLD, _round(p.threshold * V_SCALE), "threshold")
    q["v_reset"] = _fit(F.V_RESET, _round(p.v_reset * V_SCALE), "v_reset")
    q["bias"] = _fit(F.BIAS, _round(p.bias * V_SCALE), "bias")
    q["alpha_v"] = _fit(F.DECAY, _round(p.alpha_v * F.DECAY_ONE), "alpha_v")
    q["alpha_i"] = _fit(F.DECAY, _round(p.alpha_i * F.DECAY_ONE), "alpha_i")
    q["refractory"] = p.refractory
    q["w_shift"] = ws
    q["reset_mode"] = np.where(p.subtract, ResetMode.SUBTRACT.value, ResetMode.VALUE.value)
    lq["alpha_x"] = _fit(F.DECAY, _round(p.alpha_x * F.DECAY_ONE), "alpha_x")
    lq["alpha_y"] = _fit(F.DECAY, _round(p.alpha_y * F.DECAY_ONE), "alpha_y")
    lq["x_inc"] = _fit(F.TRACE_INC, _round(p.x_inc * F.TRACE_ONE), "x_inc")
    lq["y_inc"] = _fit(F.TRACE_INC, _round(p.y_inc * F.TRACE_ONE), "y_inc")
    amp_scale = per_unit * (1 << F.AMP_FRAC)
    lq["a_plus"] = _fit(F.AMPLITUDE, _round(p.a_plus * amp_scale), "a_plus")
    lq["a_minus"] = _fit(F.AMPLITUDE, _round(p.a_minus * amp_scale), "a_minus")
    lq["w_min"] = _fit(F.WEIGHT, _round(p.w_min * per_unit), "w_min")
    lq["w_max"] = _fit(F.WEIGHT, _round(p.w_max * per_unit), "w_max")
    cfg.weights = _fit(F.WEIGHT, _round(p.weights * per_unit[None, :]), "weights")
    cfg.plastic = p.plastic.copy()
    return Quantised(cfg.validate(), ws, 1.0 / per_unit)

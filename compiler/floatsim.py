"""A float64 simulation of a network description: the compiler's yardstick.

:func:`simulate` steps the discretised equations of :mod:`plasticore.compiler.network` with
the *requested* parameters in double precision: no rounding, no saturation.  It mirrors the
core's order of operations (``docs/model.md``, section 4) exactly, so that the only
differences between it and the compiled program run on the reference are the ones the
:class:`~plasticore.compiler.QuantizationReport` lists.  The same input spikes are used
(:func:`~plasticore.compiler.lower.input_rasters`); refractory periods are the same whole
numbers of steps (no discrete simulation can do otherwise).
"""

from __future__ import annotations

import numpy as np

from .lower import _alpha, bias_gain, input_rasters
from .network import CompileError, Network

__all__ = ["simulate", "FloatResults"]


class FloatResults:
    """``spikes[pop]`` bool (steps, size) for every population, ``v[pop]`` volts (steps,
    size) for every LIF population, ``weights[proj]`` float (pre, post) at the end."""

    def __init__(self, spikes, v, weights):
        self.spikes, self.v, self.weights = spikes, v, weights

    def spike_counts(self):
        return {k: s.sum(axis=0) for k, s in self.spikes.items()}


def simulate(network: Network, steps=None, learning=None):
    """Simulate ``network`` in float64 for ``steps`` steps (default: its input length).

    ``learning``: ``None`` (on if any projection has an STDP rule), ``True`` or ``False``.
    """
    if not isinstance(network, Network):
        raise CompileError(f"simulate needs a Network, not {type(network).__name__}.")
    dt = network.dt
    rasters, in_steps, _, _ = input_rasters(network, steps)
    steps = in_steps if steps is None else int(steps)
    starts, k = {}, 0
    for p in network.populations.values():
        starts[p.name] = (k, k + p.size)
        k += p.size
    n = k
    a_m, a_s = np.zeros(n), np.zeros(n)
    theta = np.full(n, np.inf)
    reset_to, subtract = np.zeros(n), np.zeros(n, bool)
    bias, refr, v_rest = np.zeros(n), np.zeros(n, np.int64), np.zeros(n)
    forced = np.zeros((steps, n), bool)
    for p in network.populations.values():
        lo, hi = starts[p.name]
        if p.is_input:
            forced[:, lo:hi] = rasters[p.name][:steps]
            continue
        q = p.params
        a_m[lo:hi], a_s[lo:hi] = _alpha(q["tau_mem"], dt), _alpha(q["tau_syn"], dt)
        theta[lo:hi] = q["v_threshold"] - q["v_rest"]
        reset_to[lo:hi] = q["v_reset"] - q["v_rest"]
        subtract[lo:hi] = p.cell.reset == "subtract"
        bias[lo:hi] = bias_gain(q["tau_mem"], dt) * q["bias"]
        refr[lo:hi] = np.rint(q["tau_refrac"] / dt).astype(np.int64)
        v_rest[lo:hi] = q["v_rest"]

    w = np.zeros((n, n))
    plastic = np.zeros((n, n), bool)
    a_x, a_y = np.zeros(n), np.zeros(n)
    a_plus, a_minus = np.zeros(n), np.zeros(n)
    w_lo, w_hi = np.full(n, -np.inf), np.full(n, np.inf)
    for pr in network.projections.values():
        (r0, r1), (c0, c1) = starts[pr.pre.name], starts[pr.post.name]
        w[r0:r1, c0:c1] += np.where(pr.mask, pr.weights, 0.0)
        if pr.learning:
            plastic[r0:r1, c0:c1] |= pr.mask
            s = pr.stdp
            a_x[r0:r1] = _alpha(s.tau_plus, dt)
            a_y[c0:c1] = _alpha(s.tau_minus, dt)
            a_plus[c0:c1], a_minus[c0:c1] = s.A_plus, s.A_minus
            w_lo[c0:c1], w_hi[c0:c1] = s.w_min, s.w_max
    learn = plastic.any() if learning is None else bool(learning)

    v, i, acc = np.zeros(n), np.zeros(n), np.zeros(n)
    ref = np.zeros(n, np.int64)
    x, y = np.zeros(n), np.zeros(n)
    spk_all = np.zeros((steps, n), bool)
    v_all = np.zeros((steps, n))
    for t in range(steps):
        i = a_s * i + acc
        held = ref > 0
        v = np.where(held, v, a_m * v + i + bias)
        ref = ref - held
        spike = forced[t] | (~held & (v >= theta))
        v = np.where(spike, np.where(subtract, v - theta, reset_to), v)
        ref = np.where(spike, refr, ref)
        x = a_x * x + spike
        y_dec = a_y * y
        fired = np.flatnonzero(spike)
        acc = w[fired].sum(axis=0)
        if learn and fired.size:
            rows = w[fired]
            new = np.clip(rows - a_minus * y_dec, w_lo, w_hi)
            w[fired] = np.where(plastic[fired], new, rows)
            cols = w[:, fired]
            new = np.clip(cols + a_plus[fired] * x[:, None], w_lo[fired], w_hi[fired])
            w[:, fired] = np.where(plastic[:, fired], new, cols)
        y = y_dec + spike
        spk_all[t], v_all[t] = spike, v
    spikes, volts = {}, {}
    for p in network.populations.values():
        lo, hi = starts[p.name]
        spikes[p.name] = spk_all[:, lo:hi]
        if not p.is_input:
            volts[p.name] = v_rest[lo:hi] + v_all[:, lo:hi]
    weights = {}
    for pr in network.projections.values():
        (r0, r1), (c0, c1) = starts[pr.pre.name], starts[pr.post.name]
        weights[pr.name] = np.where(pr.mask, w[r0:r1, c0:c1], 0.0)
    return FloatResults(spikes, volts, weights)

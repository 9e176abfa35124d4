"""A compiled (numba) kernel for the reference model: the same integers, faster.

:class:`FastReference` is a :class:`~plasticore.sim.reference.Reference` whose
:meth:`~FastReference.step` runs one timestep in a numba-compiled loop over neurons and
synapses instead of NumPy array operations.  Everything else (construction, state, snapshots,
:meth:`~plasticore.sim.reference.Reference.run`) is inherited.  The NumPy model in
``sim/reference.py`` stays the specification; ``tests/test_fast_reference.py`` checks this
kernel against it, every state array and every weight after every step.

The kernel covers the pair rule to the weights with nearest rounding; a program with triplet
parameters, an eligibility target or stochastic rounding steps with the NumPy model (the
same integers, at NumPy's speed).

numba is optional (the ``bench`` extra): importing this module without it raises ImportError.
"""

from __future__ import annotations

import numba
import numpy as np

from plasticore import fixed as F

from .reference import Reference

__all__ = ["FastReference"]

_ONE_MINUS = F.DECAY_ONE - 1
_DECAY_FRAC = F.DECAY_FRAC
_STDP_SHIFT = F.STDP_SHIFT
_STDP_HALF = 1 << (F.STDP_SHIFT - 1)
_V_MIN, _V_MAX = F.V.min, F.V.max
_I_MIN, _I_MAX = F.I.min, F.I.max
_T_MIN, _T_MAX = F.TRACE.min, F.TRACE.max


@numba.njit(cache=True, inline="always")
def _decay(x, alpha):
    # F.decay: truncation toward zero; >> on int64 is an arithmetic (floor) shift
    return (x * alpha + (_ONE_MINUS if x < 0 else 0)) >> _DECAY_FRAC


@numba.njit(cache=True, inline="always")
def _clip(x, lo, hi):
    # np.clip(x, lo, hi) == min(max(x, lo), hi), also when lo > hi
    return min(max(x, lo), hi)


@numba.njit(cache=True, inline="always")
def _stdp_delta(amplitude, trace):
    return (amplitude * trace + _STDP_HALF) >> _STDP_SHIFT


@numba.njit(cache=True, inline="always")
def _reset(v, th, vr, sub, deferred):
    # the potential after a spike: SUBTRACT, DEFERRED (kept), VALUE
    if sub:
        return _clip(v - th, _V_MIN, _V_MAX)
    return v if deferred else vr


@numba.njit(cache=True)
def _step(v_old, i_old, acc_old, ref_old, x_old, y_old, force, learning, w, plastic,
          th, vr, bias, av, ai, tref, ws, sub, deferred, ax, xinc, ay, yinc, ap, am, wmin,
          wmax):
    """One timestep; returns the new (v, i, acc, ref, x, y, spike).  Mutates only ``w``."""
    n = v_old.shape[0]
    v = np.empty(n, np.int64)
    i = np.empty(n, np.int64)
    acc = np.zeros(n, np.int64)
    ref = np.empty(n, np.int64)
    x = np.empty(n, np.int64)
    y = np.empty(n, np.int64)
    spike = np.empty(n, np.bool_)
    fired = np.empty(n, np.int64)
    k = 0
    # 1. neuron update
    for q in range(n):
        cur = _clip(_decay(i_old[q], ai[q]) + (acc_old[q] << ws[q]), _I_MIN, _I_MAX)
        i[q] = cur
        refractory = ref_old[q] > 0
        if refractory:
            vq = v_old[q]
            rq = ref_old[q] - 1
        else:
            # DEFERRED: the reset of the last spike, subtracted after the decay
            late = th[q] if deferred[q] and v_old[q] > th[q] else 0
            vq = _clip(_decay(v_old[q], av[q]) + cur + bias[q] - late, _V_MIN, _V_MAX)
            rq = ref_old[q]
        s = force[q] or (not refractory and vq >= th[q] + deferred[q])
        if s:
            vq = _reset(vq, th[q], vr[q], sub[q], deferred[q])
            rq = tref[q]
            fired[k] = q
            k += 1
        v[q] = vq
        ref[q] = rq
        spike[q] = s
        x[q] = _clip(_decay(x_old[q], ax[q]) + (xinc[q] if s else 0), _T_MIN, _T_MAX)
        y[q] = _decay(y_old[q], ay[q])                 # y', bumped in 4.
    # 2. transmission, weights before learning
    for f in range(k):
        row = fired[f]
        for q in range(n):
            acc[q] += w[row, q]
    # 3. learning: depressions (rows of spiking pre), then potentiations (columns of post)
    if learning:
        for f in range(k):
            row = fired[f]
            for q in range(n):
                if plastic[row, q]:
                    w[row, q] = _clip(w[row, q] - _stdp_delta(am[q], y[q]), wmin[q], wmax[q])
        for row in range(n):
            xr = x[row]
            for f in range(k):
                col = fired[f]
                if plastic[row, col]:
                    w[row, col] = _clip(w[row, col] + _stdp_delta(ap[col], xr),
                                        wmin[col], wmax[col])
    # 4. post traces take this step's spikes
    for f in range(k):
        q = fired[f]
        y[q] = _clip(y[q] + yinc[q], _T_MIN, _T_MAX)
    return v, i, acc, ref, x, y, spike


class FastReference(Reference):
    """:class:`~plasticore.sim.reference.Reference` with a compiled :meth:`step`: bit for bit
    the same model.  The first step of a process compiles the kernel (or loads it from
    numba's cache next to this file)."""

    def step(self, forced=None, modulator=None):
        if self._general or self._any_mw or (modulator is not None and self._to_e.any()):
            # Triplet, eligibility, stochastic rounding, modulator neurons: the NumPy model.
            return super().step(forced, modulator)
        self.modulated = self._check_modulator(modulator) is not None
        force = self._forced_mask(forced)
        (self.v, self.i, self.acc, self.ref, self.x, self.y, spike) = _step(
            self.v, self.i, self.acc, self.ref, self.x, self.y, force, self.learning,
            self.weights, self.plastic,
            self._th, self._vr, self._bias, self._av, self._ai, self._tref, self._ws,
            self._sub, self._deferred, self._ax, self._xinc, self._ay, self._yinc, self._ap,
            self._am, self._wmin, self._wmax)
        self.spikes = spike
        # Without the triplet option's parameters the slow traces decay to 0 in one step
        # (alpha_x2 = alpha_y2 = 0) and never jump (x2_inc = y2_inc = 0).
        self.x2 = np.zeros(self.n, np.int64)
        self.y2 = np.zeros(self.n, np.int64)
        self.t += 1
        return spike

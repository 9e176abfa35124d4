"""The per-neuron quantisation of the float model's parameters, for
``tests/test_float_model.py``.

:func:`quantise` maps a :class:`~plasticore.compiler.floatsim.FloatParams` to a
:class:`~plasticore.core.CoreConfig` by rounding every real parameter to nearest in its
format, choosing one ``w_shift`` per post-synaptic neuron (column) so that its weights,
bounds and amplitudes use the finest weight LSB that still fits.  It raises
:class:`~plasticore.fixed.RangeError` rather than clipping.  Unlike the compiler (which
scales per population and rounds ties to even), it works neuron by neuron on parameters
already in the core's units, so the test can derive its error bounds from each rounding.

Units: ``V, I, bias, threshold, v_reset`` are real numbers with a threshold of 1.0 at
:data:`V_SCALE` LSBs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plasticore import fixed as F
from plasticore.compiler.floatsim import FloatParams
from plasticore.core import CoreConfig, CoreParams, ResetMode

__all__ = ["V_SCALE", "Quantised", "choose_w_shift", "quantise"]

#: Raw LSBs of V (and I, bias, threshold, v_reset) per real unit: a threshold of 1.0 is 2**16.
V_SCALE = 1 << 16


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

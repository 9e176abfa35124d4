"""Random and corner-biased networks and inputs, for the tests (and
``benchmarks/core_cycles.py``).

Uniform random values rarely hit the edges of a fixed-point datapath, and saturation bugs
live there.  :func:`corner_values` draws each value from its format's corners (both rails,
zero, +-1 around zero and around the rails) with probability ``corner``, uniformly
otherwise.  All functions take a :class:`numpy.random.Generator`, so every case is
reproducible from its seed.
"""

from __future__ import annotations

import numpy as np

from plasticore import fixed as F
from plasticore.core import CoreConfig, CoreParams

__all__ = ["corner_values", "random_config", "random_forced", "random_triplet"]


def corner_values(fmt: F.Format, size, rng: np.random.Generator, corner=0.3, lo=None, hi=None):
    """``size`` values of ``fmt`` in ``[lo, hi]`` (default: the format's range), a fraction
    ``corner`` of them taken from the corners of that range."""
    lo = fmt.min if lo is None else lo
    hi = fmt.max if hi is None else hi
    out = rng.integers(lo, hi, size=size, endpoint=True)
    corners = np.array(sorted({lo, hi, lo + 1, hi - 1, min(max(0, lo), hi),
                               min(max(1, lo), hi), min(max(-1, lo), hi)}))
    pick = rng.random(size) < corner
    out[pick] = rng.choice(corners, size=int(pick.sum()))
    return out.astype(np.int64)


def random_config(n, rng: np.random.Generator, corner=0.2, plastic_p=0.7):
    """A random network that exercises every parameter, with corner-biased values.

    Thresholds, weight shifts and biases are drawn so that neurons fire at a useful rate
    most of the time, while a fraction ``corner`` of every parameter sits at a corner of
    its format (which drives V, I and traces into their saturation rails).
    """
    cfg = CoreConfig(CoreParams(n))
    p, lp = cfg.neurons, cfg.learning
    scale = int(rng.integers(8, 18))                       # threshold ~ 2**scale
    p["threshold"] = np.where(rng.random(n) < corner,
                              corner_values(F.THRESHOLD, n, rng, 1.0),
                              rng.integers(1 << (scale - 2), 1 << scale, n))
    p["v_reset"] = np.where(rng.random(n) < corner, corner_values(F.V_RESET, n, rng, 1.0),
                            rng.integers(-(1 << (scale - 2)), 1 << (scale - 3), n))
    p["bias"] = np.where(rng.random(n) < corner, corner_values(F.BIAS, n, rng, 1.0),
                         rng.integers(-(1 << (scale - 5)), 1 << (scale - 3), n))
    p["alpha_v"] = corner_values(F.DECAY, n, rng, corner, lo=F.DECAY_ONE // 2)
    p["alpha_i"] = corner_values(F.DECAY, n, rng, corner)
    p["refractory"] = corner_values(F.REFRACTORY, n, rng, corner / 4, hi=4)
    p["w_shift"] = np.clip(rng.integers(scale - 9, scale - 4, n), 0, F.W_SHIFT.max)
    p["w_shift"] = np.where(rng.random(n) < corner, corner_values(F.W_SHIFT, n, rng, 1.0),
                            p["w_shift"])
    p["reset_mode"] = rng.integers(0, 3, n)             # VALUE, SUBTRACT, DEFERRED
    lp["alpha_x"] = corner_values(F.DECAY, n, rng, corner, lo=F.DECAY_ONE // 2)
    lp["alpha_y"] = corner_values(F.DECAY, n, rng, corner, lo=F.DECAY_ONE // 2)
    lp["x_inc"] = corner_values(F.TRACE_INC, n, rng, corner, hi=2 * F.TRACE_ONE)
    lp["y_inc"] = corner_values(F.TRACE_INC, n, rng, corner, hi=2 * F.TRACE_ONE)
    lp["a_plus"] = corner_values(F.AMPLITUDE, n, rng, corner, hi=64)
    lp["a_minus"] = corner_values(F.AMPLITUDE, n, rng, corner, hi=64)
    w_lo = corner_values(F.WEIGHT, n, rng, corner, hi=0)
    w_hi = corner_values(F.WEIGHT, n, rng, corner, lo=0)
    lp["w_min"], lp["w_max"] = w_lo, w_hi
    cfg.weights = corner_values(F.WEIGHT, (n, n), rng, corner)
    cfg.plastic = rng.random((n, n)) < plastic_p
    return cfg.validate()


def random_triplet(cfg: CoreConfig, rng: np.random.Generator, corner=0.2, pair_p=0.2,
                   rails=False) -> CoreConfig:
    """Give ``cfg`` random triplet STDP rules (its RULE_PARAMS triplet fields), corner-biased;
    a fraction ``pair_p`` of the neurons keeps ``a3 = 0`` (the pair rule).  ``rails``: decay
    factors 1.0 and every increment and amplitude at its maximum, so the slow traces
    saturate and the updates are the largest there are."""
    n, r = cfg.n, cfg.rules
    if rails:
        r["alpha_x2"] = r["alpha_y2"] = F.DECAY_ONE
        r["x2_inc"] = r["y2_inc"] = F.TRACE_INC.max
        r["a3_plus"] = r["a3_minus"] = F.AMPLITUDE.max
        return cfg.validate()
    r["alpha_x2"] = corner_values(F.DECAY, n, rng, corner, lo=F.DECAY_ONE // 2)
    r["alpha_y2"] = corner_values(F.DECAY, n, rng, corner, lo=F.DECAY_ONE // 2)
    r["x2_inc"] = corner_values(F.TRACE_INC, n, rng, corner, hi=2 * F.TRACE_ONE)
    r["y2_inc"] = corner_values(F.TRACE_INC, n, rng, corner, hi=2 * F.TRACE_ONE)
    pair = rng.random(n) < pair_p
    for name in ("a3_plus", "a3_minus"):
        r[name] = np.where(pair, 0, corner_values(F.AMPLITUDE, n, rng, corner, hi=64))
    return cfg.validate()


def random_forced(steps, n, rate, rng: np.random.Generator):
    """Bool array (steps, n): each neuron forced to fire with probability ``rate`` per step."""
    return rng.random((steps, n)) < rate

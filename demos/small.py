"""A small built-in network: two input patterns, four learning outputs with lateral inhibition."""

from __future__ import annotations

import numpy as np

from plasticore import fixed as F
from plasticore.core import CoreConfig, CoreParams, ResetMode

__all__ = ["small_network"]


def small_network(steps, seed=1, n=16):
    """Return ``(config, forced, groups)``.

    Inputs 0-5 (pattern A) and 6-11 (pattern B) are forced to fire at 30 % per step, the
    pattern alternating every 20 steps.  Outputs 12-15 integrate them through plastic
    weights (pair STDP, bounds [0, 100]) and inhibit each other through fixed weights.
    """
    rng = np.random.default_rng(seed)
    cfg = CoreConfig(CoreParams(n))
    inputs, outputs = np.arange(12), np.arange(12, 16)
    p, lp = cfg.neurons, cfg.learning
    p["threshold"] = 1 << 16
    p["alpha_v"] = round(F.DECAY_ONE * np.exp(-1 / 10))       # tau_mem = 10 steps
    p["alpha_i"] = round(F.DECAY_ONE * np.exp(-1 / 4))        # tau_syn = 4 steps
    p["refractory"] = 2
    p["w_shift"] = 6
    p["reset_mode"] = ResetMode.VALUE
    lp["alpha_x"] = lp["alpha_y"] = round(F.DECAY_ONE * np.exp(-1 / 8))
    lp["x_inc"] = lp["y_inc"] = F.TRACE_ONE
    lp["a_plus"], lp["a_minus"] = 3 * 16, 2 * 16               # 3 and 2 weight LSBs
    lp["w_min"], lp["w_max"] = 0, 100
    w = np.zeros((n, n), np.int64)
    w[np.ix_(inputs, outputs)] = rng.integers(20, 40, (12, 4))
    w[np.ix_(outputs, outputs)] = -90
    w[outputs, outputs] = 0
    cfg.weights = w
    cfg.plastic[np.ix_(inputs, outputs)] = True
    t = np.arange(steps)
    pattern_a = (t // 20) % 2 == 0
    forced = np.zeros((steps, n), bool)
    draw = rng.random((steps, 6)) < 0.3
    forced[pattern_a, 0:6] = draw[pattern_a]
    forced[~pattern_a, 6:12] = draw[~pattern_a]
    return cfg.validate(), forced, {"input": inputs, "output": outputs}

"""Benchmark workloads: networks whose activity is known, for measuring speed.

:func:`activity_config` is the network that ``benchmarks/`` run on every target (the
reference, the numba kernel, Brian2, the simulated board, the cycle counts of the gateware):
a recurrent network with STDP on every synapse that settles near 5 % of its neurons spiking
per step.  (The random and corner-biased networks of the tests are in ``tests/support``.)
"""

from __future__ import annotations

import numpy as np

from plasticore import fixed as F
from plasticore.core import CoreConfig, CoreParams

__all__ = ["activity_config"]


def activity_config(n, seed=0, all_plastic=True):
    """A network that settles near 5 % of neurons spiking per step, for benchmarks: bias
    drive, weak random excitatory/inhibitory weights, STDP on every synapse.

    The firing is set mostly by the bias (a neuron alone fires every 14-22 steps); the
    recurrent weights are scaled down (``w_shift = 2`` at N = 256) so that STDP, which moves
    them across their whole range [-64, 64], changes the activity only slowly.  Measured
    over 10,000 steps (seed 0): 5.1 % on average with N = 256 (4.7-5.7 % per quarter of the
    run), 5.1 % with N = 64 and N = 1024; ``benchmarks/reference_vs_brian2.py`` prints it."""
    rng = np.random.default_rng(seed)
    cfg = CoreConfig(CoreParams(n))
    p, lp = cfg.neurons, cfg.learning
    p["threshold"] = 1 << 16
    p["alpha_v"] = round(F.DECAY_ONE * np.exp(-1 / 20))
    p["alpha_i"] = round(F.DECAY_ONE * np.exp(-1 / 5))
    p["bias"] = rng.integers(5200, 7400, n)
    p["refractory"] = 2
    # the recurrent input grows with n (5 % of n spikes per step): keep it at N=256's scale
    p["w_shift"] = int(np.clip(2 + round(np.log2(256 / n)), 0, F.W_SHIFT.max))
    lp["alpha_x"] = lp["alpha_y"] = round(F.DECAY_ONE * np.exp(-1 / 20))
    lp["x_inc"] = lp["y_inc"] = F.TRACE_ONE
    lp["a_plus"], lp["a_minus"] = 16, 17
    lp["w_min"], lp["w_max"] = -64, 64
    cfg.weights = rng.integers(-64, 65, (n, n))
    cfg.plastic[:] = all_plastic
    return cfg.validate()

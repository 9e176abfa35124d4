"""The compiled kernel (sim/fast.py) against the NumPy reference, step by step.

Every step compares the spikes, every NEURON_STATE array and the whole weight matrix
(:class:`~plasticore.sim.reference.Snapshot` equality), on random and corner-biased networks
with learning on and off and with random forced spikes.
"""

import numpy as np
import pytest
from support.stimulus import corner_values, random_config, random_forced

from plasticore import fixed as F
from plasticore.sim import Reference
from plasticore.sim.workload import activity_config

pytest.importorskip("numba", reason="numba is not installed (pip install -e '.[bench]')")
from plasticore.sim.fast import FastReference  # noqa: E402


def assert_lockstep(cfg, steps, forced=None, learning=True, slow=None):
    slow = slow or Reference(cfg, learning=learning)
    fast = FastReference(cfg, learning=learning)
    fast.state = slow.state
    spikes = 0
    for k in range(steps):
        f = None if forced is None else forced[k]
        a, b = slow.step(f), fast.step(f)
        assert b.dtype == bool and np.array_equal(a, b), f"spikes differ at step {k}"
        sa, sb = slow.snapshot(), fast.snapshot()
        assert sa == sb, f"step {k}: {sa.diff(sb)[:3]}"
        spikes += int(a.sum())
    return spikes


@pytest.mark.parametrize("n", [8, 32, 256])
@pytest.mark.parametrize("corner", [0.0, 0.2, 0.5])
@pytest.mark.parametrize("learning", [True, False])
def test_random_configs(n, corner, learning):
    rng = np.random.default_rng([n, int(corner * 10), learning])
    steps = 200 if n == 256 else 300
    for rep in range(2 if n == 256 else 4):
        cfg = random_config(n, rng, corner=corner, plastic_p=[0.7, 1.0, 0.0, 0.3][rep])
        forced = random_forced(steps, n, [0.0, 0.02, 0.1, 0.5][rep], rng)
        if rep % 2:
            forced = [np.flatnonzero(f) for f in forced]      # index lists
        assert_lockstep(cfg, steps, forced, learning)


def test_crossed_weight_bounds():
    """w_min > w_max and weights outside the bounds: clip semantics of np.clip."""
    rng = np.random.default_rng(7)
    for n in (8, 32):
        cfg = random_config(n, rng, corner=0.3, plastic_p=0.8)
        cfg.learning["w_min"] = rng.integers(-128, 128, n)
        cfg.learning["w_max"] = rng.integers(-128, 128, n)
        assert_lockstep(cfg, 300, random_forced(300, n, 0.1, rng))


def test_state_at_the_rails():
    """Neuron state drawn from the corners of its formats (saturation of V, I, traces)."""
    rng = np.random.default_rng(11)
    for n in (8, 32):
        cfg = random_config(n, rng, corner=0.5)
        slow = Reference(cfg, learning=True)
        st = slow.state
        for name, fmt in (("v", F.V), ("i", F.I), ("acc", F.ACC), ("ref", F.REFRACTORY),
                          ("x", F.TRACE), ("y", F.TRACE)):
            st[name] = corner_values(fmt, n, rng, 0.8)
        slow.state = st
        assert_lockstep(cfg, 300, random_forced(300, n, 0.05, rng), slow=slow)


def test_benchmark_network():
    spikes = assert_lockstep(activity_config(256), 500)
    assert spikes > 0.02 * 256 * 500                 # it is the ~5 % network, not a silent one


def test_run_records_the_same():
    cfg = random_config(32, np.random.default_rng(3), corner=0.2)
    forced = random_forced(200, 32, 0.05, np.random.default_rng(4))
    a = Reference(cfg, learning=True).run(200, forced, record=("spikes", "v", "y"),
                                          weights_every=50)
    b = FastReference(cfg, learning=True).run(200, forced, record=("spikes", "v", "y"),
                                              weights_every=50)
    assert np.array_equal(a.spikes, b.spikes)
    assert all(np.array_equal(a.state[k], b.state[k]) for k in ("v", "y"))
    assert all(np.array_equal(p, q) for p, q in zip(a.weights, b.weights, strict=True))


def test_returned_arrays_are_not_reused():
    """Like Reference, a step replaces the state arrays instead of mutating them."""
    ref = FastReference(activity_config(32), learning=True)
    s0, v0 = ref.step(), ref.v
    copies = s0.copy(), v0.copy()
    for _ in range(5):
        ref.step()
    assert np.array_equal(s0, copies[0]) and np.array_equal(v0, copies[1])


def test_learning_options_equal_the_reference():
    """Programs with triplet parameters, eligibility targets, stochastic rounding and
    modulated steps (which the kernel hands to the NumPy step) give the reference's
    integers, slow traces and eligibilities included."""
    from test_learning_rules import random_program
    rng = np.random.default_rng(3)
    cfg = random_program(16, rng, rails=True)
    slow, fast = Reference(cfg, learning=True), FastReference(cfg, learning=True)
    for k in range(40):
        f = rng.random(16) < 0.3
        r = int(rng.integers(-128, 128)) if k % 3 else None
        assert np.array_equal(slow.step(f, r), fast.step(f, r))
        assert slow.snapshot() == fast.snapshot(), slow.snapshot().diff(fast.snapshot())

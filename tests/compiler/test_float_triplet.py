"""The float model's triplet terms (compiler.simulate's yardstick for TripletSTDP): by hand on
a spike pair and a triplet, A3 = 0 is the pair rule, and three-factor rules are refused."""

import numpy as np
import pytest

from plasticore.compiler import (
    LIF,
    STDP,
    CompileError,
    Network,
    SpikeTimes,
    ThreeFactor,
    TripletSTDP,
    simulate,
)
from plasticore.compiler.floatsim import FloatModel, FloatParams

AX, AY, AX2, AY2 = 0.9, 0.8, 0.95, 0.97


def model(a3_plus, a3_minus):
    """Neuron 0 -> neuron 1, plastic; both only ever forced."""
    p = FloatParams.make(2, weights=[[0, 0.5], [0, 0]], plastic=[[0, 1], [0, 0]],
                         threshold=1e9, alpha_x=AX, x_inc=1.0, alpha_y=AY, y_inc=1.0,
                         a_plus=0.01, a_minus=0.02, w_min=-10, w_max=10)
    p.alpha_x2, p.alpha_y2 = np.full(2, AX2), np.full(2, AY2)
    p.a3_plus, p.a3_minus = np.full(2, a3_plus), np.full(2, a3_minus)
    return FloatModel(p, learning=True)


def test_triplet_by_hand():
    """post at 0, pre at 2, post at 5, pre at 6: every update computed from the
    definition (slow traces read before their own step's bump)."""
    m = model(0.003, 0.004)
    w = 0.5
    m.step([1])                                          # post: x = 0, nothing
    m.step([])
    m.step([0])                                          # pre: y' = AY^2, x2' = 0
    w -= AY ** 2 * (0.02 + 0.004 * 0.0)
    assert m.weights[0, 1] == pytest.approx(w)
    m.step([]), m.step([])
    m.step([1])                                          # post: x = AX^3, y2' = AY2^5
    w += AX ** 3 * (0.01 + 0.003 * AY2 ** 5)
    assert m.weights[0, 1] == pytest.approx(w)
    m.step([0])                             # pre: y' = AY^6 + AY, x2' = AX2^4
    w -= (AY ** 6 + AY) * (0.02 + 0.004 * AX2 ** 4)
    assert m.weights[0, 1] == pytest.approx(w)
    assert m.x2[0] == pytest.approx(AX2 ** 4 + 1)
    assert m.y2[1] == pytest.approx(AY2 ** 6 + AY2)


def test_triplet_with_a3_zero_is_the_pair_rule():
    rng = np.random.default_rng(0)
    forced = rng.random((200, 2)) < 0.3
    a, b = model(0.0, 0.0), model(0.0, 0.0)
    b.p.a3_plus = b.p.alpha_x2 = b.p.alpha_y2 = b.p.a3_minus = None    # no triplet terms
    for row in forced:
        a.step(row), b.step(row)
    assert a.weights[0, 1] == b.weights[0, 1]


def network(rule):
    net = Network(dt=1e-3, duration=0.05)
    inp = net.inputs("in", 2, SpikeTimes([[0.002, 0.01, 0.02], [0.004, 0.03]]))
    out = net.population("out", 1, LIF(tau_mem=20e-3, v_threshold=1.0, v_rest=0.0,
                                       v_reset=0.0))
    net.connect(inp, out, [(0, 0, 1.2), (1, 0, 0.5)], stdp=rule, name="p")
    return net


def test_simulate_runs_triplet_and_refuses_three_factor():
    pair = dict(tau_plus=10e-3, tau_minus=10e-3, A_plus=0.05, A_minus=0.04, w_min=0,
                w_max=2)
    a = simulate(network(STDP(**pair))).weights["p"]
    b = simulate(network(TripletSTDP(**pair))).weights["p"]
    c = simulate(network(TripletSTDP(**pair, A3_plus=0.05))).weights["p"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(CompileError, match=r"Projection 'p': the float model has no "
                                           r"three-factor learning"):
        simulate(network(ThreeFactor(STDP(**pair))))

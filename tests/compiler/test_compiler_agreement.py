"""A compiled network on the bit-exact reference agrees with the float simulation of its
description, within the tolerance that the compiler's report states."""

import numpy as np
import pytest
from compiler_nets import feedforward, recurrent

from plasticore.compiler import (
    LIF,
    STDP,
    Network,
    OneToOne,
    SpikeTimes,
    compile,
    simulate,
)


def _check_counts(net, program, results, floats):
    report = program.report
    for name, spikes in results.spikes.items():
        q = spikes.sum(axis=0)
        f = floats.spikes[name].sum(axis=0)
        allowed = report.allowed_deviation(f)
        assert np.all(np.abs(q - f) <= allowed), (name, q, f, allowed)
    return report


@pytest.mark.parametrize("reset", ["value", "subtract"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_feedforward_spike_counts(seed, reset):
    net = feedforward(seed=seed, reset=reset)
    program = compile(net)
    res, fl = program.run(), simulate(net)
    report = _check_counts(net, program, res, fl)
    assert report.drive_error < 0.01
    assert res.spikes["exc"].sum() > 50             # the test is not vacuous


def test_recurrent_spike_counts():
    net = recurrent()
    program = compile(net)
    res, fl = program.run(), simulate(net)
    _check_counts(net, program, res, fl)
    assert res.spikes["inh"].sum() > 20


def test_membrane_potential_tracks_float_before_first_divergence(ff):
    program = compile(ff)
    res, fl = program.run(), simulate(ff)
    same = np.all(res.spikes["exc"] == fl.spikes["exc"], axis=1)
    first = int(np.argmin(same)) if not same.all() else len(same)
    assert first > 20
    theta = 15e-3
    # weight rounding (< 1 % of each weight here) is all that separates them
    assert np.abs(res.v["exc"][:first] - fl.v["exc"][:first]).max() < 0.02 * theta


def test_integrator_and_bias_only():
    """IF neurons (tau_mem = inf) driven by a bias fire at the exact float rate."""
    net = Network(dt=1e-3, duration=0.5)
    p = net.population("if", 3, LIF(tau_mem=np.inf, tau_syn=0.0, v_threshold=1.0,
                                    bias=[10.0, 33.0, 97.0], reset="subtract"))
    p.record("spikes", "v")
    program = compile(net)
    res, fl = program.run(), simulate(net)
    q, f = res.spikes["if"].sum(0), fl.spikes["if"].sum(0)
    assert list(f) == [5, 16, 48]
    assert np.all(np.abs(q - f) <= program.report.allowed_deviation(f))


def test_delta_synapse_is_exact_voltage_jump():
    """tau_syn = 0: a spike raises v by exactly w one step later (the model's definition)."""
    net = Network(dt=1e-3)
    inp = net.inputs("in", 1, SpikeTimes([[0.002]]))
    post = net.population("p", 1, LIF(tau_mem=np.inf, tau_syn=0.0, v_threshold=1.0))
    net.connect(inp, post, OneToOne(0.25))
    post.record("v")
    program = compile(net, steps=6)
    res, fl = program.run(), simulate(net, steps=6)
    np.testing.assert_allclose(fl.v["p"][:, 0], [0, 0, 0, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(res.v["p"][:, 0], fl.v["p"][:, 0], atol=2 ** -16)


def test_learning_weights_follow_float():
    """With STDP on, the learned weights stay close to the float rule's (each update is
    rounded to whole weight LSBs on the core, so only approximately)."""
    net = feedforward(duration=0.3, stdp=STDP(tau_plus=15e-3, tau_minus=20e-3, A_plus=2e-4,
                                              A_minus=2.2e-4, w_min=0.0, w_max=4e-3))
    net.projections["in->exc"].record_weights(every=100)
    program = compile(net)
    assert program.learning
    res, fl = program.run(), simulate(net)
    w0 = net.projections["in->exc"].weights
    wq, wf = res.weights["in->exc"], fl.weights["in->exc"]
    assert res.weight_history["in->exc"].shape == (3, 30, 10)
    assert not np.allclose(wf, w0)                    # learning happened
    lsb = program.report.scales["exc"]["weight_lsb"]
    change_q, change_f = wq - w0, wf - w0
    assert np.corrcoef(change_q.ravel(), change_f.ravel())[0, 1] > 0.8
    assert np.abs(wq - wf).mean() < 4 * lsb

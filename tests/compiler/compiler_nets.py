"""Networks shared by the compiler tests."""

import numpy as np

from plasticore.compiler import LIF, AllToAll, FixedProbability, Network, Poisson


def feedforward(seed=1, duration=0.4, stdp=None, reset="value", tau_syn=5e-3):
    net = Network(dt=1e-3, duration=duration, name="ff")
    inp = net.inputs("in", 30, Poisson(rate=40.0, seed=seed))
    exc = net.population("exc", 10, LIF(tau_mem=20e-3, tau_syn=tau_syn, v_rest=-65e-3,
                                        v_reset=-70e-3, v_threshold=-50e-3, tau_refrac=2e-3,
                                        reset=reset))
    rng = np.random.default_rng(seed)
    net.connect(inp, exc, FixedProbability(0.6, rng.uniform(0.5e-3, 3e-3, (30, 10)),
                                           seed=seed), stdp=stdp, name="in->exc")
    exc.record("spikes", "v")
    return net


def recurrent(seed=2):
    net = Network(dt=0.5e-3, duration=0.3, name="rec")
    inp = net.inputs("in", 20, Poisson(rate=50.0, seed=seed))
    exc = net.population("exc", 24, LIF(tau_mem=15e-3, tau_syn=3e-3, v_threshold=1.0,
                                        tau_refrac=1e-3, bias=20.0))
    inh = net.population("inh", 6, LIF(tau_mem=8e-3, tau_syn=2e-3, v_threshold=1.0,
                                       reset="subtract"))
    net.connect(inp, exc, FixedProbability(0.3, 0.35, seed=seed))
    net.connect(exc, exc, FixedProbability(0.1, 0.05, seed=seed + 1,
                                           allow_self_connections=False))
    net.connect(exc, inh, AllToAll(0.12))
    net.connect(inh, exc, AllToAll(-0.08))
    for p in (exc, inh):
        p.record("spikes", "v")
    return net

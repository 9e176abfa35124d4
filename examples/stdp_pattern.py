"""Example network for ``plasticore compile``: Poisson inputs, learning excitatory neurons
with lateral inhibition.

    plasticore compile examples/stdp_pattern.py -o out/stdp.npz
    plasticore run out/stdp.npz --target ref -o out/stdp-results.npz

``plasticore compile`` runs this file and takes its module-level ``network`` (a
:class:`plasticore.compiler.Network`); a file may instead define ``build()`` returning one.
Units: seconds, volts, volts per second for bias, weights in volts (the jump of the synaptic
current that is added to the membrane potential each step).
"""

from plasticore.compiler import (
    LIF,
    STDP,
    AllToAll,
    FixedProbability,
    Network,
    Poisson,
)

network = Network(dt=1e-3, duration=1.0, name="stdp_pattern")

inputs = network.inputs("inputs", 64, Poisson(rate=20.0, seed=7))
exc = network.population("exc", 16, LIF(
    tau_mem=20e-3, tau_syn=5e-3, v_rest=-65e-3, v_reset=-65e-3, v_threshold=-52e-3,
    tau_refrac=2e-3, bias=0.0))
inh = network.population("inh", 4, LIF(
    tau_mem=10e-3, tau_syn=5e-3, v_rest=-65e-3, v_reset=-65e-3, v_threshold=-55e-3,
    tau_refrac=1e-3, reset="subtract"))

learn = network.connect(inputs, exc, FixedProbability(0.5, 1.5e-3, seed=3),
                        stdp=STDP(tau_plus=20e-3, tau_minus=20e-3, A_plus=1e-4,
                                  A_minus=1.05e-4, w_min=0.0, w_max=3e-3),
                        name="in->exc")
network.connect(exc, inh, AllToAll(2e-3))
network.connect(inh, exc, AllToAll(-3e-3))

exc.record("spikes", "v")
inh.record("spikes")
learn.record_weights(every=250)

"""plasticore.pynn: PyNN's API on the core (needs the ``pynn`` extra)."""

import numpy as np
import pytest

pytest.importorskip("pyNN")
neo = pytest.importorskip("neo")

import plasticore.pynn as sim  # noqa: E402
from plasticore.core import ResetMode  # noqa: E402


@pytest.fixture(autouse=True)
def fresh():
    sim.setup(timestep=1.0)
    yield
    sim.end()


def spikes(pop):
    return [np.asarray(st.magnitude).tolist() for st in pop.get_data().segments[-1].spiketrains]


def test_delta_synapse_is_a_jump_of_v_one_step_later():
    """IF_curr_delta, no leak to speak of: v jumps by the weight in the step after the
    source spike (spike at 3 ms: emitted in the step ending at 3 ms, acting in the next)."""
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[3.0, 4.0, 9.0]))
    cell = sim.Population(1, sim.IF_curr_delta(tau_m=1e9, v_rest=0.0, v_reset=0.0,
                                                v_thresh=2.5, tau_refrac=0.0),
                          initial_values={"v": 0.0})
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    cell.record(["spikes", "v"])
    src.record("spikes")
    sim.run(12.0)
    v = cell.get_data().segments[0].analogsignals[0].magnitude[:, 0]
    assert len(v) == 13                                   # t = 0 .. 12 ms
    # 1 mV is 0.4 thresholds: an 8-bit weight of 102 x 2**8 LSB, 0.9961 mV
    np.testing.assert_allclose(v[:6], [0, 0, 0, 0, 1, 2], atol=0.01)
    assert spikes(src) == [[3.0, 4.0, 9.0]]
    assert spikes(cell) == [[10.0]]                       # 2 + 1 > 2.5: fires, resets to 0
    assert v[10] == pytest.approx(0.0, abs=1e-4)


def test_source_delays_are_exact_whole_steps():
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[2.0]))
    cell = sim.Population(1, sim.IF_curr_delta(tau_m=1e9, v_rest=0.0, v_thresh=0.5,
                                                v_reset=0.0, tau_refrac=0.0),
                          initial_values={"v": 0.0})
    sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=4.0))
    cell.record("spikes")
    sim.run(10.0)
    assert spikes(cell) == [[6.0]]


def test_runs_in_pieces_equal_one_run_and_reset_starts_a_segment():
    def build():
        src = sim.Population(5, sim.SpikeSourcePoisson(rate=200.0))
        cell = sim.Population(8, sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=5.0))
        sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0))
        sim.Projection(cell, cell, sim.FixedProbabilityConnector(0.3, rng=sim.NumpyRNG(1)),
                       sim.StaticSynapse(weight=-0.5), receptor_type="inhibitory")
        cell.record(["spikes", "v"])
        return cell

    sim.setup(timestep=0.5, rng_seed=3)
    cell = build()
    sim.run(100.0)
    whole = spikes(cell)
    sim.setup(timestep=0.5, rng_seed=3)
    cell = build()
    sim.run(40.0)
    sim.run(60.0)
    assert spikes(cell) == whole
    assert sum(map(len, whole)) > 10
    sim.reset()
    sim.run(20.0)
    block = cell.get_data()
    assert len(block.segments) == 2
    assert block.segments[1].analogsignals[0].shape == (41, 8)


def test_connectors_give_the_core_the_same_synapses():
    sim.setup(timestep=1.0)
    a = sim.Population(4, sim.SpikeSourceArray(spike_times=[1.0]))
    b = sim.Population(4, sim.IF_curr_delta(tau_refrac=0.0))
    c = sim.Population(3, sim.IF_curr_delta(tau_refrac=0.0))
    p1 = sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0))
    p2 = sim.Projection(b, c, sim.FromListConnector([(0, 1, 2.0, 1.0), (3, 2, 4.0, 1.0)]))
    p3 = sim.Projection(a, c, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5))
    sim.run(1.0)
    prog = sim.simulator.state.engine.program
    for proj, pre_name in ((p1, None), (p2, None), (p3, None)):
        del pre_name
        w = proj.get("weight", format="array")
        assert np.isfinite(w).sum() == len(proj)
    # the core's weights between a and b: the diagonal only
    rows = prog.population_indices("src0-delay1")
    cols = prog.population_indices(b.label)
    assert np.array_equal(prog.config.weights[np.ix_(rows, cols)] != 0, np.eye(4, dtype=bool))


def test_reset_mode_is_the_value_reset():
    sim.Population(2, sim.IF_curr_exp(tau_syn_E=2.0, tau_syn_I=2.0, i_offset=1.0))
    sim.run(5.0)
    prog = sim.simulator.state.engine.program
    assert (prog.config.neurons["reset_mode"][:2] == ResetMode.VALUE.value).all()


def test_stdp_potentiates_pre_before_post():
    """A source fires 2 ms before a driver makes the neuron fire: the plastic weight
    grows (PyNN's additive rule, dw = w_max * A_plus * trace), within its bounds."""
    sim.setup(timestep=1.0)
    times = [10.0, 40.0, 70.0, 100.0]
    pre = sim.Population(1, sim.SpikeSourceArray(spike_times=times))
    drive = sim.Population(1, sim.SpikeSourceArray(spike_times=[t + 2 for t in times]))
    post = sim.Population(1, sim.IF_curr_delta(v_rest=0.0, v_reset=0.0, v_thresh=1.0,
                                                tau_refrac=0.0), initial_values={"v": 0.0})
    rule = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.1,
                                            A_minus=0.05),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.5),
        weight=0.1, delay=1.0)
    plastic = sim.Projection(pre, post, sim.AllToAllConnector(), rule)
    sim.Projection(drive, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=5.0))
    post.record("spikes")
    sim.run(120.0)
    assert len(spikes(post)[0]) == 4
    w = plastic.get("weight", format="array")[0, 0]
    assert 0.1 < w <= 0.5


@pytest.mark.parametrize("make, words", [
    (lambda: sim.IF_cond_exp(), "e_rev_E"),
    (lambda: sim.Izhikevich(), "a, b, c, d"),
    (lambda: sim.IF_curr_alpha(), "alpha"),
    (lambda: sim.DCSource(amplitude=1.0), "current injection"),
])
def test_other_models_are_refused_by_name(make, words):
    with pytest.raises(NotImplementedError, match=words):
        make()


def test_two_synaptic_time_constants_are_refused():
    sim.Population(2, sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=10.0))
    with pytest.raises(NotImplementedError, match=r"tau_syn_E \(5.0 ms\) must equal tau_syn_I"):
        sim.run(1.0)


def test_delays_between_neurons_are_one_step():
    a = sim.Population(2, sim.IF_curr_delta())
    sim.Projection(a, a, sim.AllToAllConnector(allow_self_connections=False),
                   sim.StaticSynapse(weight=1.0, delay=2.0))
    with pytest.raises(NotImplementedError, match=r"delay 2.0 ms must be one timestep"):
        sim.run(1.0)


def test_non_additive_stdp_is_refused():
    with pytest.raises(NotImplementedError, match="MultiplicativeWeightDependence"):
        sim.MultiplicativeWeightDependence()


def test_changes_after_run_need_reset():
    a = sim.Population(2, sim.IF_curr_delta())
    sim.run(1.0)
    with pytest.raises(NotImplementedError, match="needs reset"):
        a.set(v_thresh=-40.0)
    sim.reset()
    a.set(v_thresh=-40.0)
    sim.run(1.0)


def test_virtual_target_gives_the_same_spikes():
    out = {}
    for target in ("ref", "virtual"):
        sim.setup(timestep=0.5, target=target, rng_seed=5, neurons=64)
        src = sim.Population(6, sim.SpikeSourcePoisson(rate=150.0))
        cell = sim.Population(10, sim.IF_curr_exp(tau_syn_E=3.0, tau_syn_I=3.0))
        sim.Projection(src, cell, sim.FixedProbabilityConnector(0.6, rng=sim.NumpyRNG(2)),
                       sim.StaticSynapse(weight=3.0))
        cell.record(["spikes", "v"])
        sim.run(50.0)
        seg = cell.get_data().segments[0]
        out[target] = (spikes(cell), seg.analogsignals[0].magnitude.copy())
    assert out["ref"][0] == out["virtual"][0]
    np.testing.assert_array_equal(out["ref"][1], out["virtual"][1])
    assert sum(map(len, out["ref"][0])) > 0

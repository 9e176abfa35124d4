"""Allocation, scaling, quantisation, the report, strict mode and every error path of the
description and the lowering."""

import math

import numpy as np
import pytest
from compiler_nets import feedforward

from plasticore import fixed as F
from plasticore.compiler import (
    LIF,
    STDP,
    AllToAll,
    CompileError,
    Dense,
    FixedProbability,
    Network,
    OneToOne,
    Poisson,
    Sparse,
    SpikeRaster,
    SpikeTimes,
    compile,
)
from plasticore.core import ResetMode


def small(dt=1e-3):
    net = Network(dt=dt, duration=0.05)
    inp = net.inputs("in", 4, Poisson(rate=100.0, seed=0))
    out = net.population("out", 3, LIF(tau_mem=10e-3, tau_syn=2e-3, v_threshold=1.0))
    return net, inp, out


# -- allocation and the image ---------------------------------------------------------------

def test_allocation_is_contiguous_and_unused_neurons_are_silent():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(0.4))
    out.record("spikes")
    prog = compile(net, n=16)
    assert prog.populations == {"in": {"start": 0, "stop": 4, "input": True},
                                "out": {"start": 4, "stop": 7, "input": False}}
    th = prog.config.neurons["threshold"]
    assert np.all(th[7:] == F.THRESHOLD.max) and np.all(th[:4] == F.THRESHOLD.max)
    assert np.all(prog.config.weights[7:] == 0) and np.all(prog.config.weights[:, 7:] == 0)
    assert list(prog.input_index) == [0, 1, 2, 3]
    res = prog.run(60)
    assert res.spikes["out"].any()


def test_threshold_lands_at_2_16_and_smallest_shift_is_chosen():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(0.4))
    prog = compile(net)
    sc = prog.report.scales["out"]
    assert sc["k"] == 16
    # 0.4 threshold = 26214 LSB of V: 2**8 = 256 -> 102.4 fits, 2**7 -> 204.8 does not
    assert sc["w_shift"] == 8
    assert prog.config.neurons["threshold"][4] == 1 << 16
    assert np.all(prog.config.weights[:4, 4:7] == 102)


def test_tiny_weights_raise_k_for_resolution():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(2e-4))            # 13 LSB at k = 16
    prog = compile(net)
    sc = prog.report.scales["out"]
    assert sc["k"] == 18 and sc["w_shift"] == 0
    assert prog.config.weights[0, 4] == round(2e-4 * 2 ** 18)


def test_huge_weights_lower_k_with_a_warning():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(100.0))           # 100 thresholds
    prog = compile(net)
    assert prog.report.scales["out"]["k"] < 16
    assert any("instead of 2^16" in w for w in prog.report.warnings)


def test_weights_beyond_any_scale():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(1e6))
    with pytest.raises(CompileError, match="beyond any representable scale"):
        compile(net)


def test_realised_parameters_and_report():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(0.4))
    prog = compile(net)
    cfg = prog.config
    assert cfg.neurons["alpha_v"][4] == round(math.exp(-0.1) * 32768)
    assert cfg.neurons["alpha_i"][4] == round(math.exp(-0.5) * 32768)
    assert cfg.neurons["reset_mode"][4] == ResetMode.VALUE.value
    entries = {(e["where"], e["parameter"]): e for e in prog.report.entries}
    e = entries[("out", "tau_mem")]
    assert e["requested"] == 0.01 and abs(e["realised"] - 0.01) < 1e-5
    assert e["rel_error"] == pytest.approx(abs(e["realised"] - 0.01) / 0.01)
    w = prog.report.weights["in->out"]
    assert w["synapses"] == 12 and w["rounded_to_zero"] == 0 and w["clipped"] == 0
    assert w["worst_rel_error"] == pytest.approx(abs(102 * 2 ** 8 / 2 ** 16 - 0.4) / 0.4)
    assert "drive error" in prog.report.format()


def test_v_rest_reset_bias_and_lif_without_synaptic_current():
    net = Network(dt=1e-3, duration=0.01)
    p = net.population("p", 2, LIF(tau_mem=20e-3, tau_syn=0.0, v_rest=-0.065,
                                   v_threshold=-0.050, v_reset=-0.070, bias=0.5,
                                   reset="subtract", tau_refrac=3e-3))
    prog = compile(net)
    n = prog.config.neurons
    assert n["alpha_i"][0] == 0
    assert n["threshold"][0] == 1 << 16
    assert n["v_reset"][0] == round(-0.005 / 0.015 * 2 ** 16)
    gain = 20e-3 * (1 - math.exp(-1 / 20))
    assert n["bias"][0] == round(0.5 * gain / 0.015 * 2 ** 16)
    assert n["refractory"][0] == 3
    assert n["reset_mode"][0] == ResetMode.SUBTRACT.value
    assert prog.v_offset[0] == -0.065
    del p


def test_rounded_to_zero_weights_are_counted():
    net, inp, out = small()
    w = np.full((4, 3), 0.5)
    w[0, 0] = 1e-7
    net.connect(inp, out, Dense(w))
    prog = compile(net)
    assert prog.report.weights["in->out"]["rounded_to_zero"] == 1
    assert any("rounded to zero" in m for m in prog.report.warnings)
    with pytest.raises(CompileError, match="rounded to zero"):
        compile(net, strict=True)


def test_strict_mode_refuses_lossy_mappings():
    net, inp, out = small()
    net.connect(inp, out, AllToAll(0.4))
    compile(net, strict=True, tolerance=0.01)
    with pytest.raises(CompileError, match="Strict mode.*tolerance 1e-06"):
        compile(net, strict=True, tolerance=1e-6)
    net2 = Network(dt=1e-3)
    net2.population("p", 1, LIF(tau_refrac=2.4e-3))
    with pytest.raises(CompileError, match="tau_refrac"):
        compile(net2, strict=True)


def test_stdp_parameters():
    net, inp, out = small()
    rule = STDP(tau_plus=16e-3, tau_minus=30e-3, A_plus=0.01, A_minus=0.0125, w_min=-0.1,
                w_max=0.5)
    net.connect(inp, out, AllToAll(0.2), stdp=rule)
    prog = compile(net)
    lp = prog.config.learning
    lsb = prog.report.scales["out"]["weight_lsb"]
    assert lp["alpha_x"][0] == round(math.exp(-1 / 16) * 32768) and lp["alpha_x"][4] == 0
    assert lp["alpha_y"][4] == round(math.exp(-1 / 30) * 32768) and lp["alpha_y"][0] == 0
    assert lp["x_inc"][0] == F.TRACE_ONE and lp["y_inc"][4] == F.TRACE_ONE
    assert lp["a_plus"][4] == round(0.01 / lsb * 16)
    assert lp["w_max"][4] == round(0.5 / lsb) and lp["w_min"][4] == round(-0.1 / lsb)
    assert prog.config.plastic[:4, 4:7].all() and prog.config.plastic.sum() == 12
    assert prog.learning


# -- errors: nothing is built ----------------------------------------------------------------

def test_too_many_neurons():
    net = Network(dt=1e-3)
    net.population("a", 200)
    net.population("b", 100)
    with pytest.raises(CompileError, match="needs 300 neurons.*target core has 256"):
        compile(net)
    compile(net, n=512)
    with pytest.raises(CompileError, match="Bad target size"):
        compile(net, n=5000)


@pytest.mark.parametrize("kw, msg", [
    ({"tau_mem": 0.0}, "tau_mem must be a positive time"),
    ({"tau_mem": -1e-3}, "tau_mem must be a positive time"),
    ({"tau_syn": -1e-3}, "tau_syn must be a non-negative time"),
    ({"tau_mem": float("nan")}, "tau_mem must be finite"),
    ({"v_threshold": float("inf")}, "v_threshold must be finite"),
    ({"bias": [1.0, 2.0]}, "bias must be a scalar or have 3 entries"),
    ({"v_threshold": -1.0}, "v_threshold .* must be above v_rest"),
    ({"reset": "zero"}, "reset must be 'value', 'subtract' or 'deferred'"),
    ({"tau_refrac": 1.0}, "at most 255 steps"),
    ({"v_reset": -500.0}, "v_reset of neuron 0 is .* outside"),
])
def test_bad_neuron_parameters(kw, msg):
    net = Network(dt=1e-3)
    with pytest.raises(CompileError, match=msg):
        net.population("p", 3, LIF(**kw))
        compile(net)


def test_bad_network_parameters():
    with pytest.raises(CompileError, match="dt must be a positive time"):
        Network(dt=0)
    with pytest.raises(CompileError, match="dt must be finite"):
        Network(dt=float("nan"))
    net = Network(dt=1e-3)
    with pytest.raises(CompileError, match="positive integer"):
        net.population("p", 0)
    net.population("p", 2)
    with pytest.raises(CompileError, match="already exists"):
        net.population("p", 2)
    with pytest.raises(CompileError, match="must be a non-empty name"):
        net.population("bad name", 2)


def test_unknown_populations():
    net, inp, out = small()
    other = Network(dt=1e-3).population("stranger", 3)
    with pytest.raises(CompileError, match="Unknown population 'nope'"):
        net.connect("nope", out, AllToAll(0.1))
    with pytest.raises(CompileError, match="Unknown population 'stranger'.*not part of"):
        net.connect(inp, other, AllToAll(0.1))
    with pytest.raises(CompileError, match="Unknown population 'ghost'"):
        net.record("ghost", "spikes")
    net.connect("in", "out", AllToAll(0.1))


@pytest.mark.parametrize("conn, msg", [
    (Dense(np.ones((3, 3))), r"shape \(3, 3\), but the populations need \(4, 3\)"),
    (Dense(np.full((4, 3), np.nan)), "weight matrix must be finite"),
    (AllToAll(np.ones((2, 2))), r"weight has shape \(2, 2\)"),
    (AllToAll(float("inf")), "weight must be finite"),
    (OneToOne(0.1), "OneToOne needs populations of equal size"),
    (Sparse([(0, 5, 0.1)]), "post index 5, outside"),
    (Sparse([(0, 1, 0.1), (0, 1, 0.2)]), "listed twice"),
    (Sparse([(0, 1)]), "must be \\(pre, post, weight\\)"),
    ("all", "connectivity must be a connector"),
])
def test_bad_connectivity(conn, msg):
    net, inp, out = small()
    with pytest.raises(CompileError, match=msg):
        net.connect(inp, out, conn)


def test_connectivity_forms():
    net, inp, out = small()
    a = net.connect(inp, out, [(0, 0, 0.1), (3, 2, -0.2)], name="sparse")
    assert a.mask.sum() == 2 and a.weights[3, 2] == -0.2
    b = net.connect(out, out, AllToAll(0.1, allow_self_connections=False), name="rec")
    assert b.mask.sum() == 6
    c = net.connect(inp, out, FixedProbability(0.5, 0.1, seed=4), name="fp")
    d = Network(dt=1e-3)
    d.inputs("in", 4)
    d.population("out", 3)
    e = d.connect("in", "out", FixedProbability(0.5, 0.1, seed=4))
    assert np.array_equal(c.mask, e.mask)               # seeded
    with pytest.raises(CompileError, match="probability must be in"):
        FixedProbability(1.5, 0.1, seed=1)
    with pytest.raises(CompileError, match=r"both connect in\[3\] to out\[2\]"):
        compile(net)                                     # 'sparse' and 'fp' share (3, 2)
    del d


def test_inputs_cannot_receive_and_must_match_size():
    net, inp, out = small()
    with pytest.raises(CompileError, match="is an input population"):
        net.connect(out, inp, AllToAll(0.1))
    with pytest.raises(CompileError, match="spike source describes 2"):
        net.inputs("x", 3, Poisson(rate=[1.0, 2.0], seed=1))
    with pytest.raises(CompileError, match="has 3 neurons, but its spike source describes 2"):
        net.inputs("y", 3, SpikeTimes([[0.0], [0.001]]))
    with pytest.raises(CompileError, match="must be >= 0"):
        SpikeTimes([[-0.001]])
    with pytest.raises(CompileError, match="2-D"):
        SpikeRaster(np.zeros(5))
    with pytest.raises(CompileError, match="more than one spike per step"):
        n2 = Network(dt=1e-3, duration=0.01)
        n2.inputs("p", 2, Poisson(rate=2000.0, seed=1))
        compile(n2)
    with pytest.raises(CompileError, match="needs a stop time or a network duration"):
        n3 = Network(dt=1e-3)
        n3.inputs("p", 2, Poisson(rate=20.0, seed=1))
        compile(n3)


def test_spike_times_are_rounded_and_merged():
    net = Network(dt=1e-3)
    net.inputs("in", 2, SpikeTimes([[0.0014, 0.0016, 0.0021], [0.004]]))
    prog = compile(net)
    assert prog.input_steps == 5
    assert np.argwhere(prog.input_raster).tolist() == [[1, 0], [2, 0], [4, 1]]
    assert any("merged" in w for w in prog.report.warnings)
    assert prog.report.timing_error == pytest.approx(0.0004)


def test_one_rule_per_post_population_and_one_tau_plus_per_pre():
    net, inp, out = small()
    inp2 = net.inputs("in2", 2, Poisson(rate=10.0, seed=1))
    net.connect(inp, out, AllToAll(0.1), stdp=STDP(A_plus=0.01))
    net.connect(inp2, out, AllToAll(0.1), stdp=STDP(A_plus=0.02))
    with pytest.raises(CompileError, match="both end in population 'out'.*different STDP"):
        compile(net)
    net, inp, out = small()
    out2 = net.population("out2", 2)
    net.connect(inp, out, AllToAll(0.1), stdp=STDP(tau_plus=10e-3))
    net.connect(inp, out2, AllToAll(0.1), stdp=STDP(tau_plus=20e-3))
    with pytest.raises(CompileError, match="both start in population 'in'.*tau_plus"):
        compile(net)


@pytest.mark.parametrize("kw, msg", [
    ({"tau_plus": 0.0}, "tau_plus must be a positive time"),
    ({"A_minus": -0.1}, "A_minus must be >= 0"),
    ({"w_min": 1.0, "w_max": 0.5}, "w_min .* is above w_max"),
    ({"A_plus": float("nan")}, "A_plus must be finite"),
])
def test_bad_stdp(kw, msg):
    net, inp, out = small()
    with pytest.raises(CompileError, match=msg):
        net.connect(inp, out, AllToAll(0.1), stdp=STDP(**kw))


def test_stdp_weights_and_amplitudes_must_fit():
    net, inp, out = small()
    with pytest.raises(CompileError, match="outside the STDP bounds"):
        net.connect(inp, out, AllToAll(2.0), stdp=STDP(w_max=1.0))
    net.connect(inp, out, AllToAll(0.2), stdp=STDP(A_plus=50.0, w_max=1.0))
    with pytest.raises(CompileError, match="A_plus = 50.0 is .* weight LSBs"):
        compile(net)
    with pytest.raises(CompileError, match="stdp must be an STDP, TripletSTDP or ThreeFactor rule"):
        net.connect(inp, out, AllToAll(0.2), stdp="hebb", name="other")


def test_recording_choices():
    net, inp, out = small()
    with pytest.raises(CompileError, match="cannot record 'v'"):
        inp.record("v")
    with pytest.raises(CompileError, match="cannot record 'i'"):
        out.record("i")
    with pytest.raises(CompileError, match="positive integer"):
        net.connect(inp, out, AllToAll(0.1)).record_weights(every=0)


def test_report_tolerance_of_example(ff):
    prog = compile(ff)
    tol = prog.report.spike_count_tolerance
    assert tol["absolute"] == 2 and 0 < tol["relative"] < 0.05 and not tol["recurrent"]


def test_compile_does_not_mutate_network():
    net = feedforward()
    w = net.projections["in->exc"].weights.copy()
    compile(net)
    assert np.array_equal(w, net.projections["in->exc"].weights)


def _psp(dt, tau_syn):
    """Peak of one PSP on the reference, in thresholds, and the program."""
    from plasticore.sim import Reference

    net = Network(dt=dt)
    src = net.inputs("in", 1, SpikeRaster(np.eye(1, 2000, 10, dtype=bool).T))
    out = net.population("out", 1, LIF(tau_mem=20e-3, tau_syn=tau_syn, v_threshold=15.0))
    net.connect(src, out, Dense([[0.025]]))                 # 1 nA on 1 nF, dt = 25 us
    prog = compile(net)
    rec = Reference(prog.config).run(2000, prog.forced(2000), record=("v",))
    k = prog.population_indices("out")[0]
    return rec.state["v"][:, k].max() / prog.lsb_per_volt[k], prog


def test_slowly_decaying_current_gets_a_finer_scale():
    """PyNN's simpleRandomNetwork at dt = 0.025 ms: the current's real decay is 1.36 LSB a
    step at 2^16, less than the truncation; at 2^20 (w_shift 4: the same weight word) the
    PSP is within 5 % of the real-number peak (1.559 mV), not 38 % short."""
    peak, prog = _psp(25e-6, 2e-3)
    sc = prog.report.scales["out"]
    assert (sc["k"], sc["w_shift"]) == (20, 4)
    assert any("truncation of its decay" in w for w in prog.report.warnings)
    assert prog.config.weights.max() == 109                 # the word of k = 16, s = 0
    assert peak == pytest.approx(1.559, rel=0.05)


def test_fast_currents_keep_the_default_scale():
    _, prog = _psp(1e-3, 5e-3)
    assert prog.report.scales["out"]["k"] <= 18
    assert not any("truncation of its decay" in w for w in prog.report.warnings)

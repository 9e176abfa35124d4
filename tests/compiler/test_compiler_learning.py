"""The compiler's learning rules: stochastic rounding, triplet STDP, three-factor learning
with a reward schedule; their lowering, report, program file and run on the targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plasticore import fixed as F
from plasticore.compiler import (
    LIF,
    STDP,
    AllToAll,
    CompileError,
    Network,
    Poisson,
    Program,
    SpikeTimes,
    ThreeFactor,
    TripletSTDP,
    compile,
)
from plasticore.core import Rounding, Target
from plasticore.driver.runtime import run_program


def _net(rule, duration=0.3, reward=None):
    net = Network(dt=1e-3, duration=duration, name="learn")
    inp = net.inputs("in", 16, Poisson(rate=40.0, seed=3))
    out = net.population("out", 4, LIF(tau_mem=20e-3, tau_syn=5e-3, v_threshold=1.0))
    out.record("spikes")
    net.connect(inp, out, AllToAll(0.1), stdp=rule).record_weights()
    if reward is not None:
        net.reward(*reward)
    return net


def test_stochastic_rounding_is_lowered_per_post_neuron():
    prog = compile(_net(STDP(w_max=0.3, rounding="stochastic")), n=32)
    rp = prog.config.rules
    out = prog.population_indices("out")
    assert (rp["rounding"][out] == Rounding.STOCHASTIC.value).all()
    assert (rp["rounding"][:out[0]] == Rounding.NEAREST.value).all()
    assert prog.config.needs() == {"stochastic"} and prog.report.needs == ["stochastic"]
    assert prog.report.rules["out"]["rounding"] == "stochastic"
    assert prog.modulators(5) is None


def test_triplet_rule_is_lowered():
    rule = TripletSTDP(w_max=0.3, A3_plus=0.004, A3_minus=0.001, tau_x=0.1, tau_y=0.12)
    prog = compile(_net(rule), n=32)
    rp, lsb = prog.config.rules, prog.report.scales["out"]["weight_lsb"]
    out, inp = prog.population_indices("out"), prog.population_indices("in")
    assert (rp["a3_plus"][out] == round(0.004 / lsb * 16)).all()
    assert (rp["a3_minus"][out] == round(0.001 / lsb * 16)).all()
    assert (rp["alpha_y2"][out] == round(math.exp(-1e-3 / 0.12) * F.DECAY_ONE)).all()
    assert (rp["alpha_x2"][inp] == round(math.exp(-1e-3 / 0.1) * F.DECAY_ONE)).all()
    assert (rp["x2_inc"][inp] == F.TRACE_ONE).all() and (rp["y2_inc"][out] == F.TRACE_ONE).all()
    assert prog.config.needs() == {"triplet"}
    params = {(e["where"], e["parameter"]) for e in prog.report.entries}
    assert {("STDP into 'out'", "A3_plus"), ("STDP from 'in'", "tau_x"),
            ("STDP into 'out'", "tau_y")} <= params


def test_three_factor_rule_and_reward_schedule():
    net = _net(ThreeFactor(STDP(w_max=0.3), tau_e=0.05), reward=([0.0105, 0.2, 0.2002],
                                                                  [1.0, -0.5, 0.25]))
    prog = compile(net, n=32)
    rp, out = prog.config.rules, prog.population_indices("out")
    assert (rp["target"][out] == Target.ELIGIBILITY.value).all()
    assert (rp["alpha_e"][out] == round(math.exp(-1e-3 / 0.05) * F.DECAY_ONE)).all()
    mods = prog.modulators(prog.input_steps + 2)
    assert len(mods) == prog.input_steps + 2 and None not in mods
    assert mods[10] == 16 and mods[200] == -4 and sum(m != 0 for m in mods) == 2
    assert prog.report.rules["out"]["target"] == "eligibility"
    assert prog.config.needs() == {"eligibility"}


def test_program_file_keeps_rules_and_rewards(tmp_path):
    rule = ThreeFactor(TripletSTDP(w_max=0.3, A3_plus=0.003, rounding="stochastic"), 0.1)
    prog = compile(_net(rule, reward=([0.05], [2.0])), n=32)
    prog.config.seed = 77
    prog.save(tmp_path / "p.npz")
    back = Program.load(tmp_path / "p.npz")
    assert back.config == prog.config and back.config.seed == 77
    assert back.modulators(60) == prog.modulators(60)


def test_three_factor_runs_the_same_on_reference_and_virtual_chip():
    rule = ThreeFactor(TripletSTDP(w_max=0.3, A3_plus=0.003, rounding="stochastic"), 0.1)
    prog = compile(_net(rule, reward=(np.arange(0.01, 0.3, 0.02), np.full(15, 1.5))), n=32)
    prog.config.seed = 5
    ref = run_program(prog, target="ref")
    virt = run_program(prog, target="virtual")
    (w_ref,), (w_virt,) = ref.weights_raw.values(), virt.weights_raw.values()
    assert np.array_equal(w_ref, w_virt)
    assert not np.array_equal(w_ref, prog.config.weights[:16, 16:20])   # it learned
    assert ref.spike_counts() == virt.spike_counts() and sum(ref.spike_counts()["out"]) > 0


def _reward_net(rule, dopamine=True):
    net = _net(rule, reward=([0.05], [1.0]))
    dopa = net.inputs("dopa", 2, SpikeTimes([np.arange(0.02, 0.3, 0.04), [0.1, 0.2]]))
    if dopamine:
        net.reward_from(dopa, [0.5, -2.0])
    return net


def test_reward_from_a_population_is_lowered_and_runs_on_the_targets():
    """Modulator neurons: their reward weight in RULE_PARAMS, in the report; they change
    what is learned, identically on the reference and the virtual chip."""
    rule = ThreeFactor(STDP(w_max=0.3, rounding="stochastic"), 0.1)
    prog = compile(_reward_net(rule), n=32)
    rp, dopa = prog.config.rules, prog.population_indices("dopa")
    assert list(rp["mod_weight"][dopa]) == [8, -32]
    assert np.count_nonzero(rp["mod_weight"]) == 2
    assert ("reward from 'dopa'", "reward weight") in {(e["where"], e["parameter"])
                                                       for e in prog.report.entries}
    assert prog.config.needs() == {"eligibility", "stochastic"}
    runs = [run_program(prog, target=t) for t in ("ref", "virtual")]
    (w_ref,), (w_virt,) = runs[0].weights_raw.values(), runs[1].weights_raw.values()
    assert np.array_equal(w_ref, w_virt)
    assert runs[0].spike_counts() == runs[1].spike_counts()
    without = run_program(compile(_reward_net(rule, dopamine=False), n=32), target="ref")
    assert not np.array_equal(w_ref, next(iter(without.weights_raw.values())))


def test_reward_from_errors_and_warnings():
    with pytest.raises(CompileError, match="modulator populations \\(dopa\\) but no "
                                           "ThreeFactor"):
        compile(_reward_net(STDP(w_max=0.3)).reward([], []), n=32)
    net = _reward_net(ThreeFactor(STDP(w_max=0.3)), dopamine=False)
    with pytest.raises(CompileError, match="must be a scalar or 2 values"):
        net.reward_from("dopa", [1.0, 2.0, 3.0])
    with pytest.raises(CompileError, match="Unknown population 'nope'"):
        net.reward_from("nope", 1.0)
    with pytest.raises(CompileError, match="outside the modulator's range"):
        compile(net.reward_from("dopa", [1.0, 8.0]), n=32)
    prog = compile(net.reward_from("dopa", [7.0, 0.01]), n=32)
    assert any("rounded to 0" in w for w in prog.report.warnings)
    assert not any("saturates" in w for w in prog.report.warnings)
    prog = compile(net.reward_from("dopa", [7.0, 1.0]), n=32)
    assert any("add 0 .. 8 to a step's reward, which saturates" in w
               for w in prog.report.warnings)
    assert "dopa" not in net.reward_from("dopa", 0.0).reward_neurons


@pytest.mark.parametrize("make,match", [
    (lambda: STDP(rounding="up"), "STDP rounding must be one of nearest, stochastic"),
    (lambda: TripletSTDP(A3_plus=-1.0), "A3_plus must be a scalar >= 0"),
    (lambda: TripletSTDP(tau_y=0.0), "tau_y"),
    (lambda: ThreeFactor(STDP(), tau_e=-1.0), "tau_e"),
    (lambda: ThreeFactor("stdp"), "ThreeFactor needs an STDP rule"),
])
def test_bad_rules_are_refused(make, match):
    with pytest.raises(CompileError, match=match):
        _net(make())


def test_reward_errors():
    with pytest.raises(CompileError, match="has a reward schedule but no ThreeFactor"):
        compile(_net(STDP(w_max=0.3), reward=([0.01], [1.0])), n=32)
    with pytest.raises(CompileError, match="outside the modulator's range"):
        compile(_net(ThreeFactor(STDP(w_max=0.3)), reward=([0.01, 0.0102], [5.0, 4.0])), n=32)
    with pytest.raises(CompileError, match="after the end of the input"):
        compile(_net(ThreeFactor(STDP(w_max=0.3)), reward=([5.0], [1.0])), n=32)
    with pytest.raises(CompileError, match="same length"):
        Network(dt=1e-3).reward([0.1, 0.2], [1.0])
    with pytest.raises(CompileError, match="must be >= 0"):
        Network(dt=1e-3).reward([-0.1], [1.0])


def test_different_slow_traces_from_one_population_are_refused():
    net = Network(dt=1e-3, duration=0.1)
    inp = net.inputs("in", 4, Poisson(rate=10.0, seed=1))
    a = net.population("a", 2)
    b = net.population("b", 2)
    net.connect(inp, a, AllToAll(0.1), stdp=TripletSTDP(w_max=0.2, tau_x=0.1))
    net.connect(inp, b, AllToAll(0.1), stdp=TripletSTDP(w_max=0.2, tau_x=0.2))
    with pytest.raises(CompileError, match="different pre-synaptic traces"):
        compile(net, n=16)

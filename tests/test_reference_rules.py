"""Hand-computed tiny cases, one or more per rule of the model (docs/model.md).

Every expected number below is worked out by hand from the equations, not taken from a run.
Neurons not under test get a threshold they cannot reach and no inputs.
"""

import numpy as np
import pytest

from plasticore import fixed as F
from plasticore.core import CoreConfig, CoreParams, ResetMode
from plasticore.sim import Reference

N = 8
HALF = F.DECAY_ONE // 2          # alpha = 0.5
ONE = F.DECAY_ONE                # alpha = 1.0: no decay
FAR = F.THRESHOLD.max            # a threshold nothing reaches in these tests


def make(**neuron):
    """A config of N quiet neurons; keyword arguments set NEURON_PARAMS fields for all."""
    cfg = CoreConfig(CoreParams(N))
    cfg.neurons["threshold"] = FAR
    cfg.neurons["alpha_v"] = ONE
    cfg.neurons["alpha_i"] = 0
    for k, v in neuron.items():
        cfg.neurons[k] = v
    return cfg


def with_state(ref, **fields):
    st = ref.state
    for k, v in fields.items():
        st[k] = v
    ref.state = st
    return ref


# -- decays -----------------------------------------------------------------------------------

def test_current_decay_truncates_toward_zero():
    ref = with_state(Reference(make(alpha_i=HALF)), i=[1000, -1001, 1, -1, 0, 7, -7, 3])
    ref.step()
    assert ref.i.tolist() == [500, -500, 0, 0, 0, 3, -3, 1]


def test_membrane_decay_truncates_toward_zero():
    ref = with_state(Reference(make(alpha_v=3 * F.DECAY_ONE // 4)),
                     v=[1000, -1000, 3, -3, 1, -1, 0, 4])
    ref.step()
    # 0.75 * x, truncated toward zero
    assert ref.v.tolist() == [750, -750, 2, -2, 0, 0, 0, 3]


def test_decay_factor_one_keeps_and_zero_forgets():
    cfg = make()
    cfg.neurons["alpha_v"] = [ONE, 0] * 4
    cfg.neurons["alpha_i"] = [ONE, 0] * 4
    ref = with_state(Reference(cfg), v=[-12345] * 8, i=[0] * 8)
    ref.step()
    assert ref.v.tolist() == [-12345, 0] * 4
    ref = with_state(Reference(cfg), i=[999] * 8)
    ref.step()
    assert ref.i.tolist() == [999, 0] * 4


# -- threshold, reset, refractory, bias -------------------------------------------------------

def test_bias_adds_every_step():
    ref = Reference(make(bias=7))
    for k in range(1, 4):
        ref.step()
        assert ref.v.tolist() == [7 * k] * N


def test_current_feeds_membrane_in_the_same_step():
    ref = with_state(Reference(make(alpha_i=HALF, bias=1)), i=[100] * N)
    ref.step()
    # I = 50, V = 0 + 50 + 1
    assert ref.i.tolist() == [50] * N and ref.v.tolist() == [51] * N


def test_threshold_equality_fires_and_one_below_does_not():
    cfg = make(threshold=100, bias=0, v_reset=-5)
    ref = with_state(Reference(cfg), v=[100, 99, 101, 0, 0, 0, 0, 0])
    s = ref.step()
    assert s.tolist() == [True, False, True] + [False] * 5
    assert ref.v.tolist()[:3] == [-5, 99, -5]


def test_reset_modes():
    cfg = make(threshold=100, v_reset=-30)
    cfg.neurons["reset_mode"] = [ResetMode.VALUE.value, ResetMode.SUBTRACT.value] * 4
    ref = with_state(Reference(cfg), v=[130] * N)
    assert ref.step().all()
    assert ref.v.tolist() == [-30, 30] * 4


def test_deferred_reset_is_snntorchs_subtract_reset():
    """mem[t] = beta mem[t-1] + in - thr S[t-1], S[t] = mem[t] > thr, worked by hand with
    beta = 0.5 (truncated toward zero), in = 60, thr = 100."""
    cfg = make(threshold=100, alpha_v=HALF, bias=60, reset_mode=ResetMode.DEFERRED)
    ref = Reference(cfg)
    spikes, vs = [], []
    for _ in range(8):
        spikes.append(bool(ref.step()[0]))
        vs.append(int(ref.v[0]))
    # 60, 90, 105 (fires, V kept), 52 + 60 - 100 = 12, 66, 93, 106 (fires), 53 + 60 - 100
    assert vs == [60, 90, 105, 12, 66, 93, 106, 13]
    assert spikes == [False, False, True, False, False, False, True, False]


def test_deferred_reset_fires_strictly_above_threshold():
    cfg = make(threshold=100, alpha_v=0, reset_mode=ResetMode.DEFERRED)
    cfg.neurons["bias"] = [100, 101] * 4
    ref = Reference(cfg)
    got = [(ref.step()[:2].tolist(), ref.v[:2].tolist()) for _ in range(4)]
    # V == threshold: no spike and no subtraction; 101 fires, the next update subtracts 100
    assert got == [([False, True], [100, 101]), ([False, False], [100, 1]),
                   ([False, True], [100, 101]), ([False, False], [100, 1])]


def test_deferred_reset_forced_spike_and_rails():
    cfg = make(reset_mode=ResetMode.DEFERRED)
    cfg.neurons["threshold"] = [100, 100, F.THRESHOLD.max, F.THRESHOLD.min] * 2
    ref = with_state(Reference(cfg), v=[50, 150, F.V.max, F.V.max] * 2)
    s = ref.step(forced=[0])
    # forced below threshold: V kept; 150 > 100 is a pending reset: 150 - 100 = 50; the
    # firing level V.max + 1 is out of reach; the lowest threshold fires, V at the rail
    assert s[:4].tolist() == [True, False, False, True]
    assert ref.v[:4].tolist() == [50, 50, F.V.max, F.V.max]
    s = ref.step()
    # a forced spike from below the threshold leaves nothing to subtract; V.max - (-2**23)
    # saturates at V.max and fires again
    assert s[:4].tolist() == [False, False, False, True]
    assert ref.v[:4].tolist() == [50, 50, F.V.max, F.V.max]


def test_deferred_reset_waits_out_the_refractory_period():
    cfg = make(threshold=100, alpha_v=0, bias=101, refractory=2,
               reset_mode=ResetMode.DEFERRED)
    ref = Reference(cfg)
    got = [(bool(ref.step()[0]), int(ref.v[0])) for _ in range(5)]
    # 101 fires (V held above threshold for 2 steps), then the first update subtracts
    assert got == [(True, 101), (False, 101), (False, 101), (False, 1), (True, 101)]


def test_refractory_holds_v_and_blocks_spikes_for_exactly_r_steps():
    cfg = make(threshold=10, bias=20, refractory=2, v_reset=0)
    ref = Reference(cfg)
    spikes, vs, refs = [], [], []
    for _ in range(7):
        spikes.append(bool(ref.step()[0]))
        vs.append(int(ref.v[0]))
        refs.append(int(ref.ref[0]))
    # step 1: V=20 fires -> 0, ref=2; steps 2,3 held at 0; step 4: V=20 fires ...
    assert spikes == [True, False, False, True, False, False, True]
    assert vs == [0, 0, 0, 0, 0, 0, 0]
    assert refs == [2, 1, 0, 2, 1, 0, 2]


def test_current_integrates_during_refractory():
    cfg = make(threshold=10, refractory=3, alpha_i=ONE)
    ref = with_state(Reference(cfg), v=[10] * N, i=[0] * N)
    ref.step()                                    # all fire, ref = 3
    ref.state = with_state(ref, i=[5] * N).state
    ref.step()
    assert ref.i.tolist() == [5] * N and ref.v.tolist() == [0] * N and ref.ref.tolist() == [2] * N


def test_zero_refractory_allows_firing_every_step():
    ref = Reference(make(threshold=10, bias=20, refractory=0))
    assert all(ref.step()[0] for _ in range(5))


# -- forced spikes ----------------------------------------------------------------------------

def test_forced_spikes_fire_any_number_and_reset():
    cfg = make(threshold=100, v_reset=-3, refractory=1)
    ref = Reference(cfg)
    s = ref.step(forced=[0, 2, 3, 7])
    assert np.flatnonzero(s).tolist() == [0, 2, 3, 7]
    assert ref.v.tolist() == [-3, 0, -3, -3, 0, 0, 0, -3]
    assert ref.ref.tolist() == [1, 0, 1, 1, 0, 0, 0, 1]
    mask = np.ones(N, bool)
    assert ref.step(forced=mask).all()             # forced overrides refractory
    assert not ref.step().any()


def test_forced_spike_validation():
    ref = Reference(make())
    with pytest.raises(ValueError, match="neuron indices"):
        ref.step(forced=[8])
    with pytest.raises(ValueError, match="neuron indices"):
        ref.step(forced=[-1])
    with pytest.raises(ValueError, match="8 entries"):
        ref.step(forced=np.ones(9, bool))


# -- transmission ----------------------------------------------------------------------------

def test_spikes_arrive_one_step_later_scaled_by_the_weight_shift():
    cfg = make(alpha_i=0)
    cfg.neurons["w_shift"] = [0, 3, 0, 0, 0, 0, 0, 0]
    cfg.weights[5, 0] = 10
    cfg.weights[6, 0] = -4
    cfg.weights[5, 1] = 7
    ref = Reference(cfg)
    ref.step(forced=[5, 6])
    assert ref.acc[:2].tolist() == [6, 7] and ref.i[:2].tolist() == [0, 0]
    ref.step()
    assert ref.i[:2].tolist() == [6, 56]          # 7 << 3
    assert ref.v[:2].tolist() == [6, 56]
    assert ref.acc.tolist() == [0] * N            # consumed; nobody spiked in step 2


def test_transmission_uses_weights_before_this_steps_learning():
    cfg = make()
    cfg.learning["x_inc"] = F.TRACE_ONE
    cfg.learning["a_plus"] = 16 * 5
    cfg.learning["w_min"], cfg.learning["w_max"] = -128, 127
    cfg.weights[0, 1] = 10
    cfg.plastic[0, 1] = True
    ref = Reference(cfg, learning=True)
    ref.step(forced=[0, 1])                       # pre and post together: potentiation
    assert ref.weights[0, 1] == 15
    assert ref.acc[1] == 10                        # transmitted with the old weight


# -- saturation rails ------------------------------------------------------------------------

def test_membrane_saturates_at_both_rails():
    cfg = make()
    cfg.neurons["bias"] = [F.BIAS.max, F.BIAS.min] * 4
    ref = with_state(Reference(cfg), v=[F.V.max - 5, F.V.min + 5] * 4)
    ref.step()
    # the upper rail equals the highest threshold, so those neurons fire and reset to 0
    assert ref.v.tolist() == [0, F.V.min] * 4 and ref.spikes.tolist() == [True, False] * 4
    # with reset by subtraction the overshoot shows that V stopped exactly at the rail
    cfg.neurons["threshold"] = F.V.max - 10
    cfg.neurons["reset_mode"] = ResetMode.SUBTRACT
    ref = with_state(Reference(cfg), v=[F.V.max - 5, F.V.min + 5] * 4)
    ref.step()
    assert ref.v.tolist() == [10, F.V.min] * 4


def test_current_saturates_at_both_rails():
    cfg = make(alpha_i=ONE, w_shift=15)
    cfg.weights[7, :4] = 127
    cfg.weights[7, 4:] = -128
    ref = with_state(Reference(cfg), i=[F.I.max - 1] * 4 + [F.I.min + 1] * 4)
    ref.step(forced=[7])
    ref.step()
    assert ref.i.tolist() == [F.I.max] * 4 + [F.I.min] * 4


def test_reset_by_subtraction_saturates():
    cfg = make(threshold=F.THRESHOLD.min, reset_mode=ResetMode.SUBTRACT)
    ref = with_state(Reference(cfg), v=[F.V.max] * N)
    ref.step()                                    # fires; V - (-2**23) exceeds the rail
    assert ref.v.tolist() == [F.V.max] * N


def test_pending_input_is_exact_for_1024_neurons_at_both_rails():
    n = 1024
    cfg = CoreConfig(CoreParams(n))
    cfg.neurons["threshold"] = FAR
    cfg.weights[:, : n // 2] = -128
    cfg.weights[:, n // 2:] = 127
    ref = Reference(cfg)
    ref.step(forced=np.ones(n, bool))
    assert ref.acc[0] == -131072 == F.ACC.min and ref.acc[-1] == 127 * 1024
    assert F.ACC.contains(ref.acc)


def test_traces_saturate_at_top_and_decay_to_zero():
    cfg = make()
    cfg.learning["alpha_x"] = ONE
    cfg.learning["alpha_y"] = ONE
    cfg.learning["x_inc"] = F.TRACE_INC.max
    cfg.learning["y_inc"] = F.TRACE_INC.max
    ref = Reference(cfg)
    ref.step(forced=np.ones(N, bool))
    ref.step(forced=np.ones(N, bool))
    assert ref.x.tolist() == [F.TRACE.max] * N and ref.y.tolist() == [F.TRACE.max] * N
    cfg.learning["alpha_x"] = HALF
    cfg.learning["alpha_y"] = HALF
    ref2 = with_state(Reference(cfg), x=[3] * N, y=[1] * N)
    ref2.step()
    assert ref2.x.tolist() == [1] * N and ref2.y.tolist() == [0] * N
    ref2.step()
    assert ref2.x.tolist() == [0] * N             # the lower rail is exactly 0


def test_trace_impulse_and_decay():
    cfg = make()
    cfg.learning["alpha_x"] = 3 * F.DECAY_ONE // 4
    cfg.learning["x_inc"] = 1000
    cfg.learning["alpha_y"] = HALF
    cfg.learning["y_inc"] = 400
    ref = Reference(cfg)
    ref.step(forced=[2])
    assert ref.x[2] == 1000 and ref.y[2] == 400
    ref.step()
    assert ref.x[2] == 750 and ref.y[2] == 200
    ref.step(forced=[2])
    assert ref.x[2] == 562 + 1000 and ref.y[2] == 100 + 400


# -- STDP -------------------------------------------------------------------------------------

def stdp_config(a_plus=16 * 8, a_minus=16 * 4, w_min=-20, w_max=30, w=0):
    cfg = make()
    lp = cfg.learning
    lp["alpha_x"] = lp["alpha_y"] = HALF
    lp["x_inc"] = lp["y_inc"] = F.TRACE_ONE
    lp["a_plus"], lp["a_minus"] = a_plus, a_minus
    lp["w_min"], lp["w_max"] = w_min, w_max
    cfg.weights[0, 1] = w                         # synapse pre 0 -> post 1
    cfg.plastic[0, 1] = True
    return cfg


def test_potentiation_pre_then_post():
    ref = Reference(stdp_config(w=3), learning=True)
    ref.step(forced=[0])                          # x0 = 4096
    assert ref.weights[0, 1] == 3
    ref.step(forced=[1])                          # x0 = 2048 -> dw = round(128*2048/2**16) = 4
    assert ref.weights[0, 1] == 7


def test_depression_post_then_pre():
    ref = Reference(stdp_config(w=3), learning=True)
    ref.step(forced=[1])                          # y1 = 4096
    ref.step(forced=[0])                          # y1 decays to 2048 -> dw = 64*2048/2**16 = 2
    assert ref.weights[0, 1] == 1
    ref.step()                                    # y1 = 1024
    ref.step(forced=[0])                          # y1 = 512 -> dw = 0.5, ties round up -> 1
    assert ref.weights[0, 1] == 0
    ref.step()                                    # y1 = 256
    ref.step(forced=[0])                          # y1 = 128 -> dw = 0.125 -> 0
    assert ref.weights[0, 1] == 0


def test_simultaneous_pre_and_post_potentiate_only():
    ref = Reference(stdp_config(w=0), learning=True)
    ref.step(forced=[0, 1])                       # x0 = 4096 -> +8, y1 before bump = 0 -> -0
    assert ref.weights[0, 1] == 8


def test_stdp_rounds_to_nearest():
    # a_plus = 1.5 LSB, trace 4096 -> 1.5 -> rounds (ties up) to 2; trace 2048 -> 0.75 -> 1
    ref = Reference(stdp_config(a_plus=24, w=0), learning=True)
    ref.step(forced=[0, 1])
    assert ref.weights[0, 1] == 2
    ref2 = Reference(stdp_config(a_plus=24, w=0), learning=True)
    ref2.step(forced=[0])
    ref2.step(forced=[1])
    assert ref2.weights[0, 1] == 1


def test_weight_bounds_clip_both_ways():
    ref = Reference(stdp_config(a_plus=16 * 100, w=25), learning=True)
    ref.step(forced=[0, 1])
    assert ref.weights[0, 1] == 30                # w_max
    ref = Reference(stdp_config(a_minus=16 * 100, w=-15), learning=True)
    ref.step(forced=[1])
    ref.step(forced=[0])
    assert ref.weights[0, 1] == -20               # w_min


def test_weight_bounds_at_the_format_rails():
    ref = Reference(stdp_config(a_plus=F.AMPLITUDE.max, w_min=-128, w_max=127, w=120),
                    learning=True)
    ref.step(forced=[0, 1])
    assert ref.weights[0, 1] == 127
    ref = Reference(stdp_config(a_minus=F.AMPLITUDE.max, w_min=-128, w_max=127, w=-120),
                    learning=True)
    ref.step(forced=[1])
    ref.step(forced=[0])
    assert ref.weights[0, 1] == -128


def test_rule_belongs_to_the_post_neuron():
    cfg = stdp_config(w=0)
    cfg.learning["a_plus"] = [16 * 8, 16 * 2] + [0] * 6  # neuron 1's rule: +2 at trace 1.0
    ref = Reference(cfg, learning=True)
    ref.step(forced=[0, 1])
    assert ref.weights[0, 1] == 2


def test_plasticity_bit_off_freezes_the_synapse():
    cfg = stdp_config(w=5)
    cfg.plastic[0, 1] = False
    ref = Reference(cfg, learning=True)
    for forced in ([0], [1], [0, 1], [1], [0]):
        ref.step(forced=forced)
    assert ref.weights[0, 1] == 5


def test_learning_off_freezes_weights_but_traces_run():
    ref = Reference(stdp_config(w=5), learning=False)
    ref.step(forced=[0])
    ref.step(forced=[1])
    assert ref.weights[0, 1] == 5
    assert ref.x[0] == 2048 and ref.y[1] == 4096
    ref.learning = True                           # switched on at run time
    ref.step(forced=[1])                          # x0 = 1024 -> +2
    assert ref.weights[0, 1] == 7


def test_only_rows_and_columns_of_spiking_neurons_change():
    cfg = stdp_config(w=0)
    cfg.plastic[:] = True
    cfg.learning["w_min"], cfg.learning["w_max"] = -128, 127
    ref = with_state(Reference(cfg, learning=True), x=[4096] * N, y=[4096] * N)
    ref.step(forced=[3])
    changed = np.argwhere(ref.weights != 0)
    assert all(j == 3 or i == 3 for j, i in changed)
    assert len(changed) == 2 * N - 1


# -- run, reset, snapshots ------------------------------------------------------------------

def test_run_records_and_matches_step_by_step():
    cfg = make(threshold=50, bias=20, refractory=1, alpha_v=HALF)
    forced = [[0], [], [1, 2], [], []]
    a = Reference(cfg)
    rec = a.run(5, forced=forced, record=("v", "ref"))
    b = Reference(cfg)
    for k in range(5):
        assert b.step(forced[k]).tolist() == rec.spikes[k].tolist()
        assert b.v.tolist() == rec.state["v"][k].tolist()
    assert a.snapshot() == b.snapshot() and a.snapshot().diff(b.snapshot()) == []


def test_run_rejects_bad_arguments():
    ref = Reference(make())
    with pytest.raises(ValueError, match="3 steps, but running 2"):
        ref.run(2, forced=[[], [], []])
    with pytest.raises(ValueError, match="cannot record"):
        ref.run(1, record=("spikes", "voltage"))
    with pytest.raises(ValueError, match=">= 0"):
        ref.run(-1)


def test_reset_clears_state_keeps_weights():
    cfg = stdp_config(w=5)
    ref = Reference(cfg, learning=True)
    ref.step(forced=[0, 1])
    w = ref.weights.copy()
    ref.reset()
    assert ref.t == 0 and not ref.spikes.any()
    assert all(not getattr(ref, k).any() for k in ("v", "i", "acc", "ref", "x", "y"))
    assert np.array_equal(ref.weights, w)


def test_model_does_not_alias_the_config():
    cfg = stdp_config(w=5)
    ref = Reference(cfg, learning=True)
    ref.step(forced=[0, 1])
    assert cfg.weights[0, 1] == 5 and ref.weights[0, 1] != 5


def test_snapshot_diff_names_the_difference():
    a, b = Reference(make()), Reference(make())
    b.v[3] = 9
    d = a.snapshot().diff(b.snapshot())
    assert len(d) == 1 and d[0].startswith("v: 1 differ, first at (3,)")


def test_deterministic():
    from support.stimulus import random_config, random_forced
    rng = np.random.default_rng(5)
    cfg = random_config(32, rng)
    forced = random_forced(50, 32, 0.1, rng)
    r1, r2 = Reference(cfg, learning=True), Reference(cfg, learning=True)
    assert np.array_equal(r1.run(50, forced).spikes, r2.run(50, forced).spikes)
    assert r1.snapshot() == r2.snapshot()

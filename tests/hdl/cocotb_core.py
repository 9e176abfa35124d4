"""cocotb tests of the generated core (run by ``test_core.py`` through the cocotb runner).

The scoreboard is :class:`plasticore.sim.Reference`: after every timestep the spikes, the
step counter, the spike count, the cycle count and every NEURON_STATE field of every neuron
are compared with exact equality, and the full weight matrix (and the plasticity bits) every
``PLASTICORE_WEIGHTS_EVERY`` steps and after the last step.  Values are peeked from the
memories (fast); ``access_port`` checks that peeks and access-port reads agree.

Configuration comes from the environment (set by ``test_core.py``):

``PLASTICORE_N``                 core size the Verilog was built for
``PLASTICORE_NETWORKS``          number of random networks (``random_network`` tests)
``PLASTICORE_STEPS``             timesteps per random network
``PLASTICORE_CORNER_STEPS``      timesteps per corner case
``PLASTICORE_WEIGHTS_EVERY``     compare the weight matrix every that many steps
``PLASTICORE_SEED``              first seed
``PLASTICORE_OPTIONS``           the learning options the core was built with (a,b)
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import Edge, FallingEdge
from cocotb.utils import get_sim_time
from support.coredriver import CoreTB
from support.stimulus import corner_values, random_config, random_forced, random_triplet

from plasticore import fixed as F
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    RULE_PARAMS,
    TRIPLET_STATE,
    ResetMode,
    Table,
)
from plasticore.hdl.access import Command, Phase, Region, Register
from plasticore.hdl.core import Core, step_cycles
from plasticore.protocol import contract_hash
from plasticore.sim import Reference

N = int(os.environ.get("PLASTICORE_N", "8"))
NETWORKS = int(os.environ.get("PLASTICORE_NETWORKS", "2"))
STEPS = int(os.environ.get("PLASTICORE_STEPS", "20"))
CORNER_STEPS = int(os.environ.get("PLASTICORE_CORNER_STEPS", "40"))
WEIGHTS_EVERY = int(os.environ.get("PLASTICORE_WEIGHTS_EVERY", "1"))
SEED = int(os.environ.get("PLASTICORE_SEED", "1"))
OPTIONS = tuple(k for k in os.environ.get("PLASTICORE_OPTIONS", "").split(",") if k)


# -- scoreboard -----------------------------------------------------------------------------

async def check_step(tb: CoreTB, ref: Reference, what: str, weights: bool, modulated=False):
    """Compare the core with the reference after a step; raise with a readable diff."""
    problems = []
    if int(tb.dut.collision.value):
        problems.append("a memory was read and written at the same address in one cycle "
                        "(Core.collision)")
    problems += _state_problems(tb, ref)
    if weights and "eligibility" in OPTIONS:
        e = tb.peek_elig()
        if not np.array_equal(e, ref.elig):
            problems.append(_mismatch("eligibility", e, ref.elig))
    if weights:
        w, plastic = tb.peek_weights()
        if not np.array_equal(w, ref.weights):
            problems.append(_mismatch("weight", w, ref.weights))
        if not np.array_equal(plastic, ref.plastic):
            problems.append(_mismatch("plasticity bit", plastic, ref.plastic))
    count = await tb.read_register(Register.SPIKE_COUNT)
    if count != int(ref.spikes.sum()):
        problems.append(f"SPIKE_COUNT is {count}, the reference fired {int(ref.spikes.sum())}")
    t = await tb.read_register(Register.STEP_COUNT)
    if t != ref.t:
        problems.append(f"STEP_COUNT is {t}, the reference is at step {ref.t}")
    expected = step_cycles(tb.n, int(ref.spikes.sum()), ref.learning, modulated)
    if tb.cycles != expected or tb.timed_cycles != expected:
        problems.append(f"the step took {tb.cycles} cycles (CYCLES register) and "
                        f"{tb.timed_cycles} (done pulse); step_cycles() says {expected}")
    if problems:
        raise AssertionError(f"{what}, after step {ref.t}: the core differs from the "
                             f"reference:\n  " + "\n  ".join(problems))


def _state_problems(tb: CoreTB, ref: Reference):
    """Spikes, every NEURON_STATE field and (option triplet) the slow traces."""
    problems = []
    spikes = tb.peek_spikes()
    if not np.array_equal(spikes, ref.spikes):
        problems.append(_mismatch("spikes", spikes, ref.spikes))
    tables = [tb.peek_state()]
    if "triplet" in OPTIONS:
        tables.append(tb.peek_triplet())
    for table in tables:
        for name in table.names:
            if not np.array_equal(table[name], getattr(ref, name)):
                problems.append(_mismatch(name, table[name], getattr(ref, name)))
    return problems


def _mismatch(name, hw, ref, limit=6):
    hw, ref = np.asarray(hw), np.asarray(ref)
    idx = np.argwhere(hw != ref)
    shown = ", ".join(
        f"{'[' + ','.join(str(int(v)) for v in k) + ']'}: core {_v(hw[tuple(k)])} "
        f"reference {_v(ref[tuple(k)])}" for k in idx[:limit])
    more = f" (+{len(idx) - limit} more)" if len(idx) > limit else ""
    return f"{name}: {len(idx)} of {hw.size} differ: {shown}{more}"


def _v(x):
    return int(x) if x.dtype != bool else bool(x)


async def run_and_check(tb, cfg, forced, learning, what, weights_every=1, first_step=0,
                        modulators=None, triplet=None):
    """Load ``cfg``, reset, set the step counter to ``first_step`` (and the slow traces to
    the TRIPLET_STATE table ``triplet``), run ``len(forced)`` steps with the learning
    schedule ``learning`` (bool, or a per-step sequence) and check every step."""
    await tb.load(cfg)
    await tb.reset_state()
    schedule = [learning] * len(forced) if isinstance(learning, bool) else list(learning)
    ref = Reference(cfg, learning=schedule[0] if schedule else False)
    if triplet is not None:
        await tb.write(Region.TRIPLET_STATE, enumerate(triplet.pack()))
        ref.triplet = triplet
    if first_step:
        await tb.write_register(Register.STEP_COUNT, first_step)
        ref.t = first_step
    current = None
    for k, f in enumerate(forced):
        if schedule[k] != current:
            current = schedule[k]
            await tb.set_learning(current)
            ref.learning = current
        r = None if modulators is None else modulators[k]
        await tb.step(f, r)
        ref.step(f, r)
        last = k == len(forced) - 1
        await check_step(tb, ref, what, weights=last or (k + 1) % weights_every == 0,
                         modulated=ref.modulated)
    return ref


def _network_seed(seed):
    return np.random.default_rng([SEED, N, seed])


# -- random networks --------------------------------------------------------------------------

@cocotb.test()
@cocotb.parametrize(seed=list(range(NETWORKS)))
async def random_network(dut, seed):
    """A corner-biased random network, random forced inputs, learning on, every step
    compared."""
    rng = _network_seed(seed)
    cfg = random_config(N, rng, corner=float(rng.choice([0.1, 0.2, 0.4])),
                        plastic_p=float(rng.choice([0.3, 0.7, 1.0])))
    rate = float(rng.choice([0.01, 0.03, 0.05, 0.15, 0.4]))
    forced = random_forced(STEPS, N, rate, rng)
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    ref = await run_and_check(tb, cfg, forced, True, f"network {seed} (forced rate {rate})",
                              weights_every=WEIGHTS_EVERY)
    dut._log.info("network %d: %d steps, %d spikes, %d weights changed", seed, STEPS,
                  int(ref.spikes.sum()), int((ref.weights != cfg.weights).sum()))


@cocotb.test()
@cocotb.parametrize(seed=list(range(NETWORKS)))
async def stochastic_network(dut, seed):
    """Option stochastic: a random network whose neurons round their updates stochastically
    or to nearest (at random), a random seed and a random first step counter (the random
    bits hash both), learning on, every step compared."""
    rng = _network_seed(500 + seed)
    cfg = random_config(N, rng, corner=float(rng.choice([0.1, 0.3])),
                        plastic_p=float(rng.choice([0.5, 1.0])))
    cfg.rules["rounding"] = (rng.random(N) < float(rng.choice([0.5, 1.0]))).astype(int)
    cfg.seed = int(rng.choice([0, 0xFFFFFFFF, int(rng.integers(0, 1 << 32))]))
    # (the reference counts past 2**32, STEP_COUNT wraps: stay below it)
    first = int(rng.choice([0, 0xFFFFFF00, int(rng.integers(0, (1 << 32) - 4096))]))
    rate = float(rng.choice([0.05, 0.15, 0.4]))
    forced = random_forced(STEPS, N, rate, rng)
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    ref = await run_and_check(tb, cfg, forced, True, f"stochastic network {seed} (seed "
                              f"{cfg.seed}, first step {first})",
                              weights_every=WEIGHTS_EVERY, first_step=first)
    dut._log.info("stochastic network %d: %d spikes, %d weights changed", seed,
                  int(ref.spikes.sum()), int((ref.weights != cfg.weights).sum()))


@cocotb.test()
@cocotb.parametrize(seed=list(range(NETWORKS)))
async def eligibility_network(dut, seed):
    """Option eligibility: a random network whose neurons learn into the eligibility or
    the weights (at random), eligibilities and modulators at their rails, a modulator every
    step, never, or sometimes, modulator neurons among them (some, all or none), learning
    toggled; weights and eligibilities every step."""
    rng = _network_seed(700 + seed)
    cfg = random_config(N, rng, corner=float(rng.choice([0.1, 0.3])),
                        plastic_p=float(rng.choice([0.5, 1.0])))
    cfg.rules["target"] = (rng.random(N) < float(rng.choice([0.5, 1.0]))).astype(int)
    cfg.rules["alpha_e"] = rng.choice([0, 1, F.DECAY_ONE - 1, F.DECAY_ONE,
                                       int(rng.integers(0, F.DECAY_ONE + 1))], N)
    if "stochastic" in OPTIONS:
        cfg.rules["rounding"] = rng.integers(0, 2, N)
        cfg.seed = int(rng.integers(0, 1 << 32))
    cfg.elig = corner_values(F.ELIGIBILITY, (N, N), rng, 0.4)
    mode = ["every", "never", "some"][seed % 3]
    # Modulator neurons: none, some or all of them, weights anywhere or at the rails (so that
    # the sums of a step saturate); with host modulators "never" only they modulate.
    share = [0.3, 1.0, 0.0][seed % 3]
    cfg.rules["mod_weight"] = np.where(rng.random(N) < share,
                                       corner_values(F.MODULATOR, N, rng, 0.5), 0)
    rails = [F.MODULATOR.min, F.MODULATOR.max, 0, 1, -1]
    mods = []
    for _ in range(STEPS):
        r = int(rng.choice(rails)) if rng.random() < 0.4 else int(rng.integers(-128, 128))
        mods.append(None if mode == "never" or (mode == "some" and rng.random() < 0.6)
                    else r)
    learning = [(k // 7) % 4 != 3 for k in range(STEPS)]
    forced = random_forced(STEPS, N, float(rng.choice([0.05, 0.2, 0.5])), rng)
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    ref = await run_and_check(tb, cfg, forced, learning, f"eligibility network {seed} ({mode})",
                              weights_every=WEIGHTS_EVERY, modulators=mods)
    dut._log.info("eligibility network %d (%s): %d spikes, %d weights and %d eligibilities "
                  "changed", seed, mode, int(ref.spikes.sum()),
                  int((ref.weights != cfg.weights).sum()), int((ref.elig != cfg.elig).sum()))


@cocotb.test()
@cocotb.parametrize(seed=list(range(NETWORKS)))
async def triplet_network(dut, seed):
    """Option triplet: a random network with corner-biased triplet rules (a fifth of the
    neurons keep the pair rule), slow traces starting anywhere in their range or at the
    rail, forced activity from sparse to every neuron; with the core's other options also
    random rounding modes, targets, eligibilities and modulators.  Learning toggled; spikes,
    state, x2, y2 every step, weights and eligibilities every WEIGHTS_EVERY steps."""
    rng = _network_seed(900 + seed)
    cfg = random_config(N, rng, corner=float(rng.choice([0.1, 0.3])),
                        plastic_p=float(rng.choice([0.5, 1.0])))
    random_triplet(cfg, rng, corner=float(rng.choice([0.1, 0.4])), rails=seed % 5 == 4)
    mods = None
    if "stochastic" in OPTIONS:
        cfg.rules["rounding"] = rng.integers(0, 2, N) * int(seed % 3 != 0)   # or all nearest
        cfg.seed = int(rng.integers(0, 1 << 32))
    if "eligibility" in OPTIONS and seed % 2:
        cfg.rules["target"] = rng.integers(0, 2, N)
        cfg.rules["alpha_e"] = corner_values(F.DECAY, N, rng, 0.4)
        cfg.elig = corner_values(F.ELIGIBILITY, (N, N), rng, 0.4)
        cfg.rules["mod_weight"] = np.where(rng.random(N) < 0.3,
                                           corner_values(F.MODULATOR, N, rng, 0.5), 0)
        mods = [None if rng.random() < 0.3 else int(corner_values(F.MODULATOR, 1, rng, 0.5)[0])
                for _ in range(STEPS)]
    slow = Table(TRIPLET_STATE, N)
    for name in slow.names:
        slow[name] = corner_values(F.TRACE, N, rng, 0.5)
    learning = [(k // 9) % 5 != 4 for k in range(STEPS)]
    rate = float(rng.choice([0.05, 0.2, 0.5, 1.0]))
    forced = random_forced(STEPS, N, rate, rng)
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    ref = await run_and_check(tb, cfg, forced, learning, f"triplet network {seed} (forced "
                              f"rate {rate})", weights_every=WEIGHTS_EVERY, modulators=mods,
                              triplet=slow)
    dut._log.info("triplet network %d: %d spikes, %d weights and %d eligibilities changed",
                  seed, int(ref.spikes.sum()), int((ref.weights != cfg.weights).sum()),
                  int((ref.elig != cfg.elig).sum()))


# -- corner cases -----------------------------------------------------------------------------

def _corner_config(case, rng):
    n = N
    cfg = random_config(n, rng, corner=0.3, plastic_p=0.8)
    p, lp = cfg.neurons, cfg.learning
    forced = random_forced(CORNER_STEPS, n, 0.2, rng)
    learning = True
    half = np.arange(n) < n // 2
    if case == "rails":
        # Upper half: V and I pinned at their upper rails (and V == threshold == V.max, so
        # threshold equality at the rail); lower half: both at the lower rails.  Traces at
        # their rail, amplitudes at theirs, so weights move by up to 4095 LSB and clip.
        p["alpha_v"] = p["alpha_i"] = F.DECAY_ONE
        p["bias"] = np.where(half, F.BIAS.max, F.BIAS.min)
        p["threshold"] = np.where(half, F.THRESHOLD.max, F.THRESHOLD.min)
        p["w_shift"] = F.W_SHIFT.max
        p["refractory"] = 0
        p["reset_mode"] = rng.integers(0, 3, n)
        lp["alpha_x"] = lp["alpha_y"] = F.DECAY_ONE
        lp["x_inc"] = lp["y_inc"] = F.TRACE_INC.max
        lp["a_plus"] = lp["a_minus"] = F.AMPLITUDE.max
        cfg.weights = np.where(rng.random((n, n)) < 0.5, F.WEIGHT.min, F.WEIGHT.max)
        forced = random_forced(CORNER_STEPS, n, 0.5, rng)
    elif case == "threshold_equality":
        # With alpha_v = 0, no input and I = 0, V = bias every step: V == threshold fires,
        # V == threshold - 1 does not; thresholds of both signs and at both rails.
        th = corner_values(F.THRESHOLD, n, rng, 0.5, lo=F.THRESHOLD.min + 1)
        p["threshold"] = th
        p["bias"] = np.where(np.arange(n) % 2 == 0, th, th - 1)
        p["alpha_v"] = 0
        p["alpha_i"] = 0
        p["refractory"] = rng.integers(0, 3, n)
        cfg.weights[:] = 0
        forced[:] = False
    elif case == "weight_bounds":
        # Weights at and beyond the bounds, inverted bounds (w_min > w_max: NumPy's clip
        # gives w_max), large updates, every synapse plastic.
        cfg.weights = corner_values(F.WEIGHT, (n, n), rng, 0.8)
        lp["w_min"] = corner_values(F.WEIGHT, n, rng, 0.6)
        lp["w_max"] = corner_values(F.WEIGHT, n, rng, 0.6)
        lp["a_plus"] = corner_values(F.AMPLITUDE, n, rng, 0.5)
        lp["a_minus"] = corner_values(F.AMPLITUDE, n, rng, 0.5)
        lp["x_inc"] = corner_values(F.TRACE_INC, n, rng, 0.5)
        lp["y_inc"] = corner_values(F.TRACE_INC, n, rng, 0.5)
        cfg.plastic[:] = True
        forced = random_forced(CORNER_STEPS, n, 0.3, rng)
    elif case == "all_fire":
        forced[:] = True
    elif case == "none_fire":
        p["bias"] = F.BIAS.min
        p["threshold"] = F.THRESHOLD.max
        forced[:] = False
    elif case == "learning_toggle":
        learning = [(k // 5) % 2 == 0 for k in range(CORNER_STEPS)]
        forced = random_forced(CORNER_STEPS, n, 0.25, rng)
    elif case == "decay_extremes":
        # alpha 0 and 1.0, negative V and I decaying toward zero (truncation, not floor),
        # long refractory periods.
        for name in ("alpha_v", "alpha_i"):
            p[name] = rng.choice([0, 1, F.DECAY_ONE - 1, F.DECAY_ONE], n)
        for name in ("alpha_x", "alpha_y"):
            lp[name] = rng.choice([0, 1, F.DECAY_ONE - 1, F.DECAY_ONE], n)
        p["bias"] = rng.integers(-(1 << 12), 1 << 10, n)
        p["refractory"] = rng.choice([0, 1, F.REFRACTORY.max], n)
        forced = random_forced(CORNER_STEPS, n, 0.3, rng)
    elif case == "deferred_reset":
        forced = _deferred_corner(cfg, rng)
    else:
        raise ValueError(f"Unknown corner case {case!r}.")
    _corner_rules(cfg, case, rng)
    return cfg.validate(), forced, learning


def _corner_rules(cfg, case, rng):
    """The rules of the build's options in every corner case."""
    if "stochastic" in OPTIONS:
        # half the neurons round stochastically: at the rails too
        cfg.rules["rounding"] = rng.integers(0, 2, cfg.n)
        cfg.seed = int(rng.integers(0, 1 << 32))
    if "triplet" in OPTIONS:
        # triplet rules in every case; at the rails in "rails" (saturated slow traces,
        # the largest updates)
        random_triplet(cfg, rng, corner=0.5, rails=case == "rails")


def _deferred_corner(cfg, rng):
    """snnTorch's reset (DEFERRED): V == threshold does not fire, threshold + 1 does; the
    update from V > threshold subtracts the threshold (saturating at the rails); refractory
    periods and forced spikes around it; thresholds at both rails (the firing level
    threshold + 1 beyond V.max never fires).  Returns the forced spikes."""
    n, p = cfg.n, cfg.neurons
    th = corner_values(F.THRESHOLD, n, rng, 0.5)
    p["threshold"] = th
    p["reset_mode"] = ResetMode.DEFERRED.value
    p["bias"] = np.clip(th + rng.integers(-1, 3, n), F.BIAS.min, F.BIAS.max)
    p["alpha_v"] = rng.choice([0, F.DECAY_ONE // 2, F.DECAY_ONE], n)
    p["alpha_i"] = 0
    p["refractory"] = rng.integers(0, 3, n)
    cfg.weights[:] = 0
    return random_forced(CORNER_STEPS, n, 0.1, rng)


CORNER_CASES = ["rails", "threshold_equality", "weight_bounds", "all_fire", "none_fire",
                "learning_toggle", "decay_extremes", "deferred_reset"]


@cocotb.test()
@cocotb.parametrize(case=CORNER_CASES)
async def corner(dut, case):
    """Configurations built to hit one edge of the datapath each."""
    rng = _network_seed(1000 + CORNER_CASES.index(case))
    cfg, forced, learning = _corner_config(case, rng)
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    ref = await run_and_check(tb, cfg, forced, learning, f"corner case {case}",
                              weights_every=WEIGHTS_EVERY)
    if case == "all_fire":
        assert ref.spikes.all()
    if case == "none_fire":
        assert not ref.spikes.any()


# -- the access port ---------------------------------------------------------------------------

@cocotb.test()
async def access_port(dut):
    """Every region reads back what was written, through the port and by peeking;
    control registers, out-of-range addresses, commands."""
    rng = np.random.default_rng([SEED, N, 77])
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    assert await tb.read_register(Register.INFO) == N
    assert await tb.read_register(Register.CONTRACT) == contract_hash()

    cfg = random_config(N, rng, corner=0.5)
    await tb.load(cfg)
    params, learn = await tb.read_params()
    assert params == cfg.neurons, "NEURON_PARAMS do not read back as written"
    assert learn == cfg.learning, "LEARNING_PARAMS do not read back as written"
    w, plastic = await tb.read_synapses()
    assert np.array_equal(w, cfg.weights), "weights do not read back as written"
    assert np.array_equal(plastic, cfg.plastic), "plasticity bits do not read back"
    pw, pplastic = tb.peek_weights()
    assert np.array_equal(pw, w) and np.array_equal(pplastic, plastic)

    # NEURON_STATE: random words with every field at its corners.
    state = Table(NEURON_STATE, N)
    for name, field in NEURON_STATE:
        state[name] = corner_values(field.shape, N, rng, 0.5)
    await tb.write(Region.NEURON_STATE, enumerate(state.pack()))
    assert await tb.read_state() == state, "NEURON_STATE does not read back as written"
    assert tb.peek_state() == state, "peeked state differs from what was written"

    bits = rng.random(N) < 0.5
    await tb.write(Region.SPIKES, enumerate(bits.astype(int).tolist()))
    assert np.array_equal(await tb.read_spikes(), bits)
    assert np.array_equal(tb.peek_spikes(), bits)
    await tb.write(Region.FORCED, enumerate(bits.astype(int).tolist()))
    assert np.array_equal(await tb.read(Region.FORCED, range(N)), bits.astype(int))

    if OPTIONS:
        await _check_rule_words(tb, rng)
    await _check_registers(tb)
    await _check_out_of_range(tb, params, learn, state)
    await _check_step_and_reset(tb, cfg, state, bits, params, learn)


async def _check_rule_words(tb: CoreTB, rng):
    """Options: SEED and the RULE_PARAMS fields of the core's options read back (the
    fields of options it lacks are not written here: the dispatcher refuses them), without
    touching the other parameters (they share the parameter memories); TRIPLET_STATE reads
    back."""
    before = await tb.read_params()
    for seed in (0xFFFFFFFF, int(rng.integers(0, 1 << 32)), 0):
        await tb.write_register(Register.SEED, seed)
        want = seed if "stochastic" in OPTIONS else 0
        assert await tb.read_register(Register.SEED) == want, "SEED does not read back"
    rules = Table(RULE_PARAMS, N)
    if "stochastic" in OPTIONS:
        rules["rounding"] = rng.integers(0, 2, N)
    if "eligibility" in OPTIONS:
        rules["target"] = rng.integers(0, 2, N)
        rules["alpha_e"] = corner_values(F.DECAY, N, rng, 0.5)
    if "triplet" in OPTIONS:
        for name, field in RULE_PARAMS:
            if name in ("alpha_x2", "x2_inc", "alpha_y2", "y2_inc", "a3_plus", "a3_minus"):
                rules[name] = corner_values(field.shape, N, rng, 0.5)
    await tb.write(Region.RULE_PARAMS, enumerate(rules.pack()))
    back = Table.unpack(RULE_PARAMS, await tb.read(Region.RULE_PARAMS, range(N)))
    assert back == rules, "RULE_PARAMS do not read back as written"
    # the other parameter words are untouched by RULE_PARAMS writes
    assert await tb.read_params() == before, "a RULE_PARAMS write changed other parameters"
    rules = Table(RULE_PARAMS, N)                   # for the steps that follow: nearest
    await tb.write(Region.RULE_PARAMS, enumerate(rules.pack()))
    if "triplet" in OPTIONS:
        slow = Table(TRIPLET_STATE, N)
        for name, field in TRIPLET_STATE:
            slow[name] = corner_values(field.shape, N, rng, 0.5)
        await tb.write(Region.TRIPLET_STATE, enumerate(slow.pack()))
        assert await tb.read_triplet() == slow, "TRIPLET_STATE does not read back"
        assert tb.peek_triplet() == slow, "peeked slow traces differ from what was written"


async def _check_registers(tb: CoreTB):
    """Control registers."""
    await tb.write_register(Register.STEP_COUNT, 0xDEADBEEF)
    assert await tb.read_register(Register.STEP_COUNT) == 0xDEADBEEF
    for on in (1, 0, 1):
        await tb.set_learning(on)
        assert await tb.read_register(Register.CONTROL) == on
    assert await tb.read_register(Register.COMMAND) == 0
    await tb.write(Region.CONTROL, [(Register.INFO.value, 5)])       # read-only: ignored
    assert await tb.read_register(Register.INFO) == N


async def _check_out_of_range(tb: CoreTB, params, learn, state):
    """Out-of-range addresses: writes are ignored, reads return 0."""
    oor = [(Region.NEURON_PARAMS, N), (Region.NEURON_STATE, N), (Region.SPIKES, N),
           (Region.CONTROL, len(Register))]
    if N * N < 1 << (N * N - 1).bit_length():
        oor.append((Region.SYNAPSE, N * N))
    for region, addr in oor:
        await tb.write(region, [(addr, (1 << 100) - 1)])
        assert await tb.read(region, [addr]) == [0], f"{region} address {addr} is not 0"
    assert await tb.read_params() == (params, learn)
    assert await tb.read_state() == state


async def _check_step_and_reset(tb: CoreTB, cfg, state, bits, params, learn):
    """A step uses the forced bits and clears them; RESET zeroes state, spikes, forced and
    the counters, and keeps weights, parameters and the learning bit.  Requests stall while
    the core is busy.  Option triplet: the step starts from the slow traces written by
    :func:`_check_rule_words`, with random triplet rules; RESET zeroes the slow traces."""
    triplet = "triplet" in OPTIONS
    if triplet:
        random_triplet(cfg, np.random.default_rng([SEED, N, 78]), corner=0.5)
        await tb.write(Region.RULE_PARAMS, enumerate(cfg.rules.pack()))
    ref = Reference(cfg, learning=True)
    ref.state = state
    if triplet:
        ref.triplet = tb.peek_triplet()
        assert ref.triplet["x2"].any(), "the slow traces to start from are all zero"
    await tb.write_register(Register.STEP_COUNT, 0)
    cycles = await tb.step()
    ref.step(bits)
    if triplet:
        assert await tb.read_triplet() == ref.triplet, "slow traces differ after a step"
    assert np.array_equal(await tb.read(Region.FORCED, range(N)), [0] * N)
    assert await tb.read_state() == ref.state
    assert np.array_equal(await tb.read_spikes(), ref.spikes)
    spike_list = await tb.read(Region.SPIKE_LIST, range(int(ref.spikes.sum())))
    assert spike_list == np.flatnonzero(ref.spikes).tolist()
    assert cycles == step_cycles(N, int(ref.spikes.sum()), True)
    assert np.array_equal((await tb.read_synapses())[0], ref.weights)

    await tb.write(Region.FORCED, [(0, 1)])
    cycles = await tb.reset_state()
    assert cycles == Core.reset_cyc(N) == tb.timed_cycles
    assert await tb.read_state() == Table(NEURON_STATE, N)
    if triplet:
        assert await tb.read_triplet() == Table(TRIPLET_STATE, N), "RESET left slow traces"
    assert not (await tb.read_spikes()).any()
    assert await tb.read(Region.FORCED, range(N)) == [0] * N
    assert await tb.read_register(Register.STEP_COUNT) == 0
    assert await tb.read_register(Register.SPIKE_COUNT) == 0
    assert await tb.read_register(Register.CONTROL) == 1
    assert np.array_equal((await tb.read_synapses())[0], ref.weights)
    assert await tb.read_params() == (params, learn)

    # Requests stall while busy: a read issued right after STEP completes after done.
    await tb.write(Region.CONTROL, [(Register.COMMAND.value, Command.STEP.value)])
    value = await tb.read_register(Register.STEP_COUNT)
    assert value == 1, "a read during a step was not held until the step finished"


# -- latency and throughput ----------------------------------------------------------------

@cocotb.test()
async def cycle_budget(dut):
    """Each phase takes exactly the cycles documented in Core's docstring."""
    rng = np.random.default_rng([SEED, N, 99])
    cfg = random_config(N, rng)
    cfg.neurons["bias"] = F.BIAS.min                 # only forced neurons fire
    cfg.neurons["threshold"] = F.THRESHOLD.max
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    await tb.load(cfg)
    await tb.reset_state()

    async def phases():
        # Phase changes land just after a rising edge; sampled at the next falling edge.
        # Icarus may report glitches of `phase` inside a timestep (an `always @*` block
        # first assigns the default), so a change is only a change if the value differs.
        spans = []
        phase, since = Phase.IDLE, get_sim_time(unit="ns")
        while True:
            await Edge(dut.phase)
            await FallingEdge(dut.clk)
            now_phase = Phase(int(dut.phase.value))
            if now_phase == phase:
                continue
            now = get_sim_time(unit="ns")
            spans.append((phase, round((now - since) / tb.period_ns)))
            phase, since = now_phase, now
            if phase == Phase.IDLE:
                return spans

    for learning in (False, True):
        await tb.set_learning(learning)
        for count in (0, 1, 3, N):
            forced = rng.permutation(N)[:count]
            await tb.write(Region.FORCED, ((int(k), 1) for k in forced))
            watcher = cocotb.start_soon(phases())
            await tb.write(Region.CONTROL, [(Register.COMMAND.value, Command.STEP.value)])
            spans = dict((await watcher)[1:])
            expected = {Phase.NEURON: Core.neuron_pass_cyc(N), Phase.FINISH: Core.FINISH_CYC}
            if count:
                expected[Phase.ROWS] = Core.row_pass_cyc(N, count)
                if learning:
                    expected[Phase.COLS] = Core.column_pass_cyc(N, count)
            assert spans == expected, (f"{count} spikes, learning {learning}: phases took "
                                       f"{spans}, documented {expected}")
            assert Core.neuron_pass_cyc(N) <= N + 16
            assert await tb.read_register(Register.CYCLES) == step_cycles(N, count, learning)


# Keep the imported layouts referenced (they document what the words are).
_ = (LEARNING_PARAMS, NEURON_PARAMS, ResetMode)

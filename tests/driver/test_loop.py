"""plasticore.driver.loop: the closed loop gives the reference's spikes and weights on every
target, shows the policy exactly the spikes of ``lag`` exchanges earlier, and refuses bad
inputs with messages naming the exchange."""

import contextlib

import numpy as np
import pytest

from plasticore.driver.chip import MissingOption
from plasticore.driver.loop import ClosedLoop, Inputs
from plasticore.driver.runtime import RunError, open_session
from plasticore.sim.workload import activity_config


def loop_target(target, request, n):
    """The runtime's name for a driver-test target (a running simulated board by URL)."""
    if target in ("virtual", "ref"):
        return "virtual"
    if target == "sim":
        board, _ = request.getfixturevalue("boards")(n)
        return board.url
    return target


class Echo:
    """An environment whose inputs depend on the spikes it is shown: in each step of the
    next exchange it forces the neurons that fired in the mirrored step of what it saw,
    shifted by one, plus a few random ones (seeded).  Keeps what it saw."""

    def __init__(self, n, chunk, seed=0, stop=None):
        self.n, self.chunk, self.stop = n, chunk, stop
        self.rng = np.random.default_rng(seed)
        self.seen = []

    def __call__(self, k, spikes):
        self.seen.append(None if spikes is None else spikes.copy())
        if self.stop is not None and k >= self.stop:
            return None
        forced = self.rng.random((self.chunk, self.n)) < 0.08
        if spikes is not None:
            forced |= np.roll(spikes[::-1], 1, axis=1)
        forced[:, 0] = False                     # never forced: an empty column too
        if k % 3 == 1:
            return Inputs([np.flatnonzero(row) for row in forced])   # index-list form
        return forced


@pytest.mark.parametrize(("chunk", "lag"), [(1, 1), (1, 2), (3, 2), (2, 3)])
def test_loop_equals_the_reference(target, request, chunk, lag):
    """Spikes of every step and the final weights (learning on) equal the reference's; the
    policy saw the spikes of exchange k - lag, exactly."""
    n, exchanges = 16, 24
    cfg = activity_config(n, seed=5)
    url = loop_target(target, request, n)
    out = {}
    for name in ("ref", url):
        env = Echo(n, chunk, seed=1)
        with open_session(name, cfg, learning=True) as session:
            rec = ClosedLoop(session, chunk=chunk, lag=lag).run(env, max_exchanges=exchanges)
            out[name] = rec, session.read_weights(), env.seen
    (a, wa, seen_a), (b, wb, seen_b) = out["ref"], out[url]
    assert a.spikes.shape == b.spikes.shape == (exchanges * chunk, n)
    assert a.spikes.any() and np.array_equal(a.spikes, b.spikes)
    assert np.array_equal(wa, wb)
    assert not np.array_equal(wa, cfg.weights)              # learning happened
    for seen in (seen_a, seen_b):
        assert len(seen) == exchanges and all(s is None for s in seen[:lag])
        for k in range(lag, exchanges):
            assert np.array_equal(seen[k], a.spikes[(k - lag) * chunk:(k - lag + 1) * chunk])


def test_loop_equals_an_open_loop_run(target, request):
    """The closed loop runs exactly the inputs the policy gave: the same spikes as one plain
    run of those inputs, and the step counter goes on across two loops."""
    n, chunk = 16, 5
    cfg = activity_config(n, seed=2)
    url = loop_target(target, request, n)
    given = []

    def policy(k, spikes):
        forced = np.random.default_rng([k, 0 if spikes is None else int(spikes.sum())]) \
            .random((chunk, n)) < 0.1
        given.append(forced)
        return Inputs(forced)

    with open_session(url, cfg, learning=True) as chip:
        loop = ClosedLoop(chip, chunk=chunk, lag=2)
        first = loop.run(policy, max_exchanges=7)
        second = loop.run(policy, max_exchanges=5)
    with open_session("ref", cfg, learning=True) as ref:
        plain = ref.run(12 * chunk, np.concatenate(given))
    assert np.array_equal(np.concatenate([first.spikes, second.spikes]), plain.spikes)


def test_loop_stops_when_the_policy_says_so(target, request):
    """A policy returning None stops the loop; exchanges already produced still run."""
    n = 16
    cfg = activity_config(n, seed=4)
    url = loop_target(target, request, n)
    for name in ("ref", url):
        env = Echo(n, 2, stop=9)
        with open_session(name, cfg) as session:
            rec = ClosedLoop(session, chunk=2, lag=2).run(env)
        assert rec.exchanges == 9 and rec.spikes.shape == (18, n) and len(env.seen) == 10


def test_loop_refuses_bad_inputs():
    cfg = activity_config(8, seed=0)
    with open_session("virtual", cfg) as chip, open_session("ref", cfg) as ref:
        for session in (ref, chip):
            with pytest.raises(RunError, match=r"chunk must be an integer >= 1, not 0"):
                ClosedLoop(session, chunk=0)
            with pytest.raises(RunError, match=r"lag must be an integer >= 1, not True"):
                ClosedLoop(session, lag=True)
            loop = ClosedLoop(session, chunk=2, lag=1)
            with pytest.raises(RunError, match=r"exchange 0 has shape \(3, 8\); an exchange "
                                               r"is \(2, 8\)"):
                loop.run(lambda k, s: np.zeros((3, 8), bool))
            with pytest.raises(RunError, match=r"Exchange 0, step 1 forces \[8\]; neuron "
                                               r"indices must be integers in \[0, 7\]"):
                loop.run(lambda k, s: [[1], [8]])
            with pytest.raises(RunError, match=r"Exchange 0 forces neurons in 1 steps"):
                loop.run(lambda k, s: [[1]])
            with pytest.raises(RunError, match=r"returned str for exchange 0"):
                loop.run(lambda k, s: "spikes")
            with pytest.raises(RunError, match=r"max_exchanges must be an integer >= 0"):
                loop.run(lambda k, s: None, max_exchanges=-1)
            assert loop.run(lambda k, s: None).exchanges == 0


@contextlib.contextmanager
def needs_eligibility():
    """Skip (with the driver's reason) on a core built without three-factor learning."""
    try:
        yield
    except MissingOption as e:
        pytest.skip(f"the target has no eligibility option: {e}")


def three_factor_program(n=16, rounding="stochastic"):
    """Inputs -> LIF outputs with three-factor pair STDP (depression too), for the reward
    tests; weights large enough that the outputs fire."""
    from plasticore.compiler import LIF, STDP, AllToAll, Network, ThreeFactor, compile

    net = Network(dt=1e-3, name="three_factor")
    inp = net.inputs("in", n // 2)
    out = net.population("out", n // 2, LIF(tau_mem=5e-3, tau_syn=0.0, v_threshold=1.0,
                                            v_rest=0.0, v_reset=0.0))
    w0 = np.random.default_rng(3).uniform(0.1, 0.6, (n // 2, n // 2))
    rule = ThreeFactor(STDP(tau_plus=3e-3, tau_minus=3e-3, A_plus=0.04, A_minus=0.03,
                            w_min=0.0, w_max=1.0, rounding=rounding), tau_e=20e-3)
    net.connect(inp, out, AllToAll(w0), stdp=rule)
    return compile(net, n=n)


class Rewarder:
    """Random inputs; rewards per step: random values with the rails, None (unmodulated)
    steps, whole exchanges without reward and whole exchanges with one value."""

    def __init__(self, program, chunk, seed=0):
        self.n, self.chunk = program.n, chunk
        self.inputs = program.population_indices("in")
        self.rng = np.random.default_rng(seed)

    def __call__(self, k, spikes):
        forced = np.zeros((self.chunk, self.n), bool)
        forced[:, self.inputs] = self.rng.random((self.chunk, self.inputs.size)) < 0.3
        kind = k % 4
        if kind == 0:
            return Inputs(forced)                       # never modulated
        if kind == 1:
            return Inputs(forced, float(self.rng.choice([-8.0, 7.9375, 0.0, 0.5])))
        rails = [-8.0, 7.9375, -0.0625, 0.0625, None, 0.0]
        rewards = [rails[int(self.rng.integers(len(rails)))] if self.rng.random() < 0.5
                   else float(self.rng.integers(-128, 128)) / 16 for _ in range(self.chunk)]
        if spikes is not None and spikes.any():
            rewards[0] = 7.9375                          # a reward that follows the spikes
        return Inputs(forced, rewards)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_loop_rewards_equal_the_reference(target, request, rounding):
    """Rewards sent with the steps of the closed loop: spikes, weights and eligibilities
    equal the reference's, and the rewards changed the weights."""
    program = three_factor_program(rounding=rounding)
    n, chunk, exchanges = program.n, 3, 40
    # open_session builds a simulated board with the program's learning options; the
    # session-wide boards of the other tests have none.
    url = "sim" if target == "sim" else loop_target(target, request, n)
    out = {}
    for name in ("ref", url):
        with needs_eligibility(), \
                open_session(name, program.config, learning=True) as session:
            rec = ClosedLoop(session, chunk=chunk, lag=2).run(Rewarder(program, chunk),
                                                              max_exchanges=exchanges)
            out[name] = rec.spikes, session.read_weights(), session.read_elig()
    (sa, wa, ea), (sb, wb, eb) = out["ref"], out[url]
    assert sa.any() and np.array_equal(sa, sb)
    assert np.array_equal(wa, wb) and np.array_equal(ea, eb)
    assert not np.array_equal(wa, program.config.weights)
    assert ea.any()


def test_loop_refuses_bad_rewards():
    program = three_factor_program()
    with open_session("virtual", program.config) as chip, \
            open_session("ref", program.config) as ref:
        for session in (ref, chip):
            loop = ClosedLoop(session, chunk=2, lag=1)
            with pytest.raises(RunError, match=r"Exchange 0, step 1: reward 8.0 is outside "
                                               r"\[-8, 7.9375\], the range of the modulator"):
                loop.run(lambda k, s: Inputs(None, [0.0, 8.0]))
            with pytest.raises(RunError, match=r"Exchange 0, step 0: reward nan is outside"):
                loop.run(lambda k, s: Inputs(None, float("nan")))
            with pytest.raises(RunError, match=r"Exchange 0 gives rewards for 3 steps; an "
                                               r"exchange is 2 steps"):
                loop.run(lambda k, s: Inputs(None, [0.0, 1.0, 2.0]))

"""Reward learning with an environment in the loop: gymnasium's FrozenLake on the chip.

**Task.** ``FrozenLake-v1`` (4x4 map, ``is_slippery=False``): walk from the top-left corner
to the goal in the bottom-right one without stepping into a hole; reward 1 at the goal, 0
otherwise; an episode ends at the goal, in a hole or after 100 moves.  Why this task: its
observation is one of 16 discrete states, so it maps onto 16 input neurons with no encoding
to tune; its reward is sparse and *delayed* (only at the goal, at least 6 moves after the
first decision), which is what an eligibility trace is for and what two-factor STDP cannot
learn; the dynamics are deterministic, so the reference-vs-chip comparison is about the chip
alone; and its episodes are short, so hundreds of them run on the simulated board.  A
uniformly random policy reaches the goal in 1.5 % of the episodes (10,000 measured).

**Network** (:func:`build_network`, written with the compiler): 16 ``state`` inputs (one
per cell) -> 4 ``action`` LIF neurons (left, down, right, up) through plastic weights with
three-factor learning (the STDP terms go into each synapse's eligibility, a reward moves the
weight by ``r e``); the actions inhibit one another (winner-take-all).

**One move = one exchange of** :data:`CHUNK` **steps** of the closed loop
(:class:`plasticore.driver.loop.ClosedLoop`, ``lag = 1``: a move needs the previous move's
outcome, so nothing is pipelined): the state's input neuron is forced in the first
:data:`DRIVE` steps; the action neurons integrate their weights from it and the first to
fire wins (its inhibition reaches the others one step later); the rest of the exchange is
quiet, so that the potentials relax before the next move.  The host reads the winner from
the spikes (ties: the host's seeded generator picks), steps the environment and sends the
next state.  Exploration: with probability ``epsilon`` (decaying over the episodes) the host
forces a random action neuron in the first step instead, which then wins.  At the end of an
episode one quiet exchange carries the reward ``gain * (return - baseline)`` (the baseline
is the running mean return), which the core applies to every synapse's eligibility.

Every spike and the final weights are the same on every target; :func:`run_task` runs it and
:func:`random_return` measures the random policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from plasticore.driver.loop import Inputs

if TYPE_CHECKING:
    from plasticore.compiler import Network, Program

__all__ = ["ENV_ID", "ENV_KWARGS", "CHUNK", "DRIVE", "STATES", "ACTIONS", "build_network",
           "compile_network", "Agent", "run_task", "random_return"]

ENV_ID = "FrozenLake-v1"
ENV_KWARGS = {"map_name": "4x4", "is_slippery": False}
STATES, ACTIONS = 16, 4
#: Steps per move: DRIVE steps with the state's neuron forced, then quiet ones.
CHUNK, DRIVE = 20, 8
DT = 1e-3
#: Threshold of the action neurons (volts; the unit is arbitrary) and their weights.
THETA = 1.0
#: With tau_mem = 8 steps a weight w (in thresholds) fires the neuron k steps after the
#: first input for w >= 1 / (8.51 (1 - 0.8825^k)): k = 1 for 1.0, 2 for 0.53, 3 for 0.38,
#: 4 for 0.30, 5 for 0.25, 8 for 0.19.
TAU_MEM = 8
W_INIT, W_MIN, W_MAX = (0.25, 0.35), 0.2, 1.0
#: Inhibition per winner: keeps the others silent for the rest of the drive (at most 7
#: more inputs); 12 quiet steps then shrink what is left of it by 0.8825^12 = 0.22.
W_INH = -2.0
#: Exploration on the chip: each action neuron has a noise input, forced by the host with
#: probability NOISE_P in each drive step (seeded), worth W_NOISE.
W_NOISE, NOISE_P = 0.1, 0.5
#: Learning: the state's pre-synaptic trace decays in TAU_X steps; a winning spike adds
#: A_PLUS x (about 3 weight LSBs: the inhibition's 2.0 sets the scale at 1/64 per LSB) to
#: the eligibility, which decays in TAU_E steps (0.6 per 20-step move) and holds +-16 LSBs.
TAU_X, TAU_E = 4, 100
A_PLUS = 0.047
#: Reward of an episode: GAIN * (return - baseline); the baseline follows the returns with
#: weight BASELINE_RATE.  Episodes of a run.
GAIN, BASELINE_RATE = 3.0, 0.05
EPISODES = 400


def build_network(rounding: str = "nearest", seed: int = 0) -> Network:
    """``state`` (16 inputs) -> ``action`` (4 LIF) with three-factor learning, and
    all-to-all inhibition among the actions.  Initial weights uniform in ``W_INIT``
    (``seed``), so that the actions are not all tied."""
    from plasticore.compiler import LIF, AllToAll, Network, OneToOne

    net = Network(dt=DT, name="frozenlake")
    state = net.inputs("state", STATES)
    action = net.population("action", ACTIONS, LIF(tau_mem=TAU_MEM * DT, tau_syn=0.0,
                                                   v_threshold=THETA, v_rest=0.0,
                                                   v_reset=0.0))
    noise = net.inputs("noise", ACTIONS)
    w0 = np.random.default_rng(seed).uniform(*W_INIT, (STATES, ACTIONS))
    net.connect(state, action, AllToAll(w0), name="state->action", stdp=_rule(rounding))
    net.connect(noise, action, OneToOne(W_NOISE), name="noise")
    net.connect(action, action, AllToAll(W_INH, allow_self_connections=False), name="wta")
    return net


def _rule(rounding: str) -> Any:
    """Three-factor pair STDP of the state -> action synapses: an action neuron's spike
    adds ``A_PLUS x_state`` to the eligibility of its synapses (no depression: a state's
    later spikes do not undo it); the eligibility decays with ``TAU_E`` steps."""
    from plasticore.compiler import STDP, ThreeFactor

    return ThreeFactor(STDP(tau_plus=TAU_X * DT, tau_minus=TAU_X * DT, A_plus=A_PLUS,
                            A_minus=0.0, w_min=W_MIN, w_max=W_MAX, rounding=rounding),
                       tau_e=TAU_E * DT)


def compile_network(n: int = 24, rounding: str = "nearest", seed: int = 0) -> Program:
    from plasticore.compiler import compile as compile_program

    return compile_program(build_network(rounding, seed), n=n)


@dataclass
class Agent:
    """The host side of the loop: a policy for :class:`~plasticore.driver.loop.ClosedLoop`
    (``lag = 1``) that plays ``episodes`` episodes, exploring with a probability that falls
    linearly from ``epsilon[0]`` to ``epsilon[1]`` at episode ``horizon``.  ``returns``
    collects each episode's return, ``rewards`` the reward sent at its end, ``actions``
    each move's (state, action, explored)."""
    program: Program
    episodes: int
    seed: int = 0
    epsilon: tuple[float, float] = (0.3, 0.0)     # at the first episode, at `horizon`
    horizon: int = EPISODES
    gain: float = GAIN
    returns: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    actions: list[tuple[int, int, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import gymnasium as gym

        self.env = gym.make(ENV_ID, **ENV_KWARGS)
        self.rng = np.random.default_rng(self.seed)
        self.state_idx = self.program.population_indices("state")
        self.action_idx = self.program.population_indices("action")
        self.noise_idx = self.program.population_indices("noise")
        self.n = self.program.n
        self.baseline = 0.0
        self.obs: int | None = None
        self.pending: int | None = None     # state of the move in flight

    # -- exchanges ----------------------------------------------------------------------------

    def _eps(self) -> float:
        # Over a fixed horizon, not the run's length: a short run is the start of a long one.
        a, b = self.epsilon
        f = len(self.returns) / max(1, self.horizon - 1)
        return a + (b - a) * min(1.0, f)

    def _move(self, state: int) -> Inputs:
        forced = np.zeros((CHUNK, self.n), bool)
        forced[:DRIVE, self.state_idx[state]] = True
        forced[:DRIVE, self.noise_idx] = self.rng.random((DRIVE, ACTIONS)) < NOISE_P
        if self.rng.random() < self._eps():
            forced[0, self.action_idx[self.rng.integers(ACTIONS)]] = True
        self.pending = state
        # Every step modulated (reward 0): the eligibility decays with TAU_E every step.
        return Inputs(forced, 0.0)

    def _decide(self, spikes: np.ndarray) -> tuple[int, bool]:
        """The action the chip chose: the first action neuron to fire (ties: seeded pick;
        none fired: a seeded random action); and whether it was forced (explored)."""
        out = spikes[:, self.action_idx]
        steps = np.flatnonzero(out.any(axis=1))
        if steps.size == 0:
            return int(self.rng.integers(ACTIONS)), True
        first = np.flatnonzero(out[steps[0]])
        explored = steps[0] == 0
        return int(first[0] if first.size == 1 else self.rng.choice(first)), bool(explored)

    def __call__(self, k: int, spikes: np.ndarray | None) -> Inputs | None:
        if self.obs is None:                            # the first episode starts
            self.obs = int(self.env.reset(seed=self.seed)[0])
            self._ret = 0.0
            return self._move(self.obs)
        if self.pending is None:                        # a reward exchange just ran
            if len(self.returns) >= self.episodes:
                return None
            self.obs = int(self.env.reset()[0])
            self._ret = 0.0
            return self._move(self.obs)
        assert spikes is not None
        action, explored = self._decide(spikes)
        self.actions.append((self.pending, action, explored))
        obs, reward, terminated, truncated, _ = self.env.step(action)
        self._ret += float(reward)
        self.obs, self.pending = int(obs), None
        if not (terminated or truncated):
            return self._move(self.obs)
        return self._end_episode()

    def _end_episode(self) -> Inputs:
        r = self.gain * (self._ret - self.baseline)
        self.baseline += BASELINE_RATE * (self._ret - self.baseline)
        self.returns.append(self._ret)
        self.rewards.append(r)
        return Inputs(np.zeros((CHUNK, self.n), bool), [r] + [0.0] * (CHUNK - 1))


def run_task(target: str = "ref", episodes: int = EPISODES, seed: int = 0,
             rounding: str = "stochastic") -> dict[str, Any]:
    """Play ``episodes`` episodes on ``target``; returns the episode returns, the spikes of
    every step, the final weight matrix and the speed."""
    from plasticore.driver.loop import ClosedLoop
    from plasticore.driver.runtime import open_session

    program = compile_network(rounding=rounding, seed=seed)
    agent = Agent(program, episodes, seed)
    with open_session(target, program.config, learning=True) as session:
        rec = ClosedLoop(session, chunk=CHUNK, lag=1).run(agent)
        weights = session.read_weights()
    return {"returns": np.array(agent.returns), "rewards": np.array(agent.rewards),
            "spikes": rec.spikes, "weights": weights,
            "actions": agent.actions, "steps": rec.steps, "exchanges": rec.exchanges,
            "wall_s": rec.wall_s, "program": program}


def random_return(episodes: int = 10_000, seed: int = 0) -> float:
    """Mean return of the uniformly random policy over ``episodes`` episodes."""
    import gymnasium as gym

    env = gym.make(ENV_ID, **ENV_KWARGS)
    env.action_space.seed(seed)
    total = 0.0
    env.reset(seed=seed)
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(r)
            done = terminated or truncated
    return total / episodes

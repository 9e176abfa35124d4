"""plasticore.demos.reward: a few episodes of the FrozenLake task give the same spikes, the
same final weights and the same returns on the reference and through the protocol."""

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from plasticore.demos import reward as R  # noqa: E402


def test_reward_task_reference_equals_virtual():
    a = R.run_task("ref", episodes=6, seed=2)
    b = R.run_task("virtual", episodes=6, seed=2)
    assert len(a["returns"]) == 6 and a["steps"] == b["steps"] > 0
    assert np.array_equal(a["spikes"], b["spikes"])
    assert np.array_equal(a["weights"], b["weights"])
    assert np.array_equal(a["returns"], b["returns"])
    assert a["actions"] == b["actions"]


def test_reward_task_learns_on_the_reference():
    """The rewards move the weights of the state -> action synapses only (seed 0 reaches
    the goal in its third episode: a reward that is not 0)."""
    res = R.run_task("ref", episodes=8, seed=0)
    assert res["returns"].any() and res["rewards"].any()
    longer = R.run_task("ref", episodes=10, seed=0)          # a short run is a prefix
    assert np.array_equal(longer["returns"][:8], res["returns"])
    assert np.array_equal(longer["spikes"][:res["steps"]], res["spikes"])
    program = res["program"]
    s, a = program.population_indices("state"), program.population_indices("action")
    w0, w1 = program.config.weights, res["weights"]
    changed = w0 != w1
    assert changed[np.ix_(s, a)].any()
    changed[np.ix_(s, a)] = False
    assert not changed.any()


def test_random_return_is_small():
    assert 0.0 < R.random_return(2000, seed=0) < 0.05


def test_reward_task_simulated_board_equals_reference():
    """Three episodes on the simulated board (the gateware, with the eligibility and
    stochastic options): the same spikes, weights and returns as the reference."""
    from plasticore.sim.board import have_verilator

    reason = have_verilator()
    if reason:
        pytest.skip(f"simulated board: {reason}")
    a = R.run_task("ref", episodes=3, seed=0)
    b = R.run_task("sim", episodes=3, seed=0)
    assert a["rewards"].any()                   # the goal in episode 3: the weights learn
    assert a["steps"] == b["steps"] > 0
    assert np.array_equal(a["spikes"], b["spikes"])
    assert np.array_equal(a["weights"], b["weights"])
    assert np.array_equal(a["returns"], b["returns"])

"""plasticore.driver.runtime: one session interface on every target, equal to the reference;
run errors are driver errors."""

import numpy as np
import pytest
from support.stimulus import random_forced

from plasticore.driver import DriverError
from plasticore.driver.runtime import (
    Results,
    RunError,
    check_target,
    open_session,
    run_program,
)
from plasticore.driver.targets import SIM_TARGETS
from plasticore.sim.workload import activity_config


def session_target(target, request, n):
    """The runtime's name for a driver-test target (a running simulated board by URL)."""
    if target in ("virtual", "ref"):
        return "virtual"
    if target in SIM_TARGETS:
        board, _ = request.getfixturevalue("boards")(n, SIM_TARGETS[target])
        return board.url
    return target


def test_session_equals_the_reference(target, request):
    """Spikes, V after every step, weight snapshots, reset and learning switch agree with
    the reference session, step for step."""
    n, steps = 16, 40
    cfg = activity_config(n, seed=3)
    forced = random_forced(steps, n, 0.1, np.random.default_rng(4))
    url = session_target(target, request, n)
    with open_session("ref", cfg, learning=True) as ref, \
            open_session(url, cfg, learning=True) as chip:
        assert ref.device == "reference model" and chip.n == ref.n == n
        for record_v, every in ((True, 10), (False, 0), (False, 7)):
            a = ref.run(steps, forced, record_v=record_v, weights_every=every)
            b = chip.run(steps, forced, record_v=record_v, weights_every=every)
            assert np.array_equal(a.spikes, b.spikes)
            assert sorted(a.state) == sorted(b.state)
            for name in a.state:
                assert np.array_equal(a.state[name], b.state[name])
            assert len(a.weights) == len(b.weights) == (steps // every if every else 0)
            for wa, wb in zip(a.weights, b.weights, strict=True):
                assert np.array_equal(wa, wb)
        ref.learning = chip.learning = False
        assert not chip.learning
        ref.reset()
        chip.reset()
        assert not chip.read_state()["v"].any()
        a, b = ref.run(5, forced[:5]), chip.run(5, forced[:5])
        assert np.array_equal(a.spikes, b.spikes)
        assert np.array_equal(ref.read_weights(), chip.read_weights())
        for name, value in ref.read_state().items():
            assert np.array_equal(value, chip.read_state()[name])


def test_check_target():
    for t in ("ref", "virtual", "sim", "sim-bytes", "/dev/ttyUSB1", "socket://127.0.0.1:5", "COM3"):
        assert check_target(t) == t
    with pytest.raises(RunError, match="Unknown target 'gpu'; use 'ref'"):
        check_target("gpu")
    assert issubclass(RunError, DriverError) and issubclass(RunError, ValueError)


def test_run_errors_are_driver_errors(tmp_path):
    from plasticore.compiler import LIF, AllToAll, Network, SpikeTimes, compile

    net = Network(dt=1e-3, name="tiny")
    a = net.inputs("a", 2, SpikeTimes([[0.001], [0.002]]))
    b = net.population("b", 2, LIF(tau_mem=10e-3, tau_syn=0.0, v_threshold=1.0))
    net.connect(a, b, AllToAll(0.6))
    b.record("spikes")
    prog = compile(net, n=8)
    with pytest.raises(RunError, match="Running on 'socket://127.0.0.1:1' failed"):
        run_program(prog, 5, target="socket://127.0.0.1:1")
    with pytest.raises(RunError, match="positive integer"):
        run_program(prog, -1)
    seen = []
    res = run_program(prog, 6, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6) and res.spikes["b"].shape == (6, 2)
    with pytest.raises(RunError, match="does not exist"):
        res.save(tmp_path / "no" / "r.npz")
    prog.save(tmp_path / "p.npz")
    with pytest.raises(RunError, match="not a plasticore results file"):
        Results.load(tmp_path / "p.npz")
    with pytest.raises(RunError, match="Cannot read results"):
        Results.load(tmp_path / "missing.npz")


def test_the_compiler_names_of_the_runtime_are_deprecated_aliases():
    import plasticore.compiler as C

    with pytest.deprecated_call(match="moved to plasticore.driver.runtime.Results"):
        assert C.Results is Results
    with pytest.deprecated_call(match="run_program"):
        assert C.run_program is run_program

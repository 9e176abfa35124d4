"""Run the cocotb tests of the core (``cocotb_core.py``) on Verilator and Icarus from pytest.

One build directory per simulator and core size (``build/<simulator>-n<N>``); a build is
skipped when the generated Verilog did not change (:mod:`plasticore.sim.rtl`).  Every test
asserts that its cocotb tests actually ran and none failed.

Default tier (2-4 minutes on 2 cores, builds included): N = 8 and 32 with 20 random networks
of 200 steps each, N = 13 (not a power of two), N = 256 with 5 networks, the corner cases, the
access port, the cycle budget, and a shorter run on Icarus; the learning options' builds
(stochastic + eligibility; triplet alone; all three) at N = 8 and 32 with their networks,
corner cases and access port (about 10 more minutes).  ``-m slow`` runs the slow tier
(about 15 minutes): N = 256 with 20 networks of 200 steps and its corner cases, and N = 1024.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from cocotb_tools.check_results import get_results

from plasticore.core import CoreParams
from plasticore.sim import rtl

HERE = Path(__file__).resolve().parent
#: ``cocotb_core`` imports this folder's module and the verification helpers of
#: ``tests/support``; the runner exports ``sys.path`` to the simulator.
IMPORT_PATHS = (HERE, HERE.parent)


def run(n, testcase=None, simulator="verilator", options=(), **env):
    """Build ``Core(n)`` (with the learning ``options``) for ``simulator`` (cached) and run
    the ``cocotb_core`` tests whose name is ``testcase`` (all if None); return the number of
    cocotb tests that ran."""
    if not rtl.have_simulator(simulator):
        pytest.skip(f"{simulator} is not installed here; install it to run this test.")
    for path in IMPORT_PATHS:
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    params = CoreParams(n, **dict.fromkeys(options, True))
    runner, build_dir = rtl.build_core(params, simulator)
    extra = {"PLASTICORE_N": str(n), "PLASTICORE_OPTIONS": ",".join(options),
             **{f"PLASTICORE_{k.upper()}": str(v) for k, v in env.items()}}
    test_dir = build_dir / f"run-{os.getpid()}-{testcase or 'all'}"
    log = test_dir / "sim.log"
    try:
        results = runner.test(test_module="cocotb_core", hdl_toplevel=rtl.TOPLEVEL,
                              build_dir=build_dir, test_dir=test_dir, extra_env=extra,
                              test_filter=None if testcase is None else rf"\.{testcase}(/|$)",
                              log_file=log)
    except SystemExit:
        # The runner exits on a failed cocotb test; show the failures, not just the code.
        pytest.fail(f"cocotb tests failed on {simulator}, N = {n} (full log: {log}):\n"
                    + _failures(log), pytrace=False)
    tests, failed = get_results(results)
    assert tests > 0, f"no cocotb test matched {testcase!r}"
    assert not failed, f"{failed} of {tests} cocotb tests failed; see {test_dir / 'sim.log'}"
    return tests


def _failures(log: Path, limit=12000) -> str:
    """The tracebacks of the failed cocotb tests in ``log``."""
    if not log.exists():
        return "(the simulator left no log)"
    lines = log.read_text(errors="replace").splitlines()
    out, keep = [], False
    for line in lines:
        if " failed" in line and "cocotb.regression" in line:
            keep = True
        elif "cocotb.regression" in line:
            keep = False
        if keep:
            out.append(line.rstrip())
    text = "\n".join(out) or "\n".join(lines[-40:])
    return text[:limit]


# -- Verilator, default tier ------------------------------------------------------------------

@pytest.mark.parametrize("n", [8, 32])
def test_random_networks(n):
    """20 corner-biased random networks x 200 steps, learning on, everything every step."""
    assert run(n, "random_network", networks=20, steps=200, weights_every=1) == 20


def test_random_networks_odd_size():
    """A core size that is not a power of two (address arithmetic, range checks)."""
    assert run(13, "random_network", networks=6, steps=150, weights_every=1) == 6


def test_random_networks_256():
    """N = 256: spikes and neuron state every step, weights every 10 steps and at the end."""
    assert run(256, "random_network", networks=5, steps=40, weights_every=10) == 5


@pytest.mark.parametrize("n", [8, 32])
def test_corner_cases(n):
    """Rails, threshold equality, weight bounds, all/none firing, learning toggled."""
    run(n, "corner", corner_steps=120, weights_every=1)


@pytest.mark.parametrize("n", [8, 13])
def test_access_port(n):
    """Every region and register reads back what was written; peeks agree with reads."""
    run(n, "access_port")


@pytest.mark.parametrize("n", [8, 13, 32, 256])
def test_cycle_budget(n):
    """Neuron, row and column passes take exactly the documented number of cycles."""
    run(n, "cycle_budget")


# -- options ------------------------------------------------------------------------------
#
# The default tier builds each size once with both options the gateware implements
# (stochastic and eligibility: the networks below use either or both); the slow tier checks
# the single-option builds.

BOTH = ("eligibility", "stochastic")


@pytest.mark.parametrize("n", [8, 32])
def test_option_networks(n):
    """Stochastic rounding: random networks whose neurons round at random stochastically or
    to nearest, random seeds and step counters.  Three-factor learning: eligibilities and
    modulators at their rails, modulated every step, never or sometimes, learning toggled.
    Every step, every weight and eligibility compared."""
    assert run(n, "stochastic_network", options=BOTH, networks=9, steps=100,
               weights_every=1) == 9
    assert run(n, "eligibility_network", options=BOTH, networks=9, steps=80,
               weights_every=1) == 9


def test_option_networks_odd_and_256():
    assert run(13, "eligibility_network", options=BOTH, networks=3, steps=50,
               weights_every=1) == 3
    assert run(256, "eligibility_network", options=BOTH, networks=3, steps=12,
               weights_every=4) == 3
    assert run(256, "stochastic_network", options=BOTH, networks=2, steps=30,
               weights_every=10) == 2


def test_option_corner_cases_and_access_port():
    """The corner cases (half the neurons rounding stochastically), the access port (SEED,
    RULE_PARAMS) and the cycle budget of a core with the options."""
    run(8, "corner", options=BOTH, corner_steps=80, weights_every=1)
    run(8, "access_port", options=BOTH)
    run(8, "cycle_budget", options=BOTH)


# Triplet STDP: a build with triplet alone (nearest rounding, to the weights: the general
# rule's datapath without the other options) and one with every option (triplet with
# stochastic rounding, eligibility targets and modulation together).
TRIPLET = ("triplet",)
ALL = ("eligibility", "stochastic", "triplet")


@pytest.mark.parametrize("n", [8, 32])
@pytest.mark.parametrize("options", [TRIPLET, ALL], ids=["triplet", "all"])
def test_triplet_networks(n, options):
    """Random triplet networks (a3 and the slow traces corner-biased, at the rails in every
    fifth, a fifth of the neurons on the pair rule, activity up to every neuron firing,
    learning toggled), with the build's other options mixed in; spikes, V, I, x, y, x2, y2
    every step, weights and eligibilities every step."""
    networks = 10 if n == 8 else 6
    assert run(n, "triplet_network", options=options, networks=networks, steps=90,
               weights_every=1) == networks


@pytest.mark.parametrize("options", [TRIPLET, ALL], ids=["triplet", "all"])
def test_triplet_corner_cases_and_access_port(options):
    """The corner cases with triplet rules (at the rails in "rails", all and none firing),
    the access port (RULE_PARAMS' triplet fields, TRIPLET_STATE, RESET clears x2, y2) and
    the cycle budget (unchanged by the option)."""
    run(8, "corner", options=options, corner_steps=80, weights_every=1)
    run(8, "access_port", options=options)
    run(8, "cycle_budget", options=options)


def test_triplet_32_corner_cases():
    run(32, "corner", options=ALL, corner_steps=60, weights_every=1)


@pytest.mark.slow
@pytest.mark.parametrize("options", [("stochastic",), ("eligibility",)])
def test_single_option_builds(options):
    name = "stochastic_network" if options == ("stochastic",) else "eligibility_network"
    for n in (8, 13, 32):
        assert run(n, name, options=options, networks=6, steps=80, weights_every=1) == 6
    run(8, "corner", options=options, corner_steps=80, weights_every=1)
    run(8, "access_port", options=options)


@pytest.mark.slow
@pytest.mark.parametrize("options", [TRIPLET, ALL], ids=["triplet", "all"])
def test_triplet_odd_and_256_slow(options):
    """Triplet builds at a size that is not a power of two (padded lanes, divided
    addresses) and at N = 256."""
    assert run(13, "triplet_network", options=options, networks=6, steps=80,
               weights_every=1) == 6
    run(13, "access_port", options=options)
    assert run(256, "triplet_network", options=options, networks=2, steps=30,
               weights_every=10) == 2


# -- Icarus ----------------------------------------------------------------------------------

def test_icarus():
    """The same core tests on a second simulator (4-state: catches X and initialisation
    problems Verilator's 2-state model hides)."""
    run(8, "random_network", simulator="icarus", networks=3, steps=60, weights_every=1)
    run(8, "corner", simulator="icarus", corner_steps=30, weights_every=1)
    run(8, "access_port", simulator="icarus")
    run(8, "cycle_budget", simulator="icarus")
    run(8, "stochastic_network", simulator="icarus", options=BOTH, networks=2, steps=30,
        weights_every=1)
    run(8, "eligibility_network", simulator="icarus", options=BOTH, networks=2, steps=30,
        weights_every=1)


def test_icarus_triplet():
    """Triplet (with every option) on Icarus: networks, corner cases, the access port."""
    run(8, "triplet_network", simulator="icarus", options=ALL, networks=3, steps=30,
        weights_every=1)
    run(8, "corner", simulator="icarus", options=ALL, corner_steps=20, weights_every=1)
    run(8, "access_port", simulator="icarus", options=ALL)


# -- slow tier -------------------------------------------------------------------------------

@pytest.mark.slow
def test_random_networks_256_slow():
    assert run(256, "random_network", networks=20, steps=200, weights_every=10,
               seed=2) == 20


@pytest.mark.slow
def test_corner_cases_256_slow():
    run(256, "corner", corner_steps=60, weights_every=10)


@pytest.mark.slow
def test_random_networks_1024_slow():
    assert run(1024, "random_network", networks=2, steps=20, weights_every=10) == 2

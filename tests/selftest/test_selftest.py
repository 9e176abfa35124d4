"""``plasticore selftest``: passes on every healthy target, fails on an injected stuck bit
(naming the region, word and bit), and says in one line that no board is plugged in."""

import json
import subprocess
import sys

import numpy as np
import pytest

from plasticore import protocol as P
from plasticore.driver import Chip
from plasticore.driver.selftest import REGIONS, march_check, run_checks


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "plasticore", "selftest", *args],
                          capture_output=True, text=True, timeout=600)


def test_selftest_passes_on_the_virtual_chip():
    res = _cli("--target", "virtual", "--neurons", "16", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["ok"] and [c["name"] for c in summary["checks"]] == \
        ["identify", "line", "march", "learning"]
    assert all(c["ok"] for c in summary["checks"])
    assert sum(ln.startswith("PASS ") for ln in res.stdout.splitlines()) == 4


# A bit that the march patterns set and clear in each region (of a 16-neuron core): word,
# bit.  NEURON_PARAMS bit 0 is threshold's LSB; LEARNING_PARAMS bit 0 alpha_x's LSB;
# ELIGIBILITY bit 3 of a 7-bit value (not the sign: a stuck sign makes the saved byte
# unwritable); RULE_PARAMS bit 0 rounding (option
# stochastic); TRIPLET_STATE bit 0 x2's LSB.  The virtual chip has every option.
STUCK = {"weights": (37, 6), "plastic": (31, 7), "neuron_params": (9, 0),
         "learning_params": (15, 0), "neuron_state": (2, 17), "spikes": (1, 2),
         "eligibility": (77, 3), "rule_params": (5, 0), "triplet_state": (11, 0)}


@pytest.mark.parametrize("value", [0, 1])
@pytest.mark.parametrize("region", sorted(STUCK))
def test_march_finds_a_stuck_bit_in_every_region(region, value):
    word, bit = STUCK[region]
    url = f"virtual://?neurons=16&stuck={region}.{word}.{bit}.{value}"
    with Chip(url) as chip:
        check = march_check(chip)
    assert not check.ok
    assert f"{region.upper()}: word {word} bit {bit} reads {value}" in check.detail
    assert check.detail.count("word ") == 1, check.detail      # that bit and no other
    assert "rebuild and reprogram" in check.advice


def test_march_covers_every_writable_region():
    assert set(REGIONS) == set(P.WireRegion)
    assert {r.name.lower() for r in REGIONS} == set(STUCK)


def test_march_restores_the_contents():
    rng = np.random.default_rng(3)
    with Chip("virtual://?neurons=16") as chip:
        w = rng.integers(-128, 128, (16, 16))
        chip.write_weights(w)
        assert march_check(chip).ok
        assert np.array_equal(chip.read_weights(), w)


def test_cli_stuck_bit_fails_with_exit_1_and_names_it():
    res = _cli("--target", "virtual://?neurons=16&stuck=weights.5.3.0")
    assert res.returncode == 1
    assert "FAIL march: stuck or coupled bits in WEIGHTS: word 5 bit 3 reads 0" in res.stdout
    assert "FAIL learning" in res.stdout                 # the weight it learns reads wrong
    assert res.stdout.strip().splitlines()[-1].endswith("FAIL (1/4 checks passed)")


def test_missing_port_is_one_line():
    res = _cli("--target", "/dev/ttyUSB_plasticore_missing")
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "plasticore selftest: error: no FTDI cable found: is the board plugged in? "
        "(/dev/ttyUSB_plasticore_missing does not exist)"]


def test_no_answer_says_what_to_check(tmp_path):
    # A peer that takes bytes and never answers: a board at the wrong baud rate, or not
    # programmed with plasticore.
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    res = _cli("--target", f"socket://127.0.0.1:{srv.getsockname()[1]}", "--timeout", "0.3")
    srv.close()
    assert res.returncode == 1
    assert "FAIL identify: no answer" in res.stdout
    assert "--baud" in res.stdout and "plasticore program" in res.stdout


def test_selftest_on_the_simulated_board():
    from plasticore.driver.targets import open_chip
    from plasticore.sim import board as B
    reason = B.have_verilator()
    if reason:
        pytest.skip(f"simulated board: {reason}")
    with open_chip("sim", 16) as chip:
        checks = run_checks(chip)
    assert [c.ok for c in checks] == [True] * 4, "\n".join(c.line() for c in checks)
    assert "gateware" in checks[0].detail and "N = 16" in checks[0].detail

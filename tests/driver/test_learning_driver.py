"""Three-factor learning, triplet STDP and stochastic rounding through the protocol: spike
records with modulators, the new regions, the options a core reports and what a core without
them refuses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from plasticore import fixed as F
from plasticore import protocol as P
from plasticore.core import OPTION_FIELDS, CoreConfig, CoreParams, Rounding, Target
from plasticore.driver import Chip
from plasticore.driver.chip import MissingOption, RequestRejected
from plasticore.sim.reference import Reference

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_learning_rules import random_program  # noqa: E402


@pytest.mark.parametrize("indices", [[], [3], [0, 5, 7], list(range(40))])
@pytest.mark.parametrize("modulator", [None, 0, 1, -1, F.MODULATOR.min, F.MODULATOR.max])
def test_record_with_modulator_round_trip(indices, modulator):
    n = 40
    raw = P.encode_record(indices, n, modulator) + b"\xAA"
    idx, r, end = P.decode_step(raw, 0, n)
    assert (idx, r, end) == (indices, modulator, len(raw) - 1)
    if modulator is None:
        assert P.decode_record(raw, 0, n) == (indices, len(raw) - 1)
    else:
        with pytest.raises(ValueError, match="modulated"):
            P.decode_record(raw, 0, n)


def test_record_modulator_checked_and_truncation():
    with pytest.raises(F.RangeError, match="modulator r = 128 is outside"):
        P.encode_record([1], 8, 128)
    raw = P.encode_record([1], 8, 5)
    with pytest.raises(ValueError, match="truncated before its modulator"):
        P.decode_step(raw[:-1], 0, 8)


def _steps(rng, n, steps):
    forced = [np.flatnonzero(rng.random(n) < 0.3) for _ in range(steps)]
    mods = [int(rng.integers(-128, 128)) if rng.random() < 0.6 else None for _ in range(steps)]
    mods[0], mods[1] = F.MODULATOR.min, F.MODULATOR.max
    return forced, mods


def test_virtual_chip_runs_every_rule_like_the_reference():
    """Load a program with every option through the protocol, run it in chunks with
    modulators, compare the complete snapshot (weights, eligibility, slow traces) with the
    reference after every chunk; then read the whole program back."""
    rng = np.random.default_rng(21)
    n = 12
    cfg = random_program(n, rng, rails=True)
    ref = Reference(cfg, learning=True)
    with Chip(f"virtual://?neurons={n}") as chip:
        assert chip.identity.option_names == {"stochastic", "eligibility", "triplet"}
        chip.load(cfg, verify=True)
        chip.learning = True
        for chunk in range(6):
            forced, mods = _steps(rng, n, 7)
            rec = chip.run(7, forced, modulators=mods)
            want = ref.run(7, forced, modulators=mods)
            assert np.array_equal(rec.spikes, want.spikes), chunk
            got = chip.snapshot()
            assert got == ref.snapshot(), got.diff(ref.snapshot())
            assert got.elig is not None and got.triplet is not None
        assert chip.read_elig().min() >= F.ELIGIBILITY.min
        back = chip.read_config()
        assert back.rules == cfg.rules and back.seed == cfg.seed


def test_seed_changes_the_rounding():
    rng = np.random.default_rng(5)
    n = 10
    cfg = random_program(n, rng)
    cfg.rules["rounding"] = Rounding.STOCHASTIC.value
    cfg.rules["target"] = Target.WEIGHT.value
    forced = [np.arange(n)] * 30
    finals = []
    for seed in (1, 2):
        cfg.seed = seed
        with Chip(f"virtual://?neurons={n}") as chip:
            chip.load(cfg)
            chip.learning = True
            chip.run(30, forced)
            finals.append(chip.read_weights())
            ref = Reference(cfg, learning=True)
            ref.run(30, forced)
            assert np.array_equal(finals[-1], ref.weights)
    assert not np.array_equal(*finals)


@pytest.mark.parametrize("option,setup", [
    ("stochastic", lambda c: c.rules.__setitem__("rounding", Rounding.STOCHASTIC.value)),
    ("eligibility", lambda c: c.rules.__setitem__("target", Target.ELIGIBILITY.value)),
    ("eligibility", lambda c: c.elig.__setitem__((0, 1), 5)),
    ("triplet", lambda c: c.rules.__setitem__("a3_plus", 3)),
])
def test_driver_refuses_a_program_needing_a_missing_option(option, setup):
    cfg = CoreConfig(8)
    setup(cfg)
    assert cfg.needs() == {option}
    others = [k for k in ("stochastic", "eligibility", "triplet") if k != option]
    with Chip(f"virtual://?neurons=8&options={','.join(others)}") as chip:
        with pytest.raises(MissingOption, match=f"needs the learning option.s. {option}, but "
                           f"virtual://.* was built without"):
            chip.load(cfg)


def test_core_without_options_refuses_new_regions_and_modulators():
    with Chip("virtual://?neurons=8&options=none") as chip:
        assert chip.identity.option_names == frozenset()
        chip.load(CoreConfig(8))                      # the pair rule: fine
        with pytest.raises(MissingOption, match="a run with modulators needs"):
            chip.run(2, modulators=[None, 3])
        with pytest.raises(MissingOption, match="reading the eligibility needs"):
            chip.read_elig()
        # the raw protocol: the core itself refuses
        with pytest.raises(RequestRejected, match="BAD_ADDRESS|address"):
            chip.read_region(P.WireRegion.RULE_PARAMS, 0, 1)
        head = P.pack(P.RUN_HEADER, {"first_step": 0, "steps": 1})
        with pytest.raises(RequestRejected, match="BAD_VALUE|value"):
            chip.request(P.Opcode.RUN, head + P.encode_record([], 8, 7))


def test_core_with_one_option_refuses_the_fields_of_the_others():
    with Chip("virtual://?neurons=8&options=stochastic") as chip:
        rules = CoreConfig(8).rules
        rules["rounding"] = Rounding.STOCHASTIC.value
        chip.write_rule_params(rules)                 # its own option: fine
        rules["alpha_e"] = 100
        with pytest.raises(RequestRejected, match="BAD_VALUE|value"):
            chip.write_rule_params(rules)
        assert chip.read_rule_params()["alpha_e"].max() == 0


def test_eligibility_region_range():
    with Chip("virtual://?neurons=8") as chip:
        with pytest.raises(F.RangeError, match="eligibility = 64 is outside"):
            chip.write_elig(np.full((8, 8), 64))
        with pytest.raises(RequestRejected, match="BAD_VALUE|value"):
            chip.write_region(P.WireRegion.ELIGIBILITY, 0, bytes([64]))
        e = np.arange(-32, 32).reshape(8, 8)
        chip.write_elig(e)
        assert np.array_equal(chip.read_elig(), e)


def test_virtual_url_options_are_checked():
    with pytest.raises(Exception, match="unknown learning option.*fast"):
        Chip("virtual://?neurons=8&options=fast").open()


def test_params_options():
    p = CoreParams(16, stochastic=True, triplet=True)
    assert p.options == {"stochastic", "triplet"} and p.options_mask == 0b101
    assert CoreParams.options_from_mask(p.options_mask) == p.options
    assert CoreParams.full(8).options_mask == 0b111
    with pytest.raises(TypeError, match="Option triplet must be True or False"):
        CoreParams(8, triplet=1)


@pytest.mark.slow
def test_three_factor_program_on_the_simulated_board():
    """End to end: a compiled three-factor program with stochastic rounding and a reward
    schedule, run on the simulated board (built with the options the program needs): every
    spike and the final weights equal the reference's."""
    from plasticore.compiler import (
        LIF,
        STDP,
        AllToAll,
        Network,
        Poisson,
        ThreeFactor,
        compile,
    )
    from plasticore.driver.runtime import run_program

    net = Network(dt=1e-3, duration=0.08, name="reward")
    inp = net.inputs("in", 12, Poisson(rate=80.0, seed=2))
    out = net.population("out", 4, LIF(tau_mem=10e-3, tau_syn=2e-3, v_threshold=0.5))
    out.record("spikes")
    net.connect(inp, out, AllToAll(0.1), stdp=ThreeFactor(
        STDP(w_max=0.3, A_plus=0.02, A_minus=0.02, rounding="stochastic"), tau_e=0.02)
    ).record_weights()
    net.reward(np.arange(0.005, 0.08, 0.01), np.tile([1.5, -0.5], 4))
    prog = compile(net, n=16)
    prog.config.seed = 1234
    ref = run_program(prog, target="ref")
    sim = run_program(prog, target="sim")
    assert np.array_equal(ref.spikes["out"], sim.spikes["out"])
    (w_ref,), (w_sim,) = ref.weights_raw.values(), sim.weights_raw.values()
    assert np.array_equal(w_ref, w_sim)
    assert not np.array_equal(w_ref, prog.config.weights[:12, 12:16])


@pytest.mark.parametrize("options", [("triplet",), ("eligibility", "stochastic", "triplet")],
                         ids=["triplet", "all"])
def test_triplet_program_on_the_simulated_board(options):
    """The triplet gateware through the whole stack: a triplet program (with the other
    options' parts where the board has them) loaded through the protocol onto the simulated
    board built with ``options``, run in chunks; spikes equal the reference's every step,
    the complete snapshot (state, weights, slow traces, eligibility) after every chunk."""
    from plasticore.driver.targets import open_chip
    from plasticore.sim import board as B

    reason = B.have_verilator()
    if reason:
        pytest.skip(f"simulated board: {reason}")
    rng = np.random.default_rng(44)
    n = 12
    cfg = random_program(n, rng, rails=True)
    cfg.rules["a3_minus"] = np.where(rng.random(n) < 0.2, F.AMPLITUDE.max,
                                     cfg.rules["a3_minus"])
    if "eligibility" not in options:
        for name in OPTION_FIELDS["stochastic"] + OPTION_FIELDS["eligibility"]:
            cfg.rules[name] = 0
        cfg.elig[:] = 0
    assert cfg.needs() == set(options)
    ref = Reference(cfg, learning=True)
    with open_chip("sim", n, options=options) as chip:
        assert chip.identity.option_names == set(options)
        chip.load(cfg, verify=True)
        chip.learning = True
        for chunk in range(4):
            forced, mods = _steps(rng, n, 6)
            mods = mods if "eligibility" in options else None
            rec = chip.run(6, forced, modulators=mods)
            want = ref.run(6, forced, modulators=mods)
            assert np.array_equal(rec.spikes, want.spikes), chunk
            got = chip.snapshot()
            assert got.triplet is not None and got.triplet["y2"].any()
            assert got == ref.snapshot(), got.diff(ref.snapshot())
    assert not np.array_equal(ref.weights, cfg.weights)

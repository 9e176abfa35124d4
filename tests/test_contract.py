"""The contract's layouts, packaging and command line."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plasticore import fixed as F
from plasticore import protocol
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    SYNAPSE,
    CoreConfig,
    CoreParams,
    ResetMode,
    Table,
)

LAYOUTS = [NEURON_PARAMS, LEARNING_PARAMS, NEURON_STATE]


def test_layout_sizes():
    assert (NEURON_PARAMS.size, LEARNING_PARAMS.size, NEURON_STATE.size, SYNAPSE.size) == \
        (117, 104, 106, 16)


@pytest.mark.parametrize("n", [7, 1025, 0, -3])
def test_core_size_range(n):
    with pytest.raises(ValueError, match="between 8 and 1024"):
        CoreParams(n)


def test_core_size_type():
    with pytest.raises(TypeError, match="must be an integer"):
        CoreParams(16.0)
    assert CoreParams(np.int64(33)).n == 33 and CoreParams().n == 256


def random_table(layout, n, draw):
    t = Table(layout, n)
    for name, field in layout:
        shape = field.shape
        if isinstance(shape, F.Format):
            lo, hi = shape.min, shape.max
        elif shape is ResetMode:
            lo, hi = 0, 1
        else:
            lo, hi = 0, (1 << field.width) - 1
        t[name] = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    return t


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(LAYOUTS), st.data())
def test_pack_unpack_round_trip(layout, data):
    t = random_table(layout, 4, data.draw)
    words = t.pack()
    assert all(0 <= w < (1 << layout.size) for w in words)
    assert Table.unpack(layout, words) == t


def test_pack_puts_the_first_field_in_the_low_bits():
    t = Table(NEURON_PARAMS, 1, threshold=-1, reset_mode=ResetMode.SUBTRACT)
    (word,) = t.pack()
    assert word & 0xFFFFFF == 0xFFFFFF and word >> 116 == 1 and (word >> 24) & 0xFFFFFF == 0


def test_table_refuses_out_of_range_and_names_field():
    t = Table(NEURON_PARAMS, 3)
    with pytest.raises(F.RangeError, match="field 'alpha_v' = 40000 is outside"):
        t["alpha_v"] = [0, 40000, 1]
    assert t["alpha_v"].tolist() == [0, 0, 0]     # nothing half-written
    with pytest.raises(KeyError, match="'tau' is not a field"):
        t["tau"]
    with pytest.raises(F.RangeError, match="reset_mode"):
        t["reset_mode"] = 2


def test_config_validation():
    cfg = CoreConfig(8)
    cfg.weights[0, 0] = 128
    with pytest.raises(F.RangeError, match="weights = 128"):
        cfg.validate()
    with pytest.raises(ValueError, match=r"shape \(8, 8\)"):
        CoreConfig(8, weights=np.zeros((8, 9)))
    cfg = CoreConfig(8)
    assert cfg.copy() == cfg and cfg.copy() is not cfg


def test_contract_hash_is_stable_across_processes():
    code = "from plasticore.protocol import contract_hash; print(contract_hash())"
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout for _ in range(2)}
    assert out == {f"{protocol.contract_hash()}\n"}
    assert 0 <= protocol.contract_hash() < 1 << 32


def test_contract_hash_covers_layouts(monkeypatch):
    before = protocol.contract_hash()
    desc = protocol.contract_description()
    desc["layouts"]["synapse"][0] = ("weight", 0, 9)
    monkeypatch.setattr(protocol, "contract_description", lambda: desc)
    assert protocol.contract_hash() != before


def run_py(code):
    # From /, so that the repository folders are not on sys.path.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd="/").stdout


def test_one_namespace_and_no_generic_top_level_names():
    out = run_py("import importlib.util as u, json; print(json.dumps("
                 "[n for n in ('hdl', 'sim', 'compiler', 'driver', 'boards', 'tests')"
                 " if u.find_spec(n)]))")
    assert json.loads(out) == []
    out = run_py("import plasticore.hdl, plasticore.sim, plasticore.compiler, "
                 "plasticore.driver, plasticore.boards; print('ok')")
    assert out == "ok\n"


def test_contract_imports_nothing_of_the_project():
    out = run_py("import sys, plasticore, plasticore.fixed, plasticore.core, "
                 "plasticore.protocol; print(sorted(m for m in sys.modules "
                 "if m.startswith('plasticore.')))")
    assert out.strip() == "['plasticore.core', 'plasticore.fixed', 'plasticore.protocol']"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "plasticore", *args], capture_output=True,
                          text=True, cwd="/")


def test_cli_help_lists_commands():
    r = cli("--help")
    assert r.returncode == 0 and "demo" in r.stdout and "info" in r.stdout


def test_cli_demo_small_json_summary_on_last_line():
    r = cli("demo", "--small", "--steps", "60", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 60 and summary["spikes"] > 0 and summary["target"] == "ref"
    assert summary["weights_changed"] > 0


def test_cli_demo_rejects_bad_steps():
    r = cli("demo", "--small", "--steps", "-4")
    assert r.returncode == 2 and "--steps: must be at least 1, not -4" in r.stderr
    # --steps is an option of the small network only; the digits demo refuses it
    r = cli("demo", "--steps", "60", "--target", "ref")
    assert r.returncode == 2 and "--steps belongs to the small network" in r.stderr


def test_cli_info_json():
    r = cli("info", "--json")
    d = json.loads(r.stdout)
    assert d["contract_hash"] == f"{protocol.contract_hash():08x}"
    assert [f[0] for f in d["layouts"]["neuron_state"]] == ["v", "i", "acc", "ref", "x", "y"]

"""plasticore.compiler.load_network: network files (.py, .nir) and their errors."""

from pathlib import Path

import nir
import numpy as np
import pytest

from plasticore.compiler import CompileError, Network, NirOptions, Poisson, compile, load_network

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "stdp_pattern.py"


def test_python_file():
    net = load_network(EXAMPLE)
    assert isinstance(net, Network) and net.name == "stdp_pattern"


@pytest.mark.parametrize("name, text, msg", [
    ("none.py", None, "Network file '.*none.py' does not exist"),
    ("net.py", "x = 1\n", "defines neither a module-level `network`"),
    ("net.txt", "", "must be a .py or a .nir file"),
    ("prog.npz", "", "is a compiled program or a results file \\(.npz\\), not a network"),
])
def test_errors_name_the_file(tmp_path, name, text, msg):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(CompileError, match=msg):
        load_network(path)


def test_a_program_file_is_not_a_network(tmp_path):
    compile(load_network(EXAMPLE)).save(tmp_path / "p.npz")
    with pytest.raises(CompileError, match="not a network: pass the .py or .nir file"):
        load_network(tmp_path / "p.npz")


def test_nir_file_and_options(tmp_path):
    g = nir.NIRGraph.from_list(
        nir.Linear(np.full((3, 2), 20.0)),
        nir.LIF(tau=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3),
                v_threshold=np.ones(3), v_reset=np.zeros(3)))
    path = tmp_path / "g.nir"
    nir.write(path, g)
    with pytest.raises(CompileError, match="needs dt"):
        load_network(path)
    a = load_network(path, dt=1e-3, inputs={"input": Poisson(100.0, 1)}, duration=0.05,
                     method="euler")
    b = load_network(path, NirOptions(dt=1e-3, inputs={"input": Poisson(100.0, 1)},
                                      duration=0.05, method="euler"))
    assert a.name == b.name == "g" and list(a.populations) == list(b.populations)
    assert np.array_equal(compile(a).config.weights, compile(b).config.weights)
    with pytest.raises(CompileError, match="Option 'dt' applies to .nir files"):
        load_network(EXAMPLE, dt=1e-3)
    with pytest.raises(TypeError, match="the fields of NirOptions"):
        load_network(path, tau=1.0)
    with pytest.raises(TypeError, match="not both"):
        load_network(path, NirOptions(dt=1e-3), dt=1e-3)


def test_options_report_what_was_given():
    assert NirOptions().given() == []
    assert NirOptions(dt=1e-3, record_v=True).given() == ["dt", "record_v"]

"""`plasticore compile` and `plasticore run`: outputs, --json, errors that write nothing."""

import json
import os
from pathlib import Path

import nir
import numpy as np
import pytest

from plasticore import cli
from plasticore.compiler import Program
from plasticore.driver.cli import progress_printer
from plasticore.driver.runtime import Results

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "stdp_pattern.py"

BUILD = """
from plasticore.compiler import LIF, AllToAll, Network, SpikeTimes

def build():
    net = Network(dt=1e-3, name="tiny")
    a = net.inputs("a", 2, SpikeTimes([[0.001, 0.005], [0.002]]))
    b = net.population("b", 2, LIF(tau_mem=10e-3, tau_syn=0.0, v_threshold=1.0))
    net.connect(a, b, AllToAll(0.6))
    b.record("spikes", "v")
    return net
"""


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_and_run_example(tmp_path, capsys):
    prog, res = tmp_path / "p.npz", tmp_path / "r.npz"
    code, out, err = run(capsys, "compile", EXAMPLE, "-o", prog, "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["used"] == 84 and summary["learning"] and summary["program"] == str(prog)
    code, out, err = run(capsys, "run", prog, "--target", "ref", "--steps", "300", "-o", res,
                         "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["steps"] == 300 and summary["spikes"]["exc"] > 0
    r = Results.load(res)
    assert r.spikes["exc"].shape == (300, 16) and r.v["exc"].shape == (300, 16)
    assert r.weight_history["in->exc"].shape == (1, 64, 16)
    code, out, err = run(capsys, "compile", EXAMPLE, "-o", prog)
    assert code == 0 and "threshold at 2^16" in out and "exc" in out


def test_build_function_and_long_run_note(tmp_path, capsys):
    net = tmp_path / "tiny.py"
    net.write_text(BUILD)
    prog, res = tmp_path / "p.npz", tmp_path / "r.npz"
    assert run(capsys, "compile", net, "-o", prog)[0] == 0
    assert Program.load(prog).input_steps == 6
    code, out, err = run(capsys, "run", prog, "--steps", "20", "-o", res)
    assert code == 0 and "input ends after 6 steps" in err
    assert Results.load(res).spikes["b"].shape == (20, 2)


@pytest.mark.parametrize("text, msg", [
    ("x = 1\n", "defines neither a module-level `network`"),
    ("def build():\n    return 3\n", "returned a int"),
    ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
    ("from plasticore.compiler import Network\nnetwork = Network(dt=float('nan'))\n",
     "dt must be finite"),
    ("from plasticore.compiler import Network\nnetwork = Network(dt=1e-3)\n"
     "network.population('p', 300)\n", "needs 300 neurons"),
])
def test_compile_errors_write_nothing(tmp_path, capsys, text, msg):
    net = tmp_path / "net.py"
    net.write_text(text)
    prog = tmp_path / "p.npz"
    code, out, err = run(capsys, "compile", net, "-o", prog)
    assert code == 2 and msg in err and err.startswith("plasticore compile: error:")
    assert not prog.exists() and sorted(os.listdir(tmp_path)) == ["net.py"]


def test_compile_bad_paths(tmp_path, capsys):
    code, _, err = run(capsys, "compile", tmp_path / "none.py", "-o", tmp_path / "p.npz")
    assert code == 2 and "does not exist" in err
    other = tmp_path / "net.txt"
    other.write_text("")
    code, _, err = run(capsys, "compile", other, "-o", tmp_path / "p.npz")
    assert code == 2 and "must be a .py or a .nir file" in err
    code, _, err = run(capsys, "compile", EXAMPLE, "-o", tmp_path / "p.npz", "--dt", "0.001")
    assert code == 2 and "--dt applies to .nir files" in err


def test_compile_nir(tmp_path, capsys):
    g = nir.NIRGraph.from_list(
        nir.Linear(np.full((3, 2), 20.0)),
        nir.LIF(tau=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3),
                v_threshold=np.ones(3), v_reset=np.zeros(3)))
    path = tmp_path / "g.nir"
    nir.write(path, g)
    raster = tmp_path / "in.npy"
    np.save(raster, np.ones((50, 2), bool))
    prog, res = tmp_path / "p.npz", tmp_path / "r.npz"
    code, out, err = run(capsys, "compile", path, "-o", prog, "--dt", "1e-3", "--json",
                         "--stdp", "linear:tau_plus=0.02,A_plus=0.5,A_minus=0.5,w_max=40",
                         "--input", f"input={raster}")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["plastic"] == 6
    assert run(capsys, "run", prog, "-o", res)[0] == 0
    assert Results.load(res).spikes["lif"].sum() > 0
    code, _, err = run(capsys, "compile", path, "-o", prog, "--dt", "1e-3", "--poisson",
                       "input=100:3", "--duration", "0.1")
    assert code == 0, err
    code, _, err = run(capsys, "compile", path, "-o", tmp_path / "q.npz")
    assert code == 2 and "needs --dt" in err
    code, _, err = run(capsys, "compile", path, "-o", tmp_path / "q.npz", "--dt", "1e-3",
                       "--stdp", "linear:tau_plus")
    assert code == 2 and "--stdp takes" in err
    code, _, err = run(capsys, "compile", path, "-o", tmp_path / "q.npz", "--dt", "1e-3",
                       "--stdp", "linear:bogus=1")
    assert code == 2 and "--stdp takes" in err
    assert not (tmp_path / "q.npz").exists()


def test_run_errors_write_nothing(tmp_path, capsys):
    prog, res = tmp_path / "p.npz", tmp_path / "r.npz"
    assert run(capsys, "compile", EXAMPLE, "-o", prog)[0] == 0
    for target in ("/dev/plasticore-none", "socket://127.0.0.1:1"):
        code, _, err = run(capsys, "run", prog, "--target", target, "-o", res)
        assert code == 2 and f"Running on '{target}' failed" in err
        assert not res.exists()
    code, _, err = run(capsys, "run", prog, "--target", "gpu", "-o", res)
    assert code == 2 and "Unknown target 'gpu'" in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    code, _, err = run(capsys, "run", bad, "-o", res)
    assert code == 2 and "not a valid plasticore program" in err
    code, _, err = run(capsys, "run", EXAMPLE, "-o", res)      # a network, not a program
    assert code == 2 and "is a network description" in err and "plasticore compile" in err
    code, _, err = run(capsys, "run", prog, "-o", tmp_path / "no" / "r.npz")
    assert code == 2 and "does not exist" in err
    assert not res.exists()


def test_progress_goes_to_stderr(capsys):
    progress = progress_printer(10, every_s=0.0)
    for k in range(1, 11):
        progress(k)
    out, err = capsys.readouterr()
    assert out == "" and "step 10/10 (100 %" in err


def test_compile_snntorch_graph_with_its_conventions(tmp_path, capsys):
    """snnTorch's own export (a fixture): the warning names the options; with them the
    program has the DEFERRED reset mode on its neurons."""
    from plasticore.core import ResetMode

    path = ROOT / "tests" / "fixtures" / "nir" / "snntorch_ff.nir"
    prog = tmp_path / "p.npz"
    code, _, err = run(capsys, "compile", path, "-o", prog, "--dt", "1e-3")
    assert code == 0, err
    assert "plasticore compile: warning: " in err and "--dt 0.0001" in err
    code, _, err = run(capsys, "compile", path, "-o", prog, "--dt", "1e-4", "--method",
                       "euler", "--reset", "deferred")
    assert code == 0, err
    p = Program.load(prog)
    modes = set(p.config.neurons["reset_mode"][p.population_indices("1")].tolist())
    assert modes == {ResetMode.DEFERRED.value}
    code, _, err = run(capsys, "compile", path, "-o", prog, "--dt", "1e-4", "--method",
                       "euler", "--strict-threshold", "--synaptic-jump")
    assert code == 0, err

"""NIR export: a program's realised network round-trips through from_nir word for word."""

import nir
import numpy as np
import pytest
from compiler_nets import feedforward, recurrent

from plasticore.cli import main
from plasticore.compiler import (
    LIF,
    STDP,
    CompileError,
    Dense,
    Network,
    Poisson,
    compile,
    from_nir,
    to_nir,
)

NEURON_FIELDS = ("threshold", "v_reset", "bias", "alpha_v", "alpha_i", "refractory", "w_shift",
                 "reset_mode")
LEARNING_FIELDS = ("alpha_x", "x_inc", "alpha_y", "y_inc", "a_plus", "a_minus", "w_min",
                   "w_max")


def reimport(prog, graph=None, method="exp", reset="value", refractory=0.0, **kw):
    graph = to_nir(prog, method=method) if graph is None else graph
    net = from_nir(graph, dt=prog.dt, method=method, reset=reset, refractory=refractory, **kw)
    return compile(net, n=prog.n)


def assert_same_words(a, b, skip=()):
    for f in NEURON_FIELDS:
        if f not in skip:
            np.testing.assert_array_equal(np.asarray(a.config.neurons[f]),
                                          np.asarray(b.config.neurons[f]), err_msg=f)
    np.testing.assert_array_equal(a.config.weights, b.config.weights)


def if_net():
    """IF neurons (tau_mem = inf, no current), one population driven only by its bias."""
    net = Network(dt=1e-3, duration=0.1, name="if")
    inp = net.inputs("in", 8, Poisson(100.0, seed=3))
    a = net.population("a", 5, LIF(tau_mem=np.inf, tau_syn=0.0, v_rest=-0.06,
                                   v_threshold=-0.05, v_reset=-0.06))
    b = net.population("b", 3, LIF(tau_mem=np.inf, tau_syn=0.0, v_threshold=1.0,
                                   bias=np.array([10.0, 20.0, 30.0])))
    net.connect(inp, a, Dense(np.random.default_rng(0).uniform(-2e-3, 4e-3, (8, 5))))
    a.record("spikes")
    b.record("spikes")
    return net


@pytest.mark.parametrize("method", ["exp", "euler"])
@pytest.mark.parametrize("kind", ["cuba", "lif", "subtract"])
def test_feedforward_round_trip_word_for_word(kind, method):
    reset = "subtract" if kind == "subtract" else "value"
    net = feedforward(reset=reset, tau_syn=0.0 if kind == "lif" else 5e-3)
    prog = compile(net)
    graph = to_nir(prog, method=method)
    node = graph.nodes["exc"]
    assert isinstance(node, nir.LIF if kind == "lif" else nir.CubaLIF)
    assert isinstance(graph.nodes["in"], nir.Input)
    assert isinstance(graph.nodes["exc.out"], nir.Output)
    # the weights are the realised ones, in volts, (post, pre)
    pre, post = prog.population_indices("in"), prog.population_indices("exc")
    realised = prog.config.weights[np.ix_(pre, post)] * prog.weight_lsb[post]
    np.testing.assert_allclose(graph.nodes["in->exc"].weight, realised.T, rtol=1e-12)
    again = reimport(prog, graph, method=method, reset=reset, refractory=2e-3)
    assert_same_words(prog, again)


@pytest.mark.parametrize("method", ["exp", "euler"])
def test_if_and_bias_only_population(method):
    prog = compile(if_net())
    graph = to_nir(prog, method=method)
    assert isinstance(graph.nodes["a"], nir.IF) and isinstance(graph.nodes["b"], nir.IF)
    assert isinstance(graph.nodes["b.bias"], nir.Affine)           # bias without projection
    assert_same_words(prog, reimport(prog, graph, method=method))


@pytest.mark.parametrize("method", ["exp", "euler"])
def test_recurrent_round_trip(method):
    """Mixed resets and refractory periods are not carried by NIR: everything else is."""
    prog = compile(recurrent())
    graph = to_nir(prog, method=method)
    assert isinstance(graph.nodes["in->exc"], nir.Affine)          # exc's bias
    again = reimport(prog, graph, method=method, refractory=1e-3)
    assert_same_words(prog, again, skip=("reset_mode", "refractory"))
    exc, inh = prog.population_indices("exc"), prog.population_indices("inh")
    np.testing.assert_array_equal(again.config.neurons["refractory"][exc],
                                  prog.config.neurons["refractory"][exc])
    np.testing.assert_array_equal(again.config.neurons["reset_mode"][exc],
                                  prog.config.neurons["reset_mode"][exc])
    assert prog.config.neurons["reset_mode"][inh][0] != again.config.neurons["reset_mode"][inh][0]


@pytest.mark.parametrize("lsb, k_expected, s_expected", [(-64.3, 16, 1), (-127.9, 17, 0)])
def test_weights_at_a_scale_boundary_keep_the_scale(lsb, k_expected, s_expected):
    """A realised weight of exactly -64 (-128) LSB would let the importer pick a finer scale:
    it is exported off-grid so that it rounds back to the same word."""
    net = Network(dt=1e-3, name="edge")
    inp = net.inputs("in", 2)
    out = net.population("out", 2, LIF(tau_mem=20e-3, tau_syn=0.0, v_threshold=1.0))
    unit = 2.0 ** s_expected / 2.0 ** k_expected                    # weight LSB, volts
    net.connect(inp, out, Dense(np.array([[lsb * unit, 3 * unit], [5 * unit, -7 * unit]])))
    prog = compile(net)
    sc = prog.report.scales["out"]
    assert (sc["k"], sc["w_shift"]) == (k_expected, s_expected)
    assert round(lsb) in prog.config.weights
    assert_same_words(prog, reimport(prog))


def test_learned_weights_round_trip_with_the_rule_alongside():
    rule = STDP(tau_plus=20e-3, tau_minus=20e-3, A_plus=1e-4, A_minus=1.05e-4, w_min=0.0,
                w_max=3e-3)
    prog = compile(feedforward(stdp=rule))
    mask = prog.config.plastic
    assert mask.any()
    rng = np.random.default_rng(5)
    wmax = int(prog.config.learning["w_max"][prog.population_indices("exc")][0])
    learned = np.where(mask, rng.integers(0, wmax + 1, mask.shape), prog.config.weights)
    graph = to_nir(prog, weights=learned)
    again = reimport(prog, graph, refractory=2e-3, stdp={"in->exc": rule})
    np.testing.assert_array_equal(again.config.weights, learned)
    # NIR has no synapse mask: the importer's Dense projection learns on every pair
    pre, post = prog.population_indices("in"), prog.population_indices("exc")
    block = np.zeros_like(mask)
    block[np.ix_(pre, post)] = True
    assert (mask <= block).all()
    np.testing.assert_array_equal(again.config.plastic, block)
    for f in LEARNING_FIELDS:
        np.testing.assert_array_equal(np.asarray(again.config.learning[f]),
                                      np.asarray(prog.config.learning[f]), err_msg=f)
    for f in NEURON_FIELDS:
        np.testing.assert_array_equal(np.asarray(again.config.neurons[f]),
                                      np.asarray(prog.config.neurons[f]), err_msg=f)
    # without the rule the plastic bits are lost (NIR has no plasticity)
    assert not reimport(prog, graph, refractory=2e-3).config.plastic.any()


def test_nir_file_round_trip(tmp_path):
    """nir.write / nir.read keep every node; h5py lists nodes by name, so the populations are
    allocated in name order: each population's words are the same."""
    prog = compile(recurrent())
    path = tmp_path / "rec.nir"
    nir.write(path, to_nir(prog))
    again = reimport(prog, nir.read(path), refractory=1e-3)
    assert set(again.populations) == set(prog.populations)
    for name in ("exc", "in"):
        i, j = prog.population_indices(name), again.population_indices(name)
        for f in NEURON_FIELDS:
            np.testing.assert_array_equal(np.asarray(prog.config.neurons[f])[i],
                                          np.asarray(again.config.neurons[f])[j], err_msg=f)
    for a in prog.populations:
        for b in prog.populations:
            np.testing.assert_array_equal(
                prog.config.weights[np.ix_(prog.population_indices(a),
                                           prog.population_indices(b))],
                again.config.weights[np.ix_(again.population_indices(a),
                                            again.population_indices(b))])


def test_errors():
    prog = compile(feedforward())
    with pytest.raises(CompileError, match="shape"):
        to_nir(prog, weights=np.zeros((3, 3), int))
    with pytest.raises(CompileError, match="outside"):
        to_nir(prog, weights=np.full((prog.n, prog.n), 500))
    with pytest.raises(CompileError, match="'exp' or 'euler'"):
        to_nir(prog, method="rk4")
    net = Network(dt=1e-3, name="x")
    net.population("p", 2, LIF(tau_mem=np.inf, tau_syn=5e-3, v_threshold=1.0))
    with pytest.raises(CompileError, match="no membrane leak"):
        to_nir(compile(net))


def test_cli_export(tmp_path, capsys):
    rule = STDP(tau_plus=20e-3, tau_minus=20e-3, A_plus=1e-4, A_minus=1.05e-4, w_min=0.0,
                w_max=3e-3)
    net = feedforward(stdp=rule, duration=0.1)
    net.projections["in->exc"].record_weights(every=50)
    prog = compile(net)
    pfile = tmp_path / "p.npz"
    prog.save(pfile)
    out = tmp_path / "p.nir"
    assert main(["export", str(pfile), "--nir", str(out)]) == 0
    g = nir.read(out)
    np.testing.assert_allclose(g.nodes["in->exc"].weight, to_nir(prog).nodes["in->exc"].weight)
    # learned weights from a results file and from an .npy matrix
    res = prog.run()
    rfile = tmp_path / "r.npz"
    res.save(rfile)
    assert main(["export", str(pfile), "--nir", str(out), "--weights", str(rfile)]) == 0
    pre, post = prog.population_indices("in"), prog.population_indices("exc")
    expect = res.weights_raw["in->exc"] * prog.weight_lsb[post]
    np.testing.assert_allclose(nir.read(out).nodes["in->exc"].weight, expect.T, rtol=1e-12)
    w = np.array(prog.config.weights)
    w[np.ix_(pre, post)] = np.where(prog.projections["in->exc"]["mask"], 7, 0)
    np.save(tmp_path / "w.npy", w)
    assert main(["export", str(pfile), "--nir", str(out), "--weights",
                 str(tmp_path / "w.npy")]) == 0
    # errors write nothing
    bad = tmp_path / "bad.nir"
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a program")
    capsys.readouterr()
    for argv, msg in ((["missing.npz"], "does not exist"), ([str(junk)], "not a valid"),
                      ([str(pfile), "--weights", str(tmp_path / "none.npy")], "does not exist"),
                      ([str(pfile), "--weights", str(junk)], "not a valid")):
        assert main(["export", *argv, "--nir", str(bad)]) == 2
        assert msg in capsys.readouterr().err
        assert not bad.exists()

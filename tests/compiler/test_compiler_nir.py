"""NIR import: node mapping, discretisation, recurrent graphs, STDP alongside, errors."""

import math

import nir
import numpy as np
import pytest

from plasticore.compiler import STDP, CompileError, Poisson, compile, from_nir, simulate
from plasticore.compiler.nir_import import NirConventionWarning, implied_dt
from plasticore.core import ResetMode

DT = 1e-3


def lif(n, tau=20e-3, r=1.0, v_leak=0.0, th=1.0):
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak),
                   v_threshold=np.full(n, th), v_reset=np.zeros(n))


def feedforward_graph(w=None):
    w = np.array([[2.0, 0.0, 1.0], [0.5, 1.5, 0.0], [3.0, 3.0, 3.0], [0.0, 0.0, 4.0]]) \
        if w is None else w
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([3])), "lin": nir.Linear(w), "lif": lif(4),
               "out": nir.Output(np.array([4]))},
        edges=[("in", "lin"), ("lin", "lif"), ("lif", "out")])


def test_lif_mapping_exp():
    g = feedforward_graph(6 * feedforward_graph().nodes["lin"].weight)
    net = from_nir(g, DT, inputs={"in": Poisson(200.0, seed=1)}, duration=0.2)
    pop = net.populations["lif"]
    assert pop.params["tau_mem"][0] == pytest.approx(20e-3)
    assert pop.params["tau_syn"][0] == 0.0
    proj = net.projections["lin"]
    fac = 1 - math.exp(-DT / 20e-3)
    np.testing.assert_allclose(proj.weights, g.nodes["lin"].weight.T * fac)
    assert net.populations["lif"].recorded == ["spikes"]
    prog = compile(net)
    res, fl = prog.run(), simulate(net)
    q, f = res.spikes["lif"].sum(0), fl.spikes["lif"].sum(0)
    assert f.sum() > 20
    assert np.all(np.abs(q - f) <= prog.report.allowed_deviation(f))


def test_euler_reproduces_discrete_exporters():
    """snnTorch exports Leaky(beta) as LIF(tau = dt / (1 - beta), r = tau / dt): with
    method='euler' the core steps v <- beta v + W s exactly."""
    beta = 0.9
    tau = DT / (1 - beta)
    g = feedforward_graph()
    g.nodes["lif"] = lif(4, tau=tau, r=tau / DT)
    net = from_nir(g, DT, method="euler", reset="deferred")
    pop = net.populations["lif"]
    assert math.exp(-DT / pop.params["tau_mem"][0]) == pytest.approx(beta, rel=1e-12)
    np.testing.assert_allclose(net.projections["lin"].weights, g.nodes["lin"].weight.T)
    with pytest.warns(NirConventionWarning, match=r"only with method='euler' \(--method"):
        net_exp = from_nir(g, DT, method="exp", reset="deferred")
    assert math.exp(-DT / net_exp.populations["lif"].params["tau_mem"][0]) == \
        pytest.approx(math.exp(-(1 - beta)))


def snntorch_like_graph(dt=1e-4, beta=0.9, n=4):
    """What snnTorch's export_to_nir writes for Linear + Leaky(beta)."""
    tau = dt / (1 - beta)
    g = feedforward_graph()
    g.nodes["lif"] = lif(n, tau=tau, r=tau / dt)
    return g


def test_snntorch_graph_suggests_its_dt_method_and_reset():
    g = snntorch_like_graph()
    assert implied_dt(g) == pytest.approx(1e-4, rel=1e-9)
    assert implied_dt(feedforward_graph()) is None            # r = 1: no dt in the graph
    with pytest.warns(NirConventionWarning) as seen:
        from_nir(g, 1e-3)
    msg = str(seen[0].message)
    for option in ("--dt 0.0001", "--method euler", "--strict-threshold", "--reset deferred"):
        assert option in msg, msg
    with pytest.warns(NirConventionWarning, match="only with dt=0.0001"):
        from_nir(g, 1e-3, method="euler", reset="deferred")
    # with its own options, no warning (warnings are errors in this suite)
    net = from_nir(g, 1e-4, method="euler", reset="deferred")
    assert net.populations["lif"].cell.reset == "deferred"
    from_nir(g, 1e-4, method="euler", strict_threshold=True)


def test_strict_threshold_and_deferred_reset_are_lowered():
    """v > v_threshold is threshold + 1 LSB for the value and subtract resets; the DEFERRED
    mode compares strictly itself and keeps the threshold it subtracts."""
    g = feedforward_graph()
    th = {}
    for kw in ({}, {"strict_threshold": True}, {"reset": "deferred"},
               {"reset": "subtract", "strict_threshold": True}):
        prog = compile(from_nir(g, DT, **kw), steps=5)
        sl = slice(*prog.report.scales["lif"]["neurons"])
        th[tuple(kw.items())] = prog.config.neurons["threshold"][sl][0]
        mode = prog.config.neurons["reset_mode"][sl][0]
        want = {"deferred": ResetMode.DEFERRED, "subtract": ResetMode.SUBTRACT}.get(
            kw.get("reset"), ResetMode.VALUE)
        assert mode == want.value
    base = th[()]
    assert th[(("strict_threshold", True),)] == base + 1
    assert th[(("reset", "deferred"),)] == base
    assert th[(("reset", "subtract"), ("strict_threshold", True))] == base + 1


def test_synaptic_jump_drops_nirs_input_filter():
    """Norse's LIFCell: i <- i + W s, so the weight is (1 - alpha_mem) r w_in W."""
    n = 2
    cuba = nir.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 10e-3), r=np.ones(n),
                       v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n),
                       w_in=np.ones(n))
    w = np.array([[1.0, 0.5], [0.0, 2.0]])
    g = nir.NIRGraph(nodes={"in": nir.Input(np.array([2])), "lin": nir.Linear(w),
                            "cuba": cuba, "out": nir.Output(np.array([2]))},
                     edges=[("in", "lin"), ("lin", "cuba"), ("cuba", "out")])
    jump = from_nir(g, DT, method="euler", synaptic_jump=True)
    nir_ = from_nir(g, DT, method="euler")
    np.testing.assert_allclose(jump.projections["lin"].weights, w.T * 0.1)
    np.testing.assert_allclose(nir_.projections["lin"].weights, w.T * 0.1 * 0.2)


def test_subgraphs_are_flattened():
    """snnTorch exports RLeaky as a sub-graph (input -> lif <-> w_rec, lif -> output)."""
    n = 3
    sub = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([n])), "lif": lif(n),
               "w_rec": nir.Linear(np.eye(n) * 0.5), "output": nir.Output(np.array([n]))},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    g = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2])), "lin": nir.Linear(np.ones((n, 2))),
               "rl": sub, "out": nir.Output(np.array([n]))},
        edges=[("in", "lin"), ("lin", "rl"), ("rl", "out")], type_check=False)
    net = from_nir(g, DT)
    assert set(net.populations) == {"in", "rl.lif"}
    assert set(net.projections) == {"lin", "rl.w_rec"}
    assert net.projections["rl.w_rec"].pre.name == "rl.lif" == \
        net.projections["rl.w_rec"].post.name
    assert net.populations["rl.lif"].recorded == ["spikes"]


def test_cubalif_if_and_affine_bias():
    n = 2
    cuba = nir.CubaLIF(tau_syn=np.full(n, 5e-3), tau_mem=np.full(n, 10e-3), r=np.full(n, 2.0),
                       v_leak=np.full(n, 0.1), v_threshold=np.full(n, 1.0),
                       v_reset=np.zeros(n), w_in=np.full(n, 3.0))
    integ = nir.IF(r=np.full(n, 4.0), v_threshold=np.full(n, 1.0), v_reset=np.zeros(n))
    w = np.array([[1.0, 0.5], [0.0, 2.0]])
    g = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2])), "aff": nir.Affine(w, np.array([0.1, 0.2])),
               "cuba": cuba, "lin": nir.Linear(np.eye(2)), "if": integ,
               "out": nir.Output(np.array([2]))},
        edges=[("in", "aff"), ("aff", "cuba"), ("cuba", "lin"), ("lin", "if"), ("if", "out")])
    net = from_nir(g, DT, record_v=True)
    c = net.populations["cuba"]
    a_m, a_s = math.exp(-DT / 10e-3), math.exp(-DT / 5e-3)
    assert c.params["v_rest"][0] == 0.1 and c.params["tau_syn"][0] == pytest.approx(5e-3)
    np.testing.assert_allclose(net.projections["aff"].weights,
                               w.T * (1 - a_m) * 2.0 * (1 - a_s) * 3.0)
    np.testing.assert_allclose(c.params["bias"], np.array([0.1, 0.2]) * 2.0 * 3.0 / 10e-3)
    i = net.populations["if"]
    assert math.isinf(i.params["tau_mem"][0]) and i.params["tau_syn"][0] == 0
    np.testing.assert_allclose(net.projections["lin"].weights, np.eye(2) * DT * 4.0)
    assert i.recorded == ["spikes", "v"]
    prog = compile(net, steps=50)
    assert any("steady state" in m for m in prog.report.warnings)
    assert any("no spike source" in m for m in prog.report.warnings)


def recurrent_graph(n_in=4, n=6, seed=0):
    rng = np.random.default_rng(seed)
    w_rec = rng.uniform(-0.6, 0.6, (n, n))
    np.fill_diagonal(w_rec, 0)
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([n_in])),
               "w_in": nir.Linear(rng.uniform(0, 6.0, (n, n_in))),
               "lif": lif(n, tau=10e-3), "w_rec": nir.Linear(w_rec),
               "out": nir.Output(np.array([n]))},
        edges=[("in", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
               ("lif", "out")])


def test_recurrent_graph():
    g = recurrent_graph()
    net = from_nir(g, DT, inputs={"in": Poisson(300.0, seed=2)}, duration=0.3)
    assert set(net.projections) == {"w_in", "w_rec"}
    assert net.projections["w_rec"].pre is net.projections["w_rec"].post
    prog = compile(net)
    assert prog.report.recurrent
    res, fl = prog.run(), simulate(net)
    q, f = res.spikes["lif"].sum(0), fl.spikes["lif"].sum(0)
    assert f.sum() > 20
    assert np.all(np.abs(q - f) <= prog.report.allowed_deviation(f))


def test_stdp_alongside_in_nir_weight_units():
    g = feedforward_graph()
    rule = STDP(tau_plus=20e-3, tau_minus=20e-3, A_plus=0.1, A_minus=0.12, w_min=0.0,
                w_max=5.0)
    net = from_nir(g, DT, stdp={"lin": rule}, inputs={"in": Poisson(100.0, seed=1)},
                   duration=0.1)
    fac = 1 - math.exp(-DT / 20e-3)
    s = net.projections["lin"].stdp
    assert s.A_plus == pytest.approx(0.1 * fac) and s.w_max == pytest.approx(5.0 * fac)
    assert s.tau_plus == 20e-3
    prog = compile(net)
    assert prog.learning and prog.config.plastic.sum() == 12
    with pytest.raises(CompileError, match="STDP was given for 'lif', which is not a Linear"):
        from_nir(g, DT, stdp={"lif": rule})
    with pytest.raises(CompileError, match="'nope', which is not an Input node"):
        from_nir(g, DT, inputs={"nope": np.zeros((3, 3), bool)})


def test_file_round_trip(tmp_path):
    path = tmp_path / "ff.nir"
    nir.write(path, feedforward_graph())
    net = from_nir(str(path), DT, inputs={"in": np.ones((10, 3), bool)})
    assert set(net.populations) == {"in", "lif"}
    assert compile(net).input_steps == 10
    with pytest.raises(CompileError, match="does not exist"):
        from_nir(str(tmp_path / "missing.nir"), DT)
    bad = tmp_path / "bad.nir"
    bad.write_text("not hdf5")
    with pytest.raises(CompileError, match="Cannot read NIR file"):
        from_nir(str(bad), DT)


@pytest.mark.parametrize("node", [
    nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4)),
    nir.Scale(np.ones(4)),
    nir.Delay(np.ones(4)),
])
def test_unsupported_node_is_named(node):
    g = feedforward_graph()
    g.nodes["weird"] = node
    g.edges.append(("lif", "weird"))
    with pytest.raises(CompileError, match=f"NIR node 'weird' is a {type(node).__name__}, "
                                           f"which plasticore cannot map"):
        from_nir(g, DT)


def test_shape_and_structure_errors():
    g = feedforward_graph()
    g.nodes["lin"] = nir.Linear(np.ones((4, 5)))
    with pytest.raises(CompileError, match=r"NIR node 'lin': weight shape \(4, 5\) does not fit"):
        from_nir(g, DT)
    g = feedforward_graph()
    g.nodes["lin"] = nir.Linear(np.ones((2, 4, 3)))
    with pytest.raises(CompileError, match=r"'lin' \(Linear\) has a weight of shape \(2, 4, 3\)"):
        from_nir(g, DT)
    g = nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "a": nir.Linear(np.ones((3, 3))),
                            "b": nir.Linear(np.ones((3, 3))), "lif": lif(3)},
                     edges=[("in", "a"), ("a", "b"), ("b", "lif")], type_check=False)
    with pytest.raises(CompileError, match="'a' \\(a linear node\\) feeds linear node 'b'"):
        from_nir(g, DT)
    g = nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "a": nir.Linear(np.ones((3, 3))),
                            "out": nir.Output(np.array([3]))},
                     edges=[("in", "a"), ("a", "out")], type_check=False)
    with pytest.raises(CompileError, match="linear node 'a' feeds Output 'out'"):
        from_nir(g, DT)
    g = feedforward_graph()
    g.nodes["lif"] = lif(4, tau=-1.0)
    with pytest.raises(CompileError, match="time constant -1.0 s is not positive"):
        from_nir(g, DT)
    g.nodes["lif"] = lif(4, th=float("nan"))
    with pytest.raises(CompileError, match="v_threshold contains NaN"):
        from_nir(g, DT)
    g.nodes["lif"] = lif(4, tau=0.5e-3)
    with pytest.raises(CompileError, match="shorter than dt"):
        from_nir(g, DT, method="euler")
    with pytest.raises(CompileError, match="method must be 'exp' or 'euler'"):
        from_nir(feedforward_graph(), DT, method="rk4")
    with pytest.raises(CompileError, match="needs a nir.NIRGraph"):
        from_nir(42, DT)
    big = nir.NIRGraph(nodes={"in": nir.Input(np.array([3])), "lin": nir.Linear(np.ones((300, 3))),
                              "lif": lif(300)}, edges=[("in", "lin"), ("lin", "lif")])
    with pytest.raises(CompileError, match="needs 303 neurons"):
        compile(from_nir(big, DT))

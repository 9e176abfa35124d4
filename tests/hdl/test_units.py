"""The two datapaths alone, in Amaranth's simulator: exact against the reference arithmetic,
with the latency and throughput their docstrings state (one item per cycle, back to back)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.sim import Simulator
from support.stimulus import corner_values, random_config

from plasticore import fixed as F
from plasticore.core import NEURON_STATE, CoreParams, ResetMode, Table
from plasticore.hdl.arith import saturate
from plasticore.hdl.neuron import EARLY, LATE, MID, NeuronUpdate
from plasticore.hdl.synapse import SynapseUpdate
from plasticore.sim import Reference


def _run(dut, inputs, outputs, cycles, valid_out):
    """Present ``inputs[k]`` ((signal, value) pairs; the first is the valid bit) in cycle k;
    return, for every cycle in which ``valid_out`` is high, (cycle, {name: output value}).
    Outputs are sampled once that cycle's inputs are applied (combinational paths from
    inputs settled), before the clock edge that ends it."""
    seen = []

    async def bench(ctx):
        for cycle in range(cycles):
            if cycle < len(inputs):
                for signal, value in inputs[cycle]:
                    ctx.set(Value.cast(signal), value)
            else:
                ctx.set(inputs[0][0][0], 0)
            if ctx.get(valid_out):
                seen.append((cycle, {k: ctx.get(v) for k, v in outputs.items()}))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


def _neuron_inputs(dut, cfg, state, forced, clear):
    """Per cycle: neuron k's inputs in cycle k, its MID parameters in cycle k + MID_CYC and
    its LATE ones in cycle k + LATE_CYC (NeuronUpdate's contract)."""
    n = cfg.n

    def params(layout, k):
        return _pack(layout, {name: (cfg.neurons[name][k] if name in cfg.neurons.names
                                     else cfg.learning[name][k]) for name, _ in layout})

    words = state.pack()
    inputs = []
    for k in range(n + 3):
        cycle = [(dut.i_valid, int(k < n))]
        if k < n:
            cycle += [(dut.index, k), (dut.early, params(EARLY, k)), (dut.state, words[k]),
                      (dut.w_shift, int(cfg.neurons["w_shift"][k])),
                      (dut.forced, int(forced[k])), (dut.clear, int(clear))]
        mid_k, late_k = k - NeuronUpdate.MID_CYC, k - NeuronUpdate.LATE_CYC
        if 0 <= mid_k < n:
            cycle += [(dut.mid, params(MID, mid_k))]
        if 0 <= late_k < n:
            cycle += [(dut.late, params(LATE, late_k))]
        inputs.append(cycle)
    return inputs


def _pack(layout, values):
    word = 0
    for name, field in layout:
        word |= (int(values[name]) & ((1 << field.width) - 1)) << field.offset
    return word


@pytest.mark.parametrize("seed", range(3))
def test_neuron_update(seed):
    """Every output of NeuronUpdate equals the reference's neuron update, LATENCY cycles
    after its input, at one neuron per cycle; the depression operands come one cycle
    earlier; cleared neurons come out all zero."""
    n = 96
    rng = np.random.default_rng(seed)
    cfg = random_config(n, rng, corner=0.4)
    state = Table(NEURON_STATE, n)
    for name, field in NEURON_STATE:
        state[name] = corner_values(field.shape, n, rng, 0.4)
    forced = rng.random(n) < 0.3
    _check_neuron_update(cfg, state, forced)


@pytest.mark.parametrize("seed", range(2))
def test_neuron_update_deferred_reset(seed):
    """The DEFERRED reset mode at its edges: old V and new V at threshold - 1 ... + 2 (the
    subtraction and the strict comparison), thresholds and V at the rails, refractory and
    forced neurons."""
    n = 96
    rng = np.random.default_rng(100 + seed)
    cfg = random_config(n, rng, corner=0.4)
    p = cfg.neurons
    p["reset_mode"] = ResetMode.DEFERRED.value
    th = corner_values(F.THRESHOLD, n, rng, 0.4)
    p["threshold"] = th
    state = Table(NEURON_STATE, n)
    for name, field in NEURON_STATE:
        state[name] = corner_values(field.shape, n, rng, 0.4)
    state["v"] = np.clip(th + rng.integers(-1, 3, n), F.V.min, F.V.max)
    state["ref"] = rng.choice([0, 0, 0, 1, 2], n)
    # the new V lands near the threshold too: V = bias (- threshold) with alpha_v = 0, I = 0
    near = rng.random(n) < 0.5
    p["alpha_v"] = np.where(near, 0, p["alpha_v"])
    cfg.neurons["alpha_i"] = np.where(near, 0, p["alpha_i"])
    state["i"] = np.where(near, 0, state["i"])
    state["acc"] = np.where(near, 0, state["acc"])
    sub = np.where(state["v"] > th, th, 0)
    p["bias"] = np.where(near, np.clip(th + sub + rng.integers(-1, 3, n), F.BIAS.min,
                                       F.BIAS.max), p["bias"])
    forced = rng.random(n) < 0.1
    _check_neuron_update(cfg.validate(), state, forced)


def _check_neuron_update(cfg, state, forced):
    n = cfg.n
    cfg.weights[:] = 0                      # acc after the step is then 0, as the unit outputs
    ref = Reference(cfg)
    ref.state = state
    y_dec = F.decay(state["y"], cfg.learning["alpha_y"])
    ref.step(forced)

    dut = NeuronUpdate(CoreParams(n))
    outputs = {"index": dut.o_index, "spike": dut.o_spike, "y_dec": dut.o_y_dec,
               **{name: getattr(dut.o_state, name) for name, _ in NEURON_STATE}}
    cycles = n + NeuronUpdate.LATENCY + 2
    seen = _run(dut, _neuron_inputs(dut, cfg, state, forced, False), outputs, cycles,
                dut.o_valid)
    # The depression operands come one cycle before o_valid.
    early = _run(dut, _neuron_inputs(dut, cfg, state, forced, False),
                 {"amp": dut.dep_amp, "trace": dut.dep_trace}, cycles, dut.o_valid)

    assert [cycle for cycle, _ in seen] == [k + NeuronUpdate.LATENCY for k in range(n)]
    got = {name: np.array([int(o[name]) for _, o in seen]) for name in outputs}
    # Sampled with o_valid of neuron k, the depression operands are those of neuron k + 1.
    assert [int(o["trace"]) for _, o in early[:-1]] == y_dec[1:].tolist()
    assert [int(o["amp"]) for _, o in early[:-1]] == cfg.learning["a_minus"][1:].tolist()
    assert np.array_equal(got["index"], np.arange(n))
    expected = {"spike": ref.spikes.astype(int), "y_dec": y_dec, "v": ref.v, "i": ref.i,
                "acc": np.zeros(n), "ref": ref.ref, "x": ref.x, "y": ref.y}
    for name, want in expected.items():
        bad = np.flatnonzero(got[name] != want)
        assert not bad.size, (f"{name} of neuron {bad[0]}: unit {got[name][bad[0]]}, "
                              f"reference {want[bad[0]]} ({bad.size} of {n} differ)")

    cleared = _run(dut, _neuron_inputs(dut, cfg, state, forced, True), outputs, cycles,
                   dut.o_valid)
    assert len(cleared) == n
    for _, o in cleared:
        assert all(int(value) == 0 for name, value in o.items() if name != "index"), o


@pytest.mark.parametrize("seed", range(3))
def test_synapse_update(seed):
    """A SynapseUpdate lane equals the reference's transmission and STDP update of one
    synapse at one synapse per cycle: ``acc_data`` and ``delta`` 1 cycle after the input, the
    weight write LATENCY cycles after it.  Rows get the depression saturated to 8 bits (as
    the core stores it) and must still give the reference's unsaturated result."""
    count = 400
    rng = np.random.default_rng(100 + seed)
    w = corner_values(F.WEIGHT, count, rng, 0.5)
    plastic = rng.random(count) < 0.7
    acc = rng.integers(-(1 << 16), 1 << 16, count)
    amp = corner_values(F.AMPLITUDE, count, rng, 0.5)
    trace = corner_values(F.TRACE, count, rng, 0.5)
    w_min = corner_values(F.WEIGHT, count, rng, 0.5)
    w_max = corner_values(F.WEIGHT, count, rng, 0.5)      # sometimes below w_min
    row = rng.random(count) < 0.5
    learning = rng.random(count) < 0.8
    valid = rng.random(count) < 0.9
    bank = rng.integers(0, 4, count)
    addr = rng.integers(0, 1 << 14, count)
    delta = F.stdp_delta(amp, trace)
    dep = np.minimum(delta, 255)
    assert (delta > 255).any() and (delta == 0).any()

    dut = SynapseUpdate(14)
    inputs = [[(dut.i_valid, int(valid[k])), (dut.row, int(row[k])),
               (dut.learning, int(learning[k])), (dut.bank, int(bank[k])),
               (dut.addr, int(addr[k])), (dut.w, (int(w[k]) & 0xFF) | int(plastic[k]) << 8),
               (dut.acc, int(acc[k])), (dut.dep, int(dep[k])), (dut.amp, int(amp[k])),
               (dut.trace, int(trace[k])), (dut.w_min, int(w_min[k])),
               (dut.w_max, int(w_max[k]))] for k in range(count)]
    early = {"acc_data": dut.acc_data, "delta": dut.delta}
    late = {"w_we": dut.w_we, "w_bank": dut.w_bank, "w_addr": dut.w_addr,
            "weight": dut.w_data.weight, "plastic": dut.w_data.plastic}
    seen = {}

    async def bench(ctx):
        for cycle in range(count + SynapseUpdate.LATENCY):
            if cycle < count:
                for signal, value in inputs[cycle]:
                    ctx.set(Value.cast(signal), value)
            else:
                ctx.set(dut.i_valid, 0)
            await ctx.tick()
            # Now in cycle `cycle + 1`: results of the inputs of cycle + 1 - latency.
            seen.setdefault(cycle, {}).update({k: int(ctx.get(v)) for k, v in early.items()})
            if cycle + 1 >= SynapseUpdate.LATENCY:
                seen.setdefault(cycle + 1 - SynapseUpdate.LATENCY, {}).update(
                    {k: int(ctx.get(v)) for k, v in late.items()})

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    moved = np.where(row, w - delta, w + delta)
    new_w = np.minimum(np.maximum(moved, w_min), w_max)           # np.clip semantics
    assert [seen[k]["w_we"] for k in range(count)] == \
        (valid & learning & plastic).astype(int).tolist()
    for k in range(count):
        o = seen[k]
        case = (f"synapse {k}: w={w[k]} plastic={plastic[k]} amp={amp[k]} trace={trace[k]} "
                f"bounds=[{w_min[k]}, {w_max[k]}] row={row[k]}")
        assert o["acc_data"] == acc[k] + w[k] and o["delta"] == delta[k], case
        assert (o["w_bank"], o["w_addr"]) == (bank[k], addr[k]), case
        assert o["plastic"] == plastic[k], case
        if o["w_we"]:
            assert o["weight"] == new_w[k], f"{case}: unit {o['weight']}, expected {new_w[k]}"


@pytest.mark.parametrize("fmt, shape", [(F.V, signed(26)), (F.I, signed(34)),
                                         (F.TRACE, unsigned(17)), (F.TRACE, signed(18)),
                                         (F.V, unsigned(25)), (F.WEIGHT, signed(14))])
def test_saturate_matches_the_format(fmt, shape):
    """arith.saturate (a bit test for full-range formats) equals Format.saturate on every
    boundary of the format and of the input shape, and on random values."""
    lo = -(1 << (shape.width - 1)) if shape.signed else 0
    hi = (1 << (shape.width - 1)) - 1 if shape.signed else (1 << shape.width) - 1
    edges = {lo, hi, 0, 1, -1, fmt.min, fmt.max, fmt.min - 1, fmt.max + 1, fmt.min + 1,
             fmt.max - 1, 2 * fmt.max, 2 * fmt.min, fmt.max << 2}
    rng = np.random.default_rng(0)
    values = sorted(v for v in edges if lo <= v <= hi)
    values += rng.integers(lo, hi, 300, endpoint=True).tolist()
    x = Signal(shape)
    y = Signal(fmt)
    m = Module()
    m.d.comb += y.eq(saturate(x, fmt))
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(x, int(v))
            got.append(ctx.get(y))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    want = [int(fmt.saturate(int(v))) for v in values]
    assert got == want


def test_slow_trace_update():
    """SlowTraceUpdate (option triplet) equals the reference's slow traces at one neuron
    per cycle: ``state`` and decays in cycle k, ``a3_plus`` in k + 1 (``MID_CYC``), spike and
    increments in k + 3 give ``x2'``, ``a3_plus y2'`` and the incremented traces in cycle k + 3 (its
    LATENCY, NeuronUpdate's); cleared neurons give all zero."""
    from plasticore.hdl.triplet import SlowTraceUpdate

    count = 300
    rng = np.random.default_rng(7)
    x2, y2 = (corner_values(F.TRACE, count, rng, 0.5) for _ in range(2))
    ax2, ay2 = (corner_values(F.DECAY, count, rng, 0.5) for _ in range(2))
    a3p = corner_values(F.AMPLITUDE, count, rng, 0.5)
    x2inc, y2inc = (corner_values(F.TRACE_INC, count, rng, 0.5) for _ in range(2))
    spike = rng.random(count) < 0.5
    clear = rng.random(count) < 0.1
    lat = SlowTraceUpdate.LATENCY
    assert lat == NeuronUpdate.LATENCY
    dut = SlowTraceUpdate()
    outputs = {"x2": dut.o_state.x2, "y2": dut.o_state.y2, "x2_dec": dut.o_x2_dec,
               "pot": dut.o_pot}
    seen = {}

    async def bench(ctx):
        for cycle in range(count + lat):
            if cycle < count:
                k = cycle
                ctx.set(dut.state, {"x2": int(x2[k]), "y2": int(y2[k])})
                ctx.set(dut.alpha_x2, int(ax2[k]))
                ctx.set(dut.alpha_y2, int(ay2[k]))
                ctx.set(dut.clear, int(clear[k]))
            if 0 <= cycle - NeuronUpdate.MID_CYC < count:
                ctx.set(dut.a3_plus, int(a3p[cycle - NeuronUpdate.MID_CYC]))
            if 0 <= cycle - lat < count:
                k = cycle - lat
                ctx.set(dut.spike, int(spike[k] and not clear[k]))
                ctx.set(dut.x2_inc, int(x2inc[k]))
                ctx.set(dut.y2_inc, int(y2inc[k]))
                seen[k] = {name: int(ctx.get(v)) for name, v in outputs.items()}
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    x2d = (x2 * ax2) >> F.DECAY_FRAC
    y2d = (y2 * ay2) >> F.DECAY_FRAC
    fired = spike & ~clear
    want = {"x2_dec": x2d, "pot": a3p * y2d,
            "x2": np.minimum(x2d + np.where(fired, x2inc, 0), F.TRACE.max),
            "y2": np.minimum(y2d + np.where(fired, y2inc, 0), F.TRACE.max)}
    assert (want["x2"] == F.TRACE.max).any() and (want["pot"] > 0).any()
    for name, values in want.items():
        values = np.where(clear, 0, values)
        got = np.array([seen[k][name] for k in range(count)])
        bad = np.flatnonzero(got != values)
        assert not bad.size, (f"{name} of neuron {bad[0]}: unit {got[bad[0]]}, reference "
                              f"{values[bad[0]]} ({bad.size} differ)")


@pytest.mark.parametrize("seed", range(2))
def test_synapse_update_triplet(seed):
    """A SynapseUpdate lane with the triplet (and stochastic) option: the general update of
    docs/model.md 4.5, ``round(Q, 28)`` to nearest or with the synapse's random bits (due
    one cycle after the other inputs), saturated at 255 and clipped, equals the reference's
    :func:`plasticore.fixed.stdp_product` and :func:`plasticore.fixed.round_shift`; rows
    get ``Q = (dep << 12) + amp * trace`` from the neuron pass's products, columns
    ``Q = amp * trace`` with the column's amplitude ``a_plus 2^12 + a3_plus y2'``."""
    count = 400
    rng = np.random.default_rng(200 + seed)
    w = corner_values(F.WEIGHT, count, rng, 0.5)
    a2 = corner_values(F.AMPLITUDE, count, rng, 0.5)
    a3 = corner_values(F.AMPLITUDE, count, rng, 0.5)
    fast = corner_values(F.TRACE, count, rng, 0.5)      # y' (rows) or x_j (columns)
    slow = corner_values(F.TRACE, count, rng, 0.5)      # x2'_j (rows) or y2'_i (columns)
    w_min = corner_values(F.WEIGHT, count, rng, 0.5)
    w_max = corner_values(F.WEIGHT, count, rng, 0.5)
    row = rng.random(count) < 0.5
    stoch = rng.random(count) < 0.5
    u = rng.integers(0, 1 << 32, count)
    q = F.stdp_product(a2, a3, slow, fast)
    dw = F.round_shift(q, F.W_ROUND_SHIFT, u, stoch)
    assert (dw > 255).any() and (dw == 0).any()
    dep = np.where(row, a2 * fast, 0)
    amp = np.where(row, a3 * fast, (a2 << F.TRIPLET_SHIFT) + a3 * slow)
    trace = np.where(row, slow, fast)
    assert np.array_equal(np.where(row, (dep << F.TRIPLET_SHIFT) + amp * trace, amp * trace), q)

    dut = SynapseUpdate(14, stochastic=True, triplet=True)
    seen = {}

    async def bench(ctx):
        for cycle in range(count + SynapseUpdate.LATENCY):
            if cycle < count:
                k = cycle
                for signal, value in [(dut.i_valid, 1), (dut.row, int(row[k])),
                                      (dut.learning, 1), (dut.w, (int(w[k]) & 0xFF) | 1 << 8),
                                      (dut.dep, int(dep[k])), (dut.amp, int(amp[k])),
                                      (dut.trace, int(trace[k])), (dut.stoch, int(stoch[k])),
                                      (dut.w_min, int(w_min[k])), (dut.w_max, int(w_max[k]))]:
                    ctx.set(Value.cast(signal), value)
            else:
                ctx.set(dut.i_valid, 0)
            if 0 <= cycle - 1 < count:
                ctx.set(dut.u, int(u[cycle - 1]))
            await ctx.tick()
            if cycle + 1 >= SynapseUpdate.LATENCY:
                seen[cycle + 1 - SynapseUpdate.LATENCY] = int(ctx.get(dut.w_data.weight))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    new_w = np.minimum(np.maximum(np.where(row, w - dw, w + dw), w_min), w_max)
    got = np.array([seen[k] for k in range(count)])
    bad = np.flatnonzero(got != new_w)
    assert not bad.size, (f"synapse {bad[0]}: unit {got[bad[0]]}, reference {new_w[bad[0]]} "
                          f"(row {row[bad[0]]}, Q {q[bad[0]]}, stochastic {stoch[bad[0]]}; "
                          f"{bad.size} differ)")

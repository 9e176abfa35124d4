r"""The integer reference agrees with a float64 model of the same equations, within error
bounds derived from the formats.

The float model (:class:`plasticore.compiler.floatsim.FloatModel`, the one float model of the
project, which :func:`plasticore.compiler.simulate` runs) takes real parameters; the
reference takes their quantisation (``tests/support/quantise.py``, round to nearest).  Every
quantity ``r`` of the reference is compared with ``scale * f`` of the float model, ``scale``
being 2**16 for V and I, 2**12 for traces and ``1 / w_lsb`` for weights.

How the bounds are derived
--------------------------
A decaying quantity obeys, in the reference and in the float model,

    r_t = decay(r_{t-1}, a_q) + u_q          f_t = a * f_{t-1} + u      (f in raw LSBs)

with ``decay(r, a_q) = a_q/2**15 * r + tau``, where ``tau``, the truncation toward zero, lies
in ``(-1, 0]`` if ``r >= 0`` and in ``[0, 1)`` if ``r < 0``.  So the error ``e = r - f``
obeys exactly

    e_t = (a_q/2**15) e_{t-1} + (a_q/2**15 - a) f_{t-1} + tau_t + (u_q - u).

Two bounds are propagated from it, step by step, from the float trajectory alone:

* **worst case** (symmetric):
  ``E_t = (a_q/2**15) E_{t-1} + |a_q/2**15 - a| |f_{t-1}| + 1 + max|u_q - u|``, where the
  input error is bounded from the formats: 1/2 weight LSB (``2**(w_shift-1)`` raw) per
  arriving weight for ``I``, and ``E^I_t + 1/2`` (bias rounding) for ``V``;
* **tight** (an interval ``[lo_t, hi_t]``): the terms the compiler knows exactly (the
  rounding of every weight, of the bias, of ``alpha``) enter with their value and sign, only
  ``tau`` is an interval, and its sign is used when the float value and the interval prove
  the sign of ``r``.  This is what catches a decay that floors instead of truncating.

A float64 slack of 1e-6 LSB per step covers the float model's own rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.quantise import V_SCALE, quantise

from plasticore import fixed as F
from plasticore.compiler.floatsim import FloatModel, FloatParams, alpha
from plasticore.sim.reference import Reference

S = float(V_SCALE)             # raw LSBs of V / I per real unit
TS = float(F.TRACE_ONE)        # raw LSBs of a trace per unit
EPS = 1e-6                     # float64 slack, LSBs


# -- bound machinery ------------------------------------------------------------------------

def trunc_interval(r_lo, r_hi):
    """Interval of ``decay(r, a) - a*r/2**15`` (truncation toward zero) for an integer ``r``
    known to lie in ``[r_lo, r_hi]``: ``(-1, 0]`` if ``r >= 0``, ``[0, 1)`` if ``r < 0``.
    ``r`` being an integer, ``r >= 0`` already follows from ``r_lo > -1``."""
    return np.where(np.floor(r_hi) < 0, 0.0, -1.0), np.where(np.ceil(r_lo) >= 0, 0.0, 1.0)


def step_interval(lo, hi, f_prev, a, a_raw, extra_lo, extra_hi, r_min=-np.inf):
    """Tight interval of ``e_t = r_t - f_t`` given ``e_{t-1}`` in ``[lo, hi]``.

    ``f_prev``: float value at ``t-1`` in raw LSBs; ``a``: real retention; ``a_raw``: its
    UQ1.15 quantisation; ``[extra_lo, extra_hi]``: the input error ``u_q - u`` (raw LSBs);
    ``r_min``: the format's minimum of ``r`` (0 for the unsigned traces).
    """
    aq = a_raw / F.DECAY_ONE
    det = (aq - a) * f_prev
    tlo, thi = trunc_interval(np.maximum(f_prev + lo, r_min), f_prev + hi)
    exact = (a_raw == 0) | (a_raw == F.DECAY_ONE)          # x * 0 and x * 1.0 do not round
    tlo, thi = np.where(exact, 0.0, tlo), np.where(exact, 0.0, thi)
    return aq * lo + det + tlo + extra_lo - EPS, aq * hi + det + thi + extra_hi + EPS


def step_worst(E, f_prev, a, a_raw, extra):
    """Worst-case symmetric bound: ``E_t = a_q E + |a_q - a| |f| + 1 + extra``."""
    aq = a_raw / F.DECAY_ONE
    return aq * E + np.abs(aq - a) * np.abs(f_prev) + 1.0 + extra + EPS


def trace_bounds(spikes, f_trace, a, a_raw, inc, inc_raw):
    """Tight intervals (raw LSBs) of the error of a trace ``x <- decay(x) + inc * spike``
    (also returns the intervals of the decayed value before the bump, which is ``y'``).
    ``spikes``: (steps, n) bool; ``f_trace``: (steps, n) float trace after the bump.
    A trace is unsigned, so ``r >= 0`` and ``e >= -f`` besides the propagated interval."""
    steps, n = spikes.shape
    lo = hi = np.zeros(n)
    f_prev = np.zeros(n)
    out = {k: np.zeros((steps, n)) for k in ("lo", "hi", "dec_lo", "dec_hi")}
    inc_err = inc_raw - TS * inc
    for t in range(steps):
        dlo, dhi = step_interval(lo, hi, f_prev, a, a_raw, 0.0, 0.0, r_min=0)
        dlo = np.maximum(dlo, -a * f_prev - EPS)
        lo, hi = dlo + spikes[t] * inc_err, dhi + spikes[t] * inc_err
        lo = np.maximum(lo, -TS * f_trace[t] - EPS)
        out["dec_lo"][t], out["dec_hi"][t], out["lo"][t], out["hi"][t] = dlo, dhi, lo, hi
        f_prev = TS * f_trace[t]
    return out


def current_and_potential_bounds(spikes, rec_f, params, q, acc_err=None):
    """Tight intervals and worst-case bounds (raw LSBs) of the errors of I and V for neurons
    that never spike on their own and are never refractory (a forced spike with reset to
    a value sets the V error to the rounding of ``v_reset``).  ``spikes``: (steps, n) (the
    same in both models: forced).  ``acc_err``: ``(lo, hi)``, (steps, n) each, interval of
    the error of the ``acc`` computed in step ``t`` (raw LSBs of I), for learning weights;
    default: fixed weights, whose error is the known rounding of each weight."""
    steps, n = spikes.shape
    cfg = q.config
    a_i, a_v = params.alpha_i, params.alpha_v
    ai_raw, av_raw = cfg.neurons["alpha_i"], cfg.neurons["alpha_v"]
    ws = cfg.neurons["w_shift"]
    # exact input error of one arriving weight (raw LSBs of I): what the compiler rounded
    dW = cfg.weights * (2.0 ** ws)[None, :] - S * params.weights
    bias_err = cfg.neurons["bias"] - S * params.bias
    vr_err = cfg.neurons["v_reset"] - S * params.v_reset
    nonzero = (cfg.weights != 0) | (params.weights != 0)
    half_lsb = 2.0 ** (ws - 1)
    res = {k: np.zeros((steps, n)) for k in ("I_lo", "I_hi", "V_lo", "V_hi", "I_E", "V_E")}
    ilo = ihi = vlo = vhi = iE = vE = np.zeros(n)
    fi_prev = fv_prev = np.zeros(n)
    prev = np.zeros(n, bool)
    for t in range(steps):
        if acc_err is None:
            a_lo = a_hi = dW[prev].sum(axis=0)
        else:
            a_lo, a_hi = (acc_err[0][t - 1], acc_err[1][t - 1]) if t else (0.0, 0.0)
        ilo, ihi = step_interval(ilo, ihi, fi_prev, a_i, ai_raw, a_lo, a_hi)
        vlo, vhi = step_interval(vlo, vhi, fv_prev, a_v, av_raw,
                                 ilo + bias_err, ihi + bias_err)
        w_err = (half_lsb * nonzero[prev].sum(axis=0) if acc_err is None
                 else np.maximum(np.abs(a_lo), np.abs(a_hi)))
        iE = step_worst(iE, fi_prev, a_i, ai_raw, w_err)
        vE = step_worst(vE, fv_prev, a_v, av_raw, iE + 0.5)
        reset = spikes[t] & ~params.subtract                 # forced spike: V <- v_reset
        vlo, vhi = np.where(reset, vr_err, vlo), np.where(reset, vr_err, vhi)
        vE = np.where(reset, np.abs(vr_err), vE)
        res["I_lo"][t], res["I_hi"][t], res["V_lo"][t], res["V_hi"][t] = ilo, ihi, vlo, vhi
        res["I_E"][t], res["V_E"][t] = iE, vE
        fi_prev, fv_prev, prev = S * rec_f["i"][t], S * rec_f["v"][t], spikes[t]
    return res


def run_both(params, forced, learning=False, record=("v", "i", "x", "y")):
    q = quantise(params)
    ref = Reference(q.config, learning=learning)
    rec_r = ref.run(len(forced), forced, record=record)
    flt = FloatModel(params, learning=learning)
    rec_f = flt.run(len(forced), forced, record=(*record, "y_dec"))
    return q, ref, rec_r, flt, rec_f


# -- a. subthreshold dynamics -----------------------------------------------------------------

def subthreshold_net(seed=2024, n=16, n_in=6):
    rng = np.random.default_rng(seed)
    tgt = np.arange(n_in, n)
    tau_v = np.full(n, 10.0)
    tau_i = np.full(n, 0.0)
    tau_v[tgt] = rng.uniform(4.0, 40.0, tgt.size)
    tau_i[tgt] = rng.uniform(1.5, 12.0, tgt.size)
    tau_i[tgt[0]] = 0.0                                 # LIF without synaptic filter
    bias = np.zeros(n)
    bias[tgt] = rng.uniform(-0.05, 0.05, tgt.size)
    w = np.zeros((n, n))
    w[:n_in, n_in:] = rng.uniform(-0.1, 0.1, (n_in, tgt.size))
    params = FloatParams.make(n, weights=w, threshold=100.0, alpha_v=alpha(tau_v),
                              alpha_i=alpha(tau_i), bias=bias, w_min=-0.1, w_max=0.1)
    return params, tgt, n_in


def test_subthreshold_error_within_derived_bound():
    """I and V of non-spiking neurons driven by forced inputs through mixed-sign weights:
    at every step the error is inside the tight interval and under the worst-case bound,
    and the tight bound is not vacuous (the measured error reaches >= 1/20 of it)."""
    steps = 400
    params, tgt, n_in = subthreshold_net()
    rng = np.random.default_rng(7)
    forced = np.zeros((steps, params.n), bool)
    forced[:, :n_in] = rng.random((steps, n_in)) < 0.25
    q, _, rec_r, _, rec_f = run_both(params, forced)

    # preconditions: only forced spikes, no saturation anywhere, and V really goes negative
    assert np.array_equal(rec_r.spikes, forced)
    assert np.array_equal(rec_f["spikes"], forced)
    v_r, i_r = rec_r.state["v"], rec_r.state["i"]
    assert np.abs(v_r).max() < F.V.max // 2 and np.abs(i_r).max() < F.I.max // 2
    assert (v_r[:, tgt] < -S / 4).any() and (v_r[:, tgt] > S / 4).any()

    b = current_and_potential_bounds(forced, rec_f, params, q)
    e_i = i_r - S * rec_f["i"]
    e_v = v_r - S * rec_f["v"]
    sl = (slice(None), tgt)
    assert (b["I_lo"][sl] <= e_i[sl]).all() and (e_i[sl] <= b["I_hi"][sl]).all()
    assert (b["V_lo"][sl] <= e_v[sl]).all() and (e_v[sl] <= b["V_hi"][sl]).all()
    assert (np.abs(e_i[sl]) <= b["I_E"][sl]).all()
    assert (np.abs(e_v[sl]) <= b["V_E"][sl]).all()
    # tightness of the interval bound: the measured error is a sizeable part of it
    tight_v = np.maximum(np.abs(b["V_lo"][sl]), np.abs(b["V_hi"][sl])).max()
    tight_i = np.maximum(np.abs(b["I_lo"][sl]), np.abs(b["I_hi"][sl])).max()
    assert np.abs(e_v[sl]).max() >= tight_v / 20
    assert np.abs(e_i[sl]).max() >= tight_i / 20


# -- c. traces ----------------------------------------------------------------------------------

def test_traces_within_derived_bound():
    """Pre and post traces of forced neurons: a spike train, then silence.  The integer x and
    y stay inside the tight interval (truncation of a non-negative trace only loses, so
    the interval is one-sided apart from the rounding of alpha and of x_inc) at every step,
    in particular right after the train; and they decay to exactly 0 where the float
    trace falls under 1/2 LSB."""
    n, steps, train = 8, 400, 150
    tau_x = np.array([20, 7.3, 100, 2.5, 20, 20, 20, 20])
    x_inc = np.array([1.0, 0.37, 0.05, 2.3, 1, 1, 1, 1])
    tau_y = np.array([12, 50, 3, 1000, 20, 20, 20, 20])
    y_inc = np.array([0.8, 1.0, 0.25, 0.011, 1, 1, 1, 1])
    params = FloatParams.make(n, threshold=100.0, alpha_x=alpha(tau_x), x_inc=x_inc,
                              alpha_y=alpha(tau_y), y_inc=y_inc)
    rng = np.random.default_rng(11)
    forced = np.zeros((steps, n), bool)
    forced[:train, :4] = rng.random((train, 4)) < 0.3
    q, _, rec_r, _, rec_f = run_both(params, forced)
    lq = q.config.learning
    assert np.array_equal(rec_r.spikes, forced)
    for name, a, inc in (("x", "alpha_x", "x_inc"), ("y", "alpha_y", "y_inc")):
        real_a, real_inc = getattr(params, a), getattr(params, inc)
        r = rec_r.state[name][:, :4]
        assert r.max() < F.TRACE.max and r.max() > TS / 4       # exercised, not saturated
        b = trace_bounds(forced, rec_f[name], real_a, lq[a], real_inc, lq[inc])
        e = rec_r.state[name] - TS * rec_f[name]
        assert (b["lo"] <= e).all() and (e <= b["hi"]).all(), name
        k = train - 1                                           # right after the train
        assert (b["lo"][k] <= e[k]).all() and (e[k] <= b["hi"][k]).all()
        # decayed to exactly 0 where the float trace and the bound are below 1 LSB
        gone = TS * rec_f[name][-1] + b["hi"][-1] < 1
        assert gone.any() and (rec_r.state[name][-1][gone] == 0).all(), name


# -- b. a spiking network with STDP -------------------------------------------------------------

N_IN, N_TEACH, N_FREE = 16, 8, 8
IN = np.arange(N_IN)
TEACH = np.arange(N_IN, N_IN + N_TEACH)
FREE = np.arange(N_IN + N_TEACH, N_IN + N_TEACH + N_FREE)
#: An exactly representable block: traces that live one step (alpha 0, increment 1.0),
#: amplitudes of whole weight LSBs, weights on the LSB grid.  There every STDP update is
#: exact in both models, so the bound is 0 and a wrong order of operations shows up.
EX_IN, EX_T = IN[:4], TEACH[:2]
W_LSB_T = 2.0 ** (9 - 16)          # the weight LSB quantise() picks for w_max = 0.5


def stdp_net(seed=5):
    n = N_IN + N_TEACH + N_FREE
    rng = np.random.default_rng(seed)
    threshold = np.full(n, 100.0)
    threshold[FREE] = 1.0
    tau_v = np.full(n, 10.0)
    tau_v[FREE] = np.inf                                # IF: exact counting identity
    tau_i = np.full(n, 5.0)
    tau_i[FREE] = rng.uniform(2.0, 8.0, N_FREE)
    bias = np.zeros(n)
    bias[FREE] = rng.uniform(0.0, 0.02, N_FREE)
    subtract = np.zeros(n, bool)
    subtract[FREE] = True
    tau_x = np.full(n, 20.0)
    tau_x[IN] = rng.uniform(10.0, 30.0, N_IN)
    x_inc = np.ones(n)
    x_inc[IN] = rng.uniform(0.5, 1.0, N_IN)
    tau_y = np.full(n, 20.0)
    tau_y[TEACH] = rng.uniform(10.0, 30.0, N_TEACH)
    y_inc = np.ones(n)
    y_inc[TEACH] = rng.uniform(0.5, 1.0, N_TEACH)
    a_plus = np.zeros(n)
    a_minus = np.zeros(n)
    a_plus[TEACH] = rng.uniform(0.005, 0.015, N_TEACH)
    # half the teachers potentiate only: rounding errors of one sign cannot cancel there
    a_minus[TEACH[::2]] = rng.uniform(0.004, 0.012, N_TEACH // 2)
    w_min = np.zeros(n)
    w_max = np.full(n, 0.12)
    w_max[TEACH] = 0.5
    w = np.zeros((n, n))
    w[np.ix_(IN, TEACH)] = rng.uniform(0.1, 0.4, (N_IN, N_TEACH))
    w[np.ix_(IN, FREE)] = (rng.uniform(0.0, 0.12, (N_IN, N_FREE))
                           * (rng.random((N_IN, N_FREE)) < 0.5))
    w[np.ix_(TEACH, FREE)] = rng.uniform(0.0, 0.12, (N_TEACH, N_FREE))
    plastic = np.zeros((n, n), bool)
    plastic[np.ix_(IN, TEACH)] = rng.random((N_IN, N_TEACH)) < 0.8
    # the exact block
    tau_x[EX_IN], x_inc[EX_IN] = 0.0, 1.0
    tau_y[EX_T], y_inc[EX_T] = 0.0, 1.0
    a_plus[EX_T], a_minus[EX_T] = 2 * W_LSB_T, 1 * W_LSB_T
    w[np.ix_(IN, EX_T)] = rng.integers(10, 30, (N_IN, EX_T.size)) * W_LSB_T
    plastic[:, EX_T] = False
    plastic[np.ix_(EX_IN, EX_T)] = True
    return FloatParams.make(n, weights=w, plastic=plastic, threshold=threshold,
                            alpha_v=alpha(tau_v), alpha_i=alpha(tau_i), bias=bias,
                            subtract=subtract, alpha_x=alpha(tau_x), x_inc=x_inc,
                            alpha_y=alpha(tau_y), y_inc=y_inc, a_plus=a_plus, a_minus=a_minus,
                            w_min=w_min, w_max=w_max)


def stdp_forced(steps, n, seed=6):
    rng = np.random.default_rng(seed)
    forced = np.zeros((steps, n), bool)
    forced[:, IN] = rng.random((steps, N_IN)) < 0.05
    forced[:, TEACH] = rng.random((steps, N_TEACH)) < 0.04
    # teacher k of the exact block often fires together with exact input k (pre and post
    # in the same step: potentiation reads x after, depression y before this step's bump)
    for k, t in enumerate(EX_T):
        forced[:, t] |= forced[:, EX_IN[k]] & (rng.random(steps) < 0.6)
    return forced


def _rho(a_q, f, lo, hi):
    """Bound of the rounding of ``round(a_q * trace)``: 1/2, or 0 where it is exact (zero
    amplitude, or a trace known exactly whose product with ``a_q`` is a whole LSB)."""
    raw = TS * f
    known = (hi - lo < 1e-2) & (np.abs(raw - np.round(raw)) < 1e-6)
    prod = a_q * np.round(raw) / TS
    whole = known & (np.abs(prod - np.round(prod)) < 1e-9)
    return np.where((a_q == 0) | whole, 0.0, 0.5)


def weight_bounds(params, q, forced, rec_f):
    """Tight interval (weight LSBs of the post neuron) of ``w_ref - w_float / w_lsb`` for
    every synapse, propagated through all STDP updates.  Also returns the number of
    updates per synapse and, per step, the interval of the error of ``acc`` (raw LSBs of I).

    One update of the reference is ``round(a_q * trace_q)`` (``a_q`` in LSBs per unit
    trace), of the float model ``a * trace_f``.  Their difference is
    ``(a_q - a) trace_f + a_q (trace_q - trace_f) + rho`` with the rounding ``|rho| <= 1/2``
    (0 where exact, :func:`_rho`) and the trace error inside its own interval.  Clipping is
    monotone and 1-Lipschitz, so after a clip the difference lies between 0 and what it was
    (plus the rounding of the bounds).  Updates happen at the same steps in both models
    because every spike that triggers one is forced.
    """
    cfg, lq = q.config, q.config.learning
    per_unit = 1.0 / q.w_lsb                               # LSBs per real unit, per post
    lo = hi = cfg.weights - params.weights * per_unit[None, :]
    lo, hi = lo - EPS, hi + EPS
    ap_q, am_q = lq["a_plus"] / 16.0, lq["a_minus"] / 16.0
    ap, am = params.a_plus * per_unit, params.a_minus * per_unit
    dmin = lq["w_min"] - params.w_min * per_unit
    dmax = lq["w_max"] - params.w_max * per_unit
    cl_lo = np.minimum(0, np.minimum(dmin, dmax))[None, :]
    cl_hi = np.maximum(0, np.maximum(dmin, dmax))[None, :]
    xb = trace_bounds(forced, rec_f["x"], params.alpha_x, lq["alpha_x"], params.x_inc,
                      lq["x_inc"])
    yb = trace_bounds(forced, rec_f["y"], params.alpha_y, lq["alpha_y"], params.y_inc,
                      lq["y_inc"])
    plastic = params.plastic
    steps, n = forced.shape
    updates = np.zeros(plastic.shape, np.int64)
    acc_lo, acc_hi = np.zeros((steps, n)), np.zeros((steps, n))
    scale = 2.0 ** cfg.neurons["w_shift"]
    for t in range(steps):
        fired = np.flatnonzero(forced[t])
        if not fired.size:
            continue
        acc_lo[t] = scale * lo[fired].sum(axis=0)          # weights before this step's learning
        acc_hi[t] = scale * hi[fired].sum(axis=0)
        # depression of the rows of spiking pre, all posts
        yd, ylo, yhi = rec_f["y_dec"][t], yb["dec_lo"][t], yb["dec_hi"][t]
        rho = _rho(am_q, yd, ylo, yhi)
        d_lo = (am_q - am) * yd + am_q * ylo / TS - rho
        d_hi = (am_q - am) * yd + am_q * yhi / TS + rho
        m = plastic[fired]
        lo[fired] = np.where(m, np.minimum(0, lo[fired] - d_hi[None, :]) + cl_lo, lo[fired])
        hi[fired] = np.where(m, np.maximum(0, hi[fired] - d_lo[None, :]) + cl_hi, hi[fired])
        updates[fired] += m & (am_q > 0)[None, :]
        # potentiation of the columns of spiking post, all pres
        x, xlo, xhi = rec_f["x"][t][:, None], xb["lo"][t][:, None], xb["hi"][t][:, None]
        a_q, a = ap_q[fired][None, :], ap[fired][None, :]
        rho = _rho(a_q, x, xlo, xhi)
        p_lo = (a_q - a) * x + a_q * xlo / TS - rho
        p_hi = (a_q - a) * x + a_q * xhi / TS + rho
        m = plastic[:, fired]
        lo[:, fired] = np.where(m, np.minimum(0, lo[:, fired] + p_lo) + cl_lo[:, fired],
                                lo[:, fired])
        hi[:, fired] = np.where(m, np.maximum(0, hi[:, fired] + p_hi) + cl_hi[:, fired],
                                hi[:, fired])
        updates[:, fired] += m & (a_q > 0)
    return lo, hi, updates, (acc_lo, acc_hi)


@pytest.fixture(scope="module")
def stdp_run():
    steps = 600
    params = stdp_net()
    forced = stdp_forced(steps, params.n)
    q, ref, rec_r, flt, rec_f = run_both(params, forced, learning=True)
    assert np.allclose(q.w_lsb[TEACH], W_LSB_T)
    wb = weight_bounds(params, q, forced, rec_f)
    return dict(steps=steps, params=params, forced=forced, q=q, ref=ref, rec_r=rec_r,
                flt=flt, rec_f=rec_f, wb=wb)


def test_stdp_network_spike_counts(stdp_run):
    r"""Per-neuron spike counts of the STDP network agree within a derived tolerance.

    Inputs and teachers are forced (and their thresholds unreachable), so their spike trains
    are identical in both models.  The free neurons are integrate-and-fire (``alpha_v`` =
    1.0, exact in UQ1.15), reset by subtraction, no refractory period, with a drive
    ``d_t = I_t + bias`` in ``[0, threshold)`` at every step (checked).  Then ``V`` stays in
    ``[0, threshold)`` and ``V_T = D_T - threshold * N_T`` with ``D_T = sum_t d_t``, so

        N_T = floor(D_T / threshold)        in both models, exactly.

    Hence the count can differ only through the integrated drive:
    ``D_ref - S D_float = sum_t e^I_t + T * (bias_q - S bias)``, and ``e^I_t`` lies in the
    tight interval of the module docstring (the inputs of the free neurons are fixed
    weights from forced neurons).  The tolerance per neuron is the set of integers
    ``floor((S D_float + [sum lo^I, sum hi^I] + T dbias) / threshold_q)``: with the formats
    here its width is at most one spike (checked), so the counts must match exactly
    except where the float count sits within the drive error of an integer.
    """
    params, q, rec_r, rec_f = (stdp_run[k] for k in ("params", "q", "rec_r", "rec_f"))
    forced, steps = stdp_run["forced"], stdp_run["steps"]
    cfg = q.config
    spikes_r, spikes_f = rec_r.spikes, rec_f["spikes"]
    # forced neurons fire exactly when forced, in both models
    for s in (spikes_r, spikes_f):
        assert np.array_equal(s[:, IN], forced[:, IN])
        assert np.array_equal(s[:, TEACH], forced[:, TEACH])
    # preconditions of the counting identity, in both models
    th_q = cfg.neurons["threshold"][FREE]
    assert (cfg.neurons["alpha_v"][FREE] == F.DECAY_ONE).all()
    assert (cfg.neurons["refractory"][FREE] == 0).all()
    drive_r = rec_r.state["i"][:, FREE] + cfg.neurons["bias"][FREE]
    drive_f = rec_f["i"][:, FREE] + params.bias[FREE]
    assert (drive_r >= 0).all() and (drive_r < th_q).all()
    assert (drive_f >= 0).all() and (drive_f < params.threshold[FREE]).all()
    n_r, n_f = spikes_r[:, FREE].sum(0), spikes_f[:, FREE].sum(0)
    assert n_r.min() >= 20                        # the free neurons do fire
    # the identity itself: V_T = D_T - threshold * N_T (exact for the reference)
    assert np.array_equal(rec_r.state["v"][-1, FREE], drive_r.sum(0) - th_q * n_r)
    assert np.array_equal(n_r, drive_r.sum(0) // th_q)
    d_f = drive_f.sum(0)
    assert np.allclose(rec_f["v"][-1, FREE], d_f - params.threshold[FREE] * n_f,
                       rtol=0, atol=1e-9)
    assert np.array_equal(n_f, np.floor(d_f / params.threshold[FREE]))

    # derived tolerance
    b = current_and_potential_bounds(forced, rec_f, params, q)
    dbias = cfg.neurons["bias"][FREE] - S * params.bias[FREE]
    lo = S * d_f + b["I_lo"][:, FREE].sum(0) + steps * dbias
    hi = S * d_f + b["I_hi"][:, FREE].sum(0) + steps * dbias
    n_lo, n_hi = np.floor(lo / th_q), np.floor(hi / th_q)
    assert ((n_lo <= n_r) & (n_r <= n_hi)).all(), (n_lo, n_r, n_hi, n_f)
    assert (n_hi - n_lo <= 1).all()               # the tolerance is at most one spike
    # and the measured drive error is inside its interval
    d_r = drive_r.sum(0)
    assert ((lo <= d_r) & (d_r <= hi)).all()


def test_stdp_network_weights(stdp_run):
    """Final weights agree within the interval of :func:`weight_bounds`.

    A cruder bound from the number of updates ``U`` alone is ``1/2 + U/2`` LSB (initial
    rounding plus 1/2 LSB per update), valid when the amplitude and the trace are exactly
    representable; the tight interval adds the (known) amplitude rounding and the trace
    error bound, and uses the signs of the terms the compiler knows.  In the exact block
    the bound is 0: the weights must agree exactly."""
    params, q, ref, flt = (stdp_run[k] for k in ("params", "q", "ref", "flt"))
    lo, hi, updates, _ = stdp_run["wb"]
    per_unit = 1.0 / q.w_lsb
    err = ref.weights - flt.weights * per_unit[None, :]
    plastic = params.plastic
    # learning happened: weights moved by many LSBs, in the exact block too
    moved = np.abs(ref.weights - q.config.weights)
    assert moved[plastic].max() >= 10 and (moved[plastic] > 2).mean() > 0.5
    assert (moved[EX_IN[:EX_T.size], EX_T] >= 10).all()      # the paired synapses
    # non-plastic synapses are untouched, bit for bit, in both models
    assert np.array_equal(ref.weights[~plastic], q.config.weights[~plastic])
    assert np.array_equal(flt.weights[~plastic], params.weights[~plastic])
    # plastic synapses: inside the derived interval ...
    assert ((lo <= err) & (err <= hi))[plastic].all()
    # ... which is exact in the exact block
    ex = np.ix_(EX_IN, EX_T)
    assert (np.maximum(-lo, hi)[ex] < 1e-2).all() and (np.abs(err[ex]) < 1e-2).all()
    # ... and of the order of the count-based bound, not more
    crude = 0.5 + 0.5 * updates
    width = np.maximum(np.abs(lo), np.abs(hi))
    assert (width[plastic] <= 1.1 * crude[plastic] + 1).all()


def test_stdp_network_teacher_potentials(stdp_run):
    """I and V of the teachers (subthreshold: they fire only when forced) stay inside the
    tight interval, whose input term is now the propagated error of the learning weights
    as they were when transmitted (before the step's own learning)."""
    params, q, rec_r, rec_f = (stdp_run[k] for k in ("params", "q", "rec_r", "rec_f"))
    forced = stdp_run["forced"]
    b = current_and_potential_bounds(forced, rec_f, params, q, acc_err=stdp_run["wb"][3])
    for name in ("i", "v"):
        r = rec_r.state[name][:, TEACH]
        assert np.abs(r).max() < F.V.max // 2 and np.abs(r).max() > S
        e = r - S * rec_f[name][:, TEACH]
        X = name.upper()
        assert (b[X + "_lo"][:, TEACH] <= e).all() and (e <= b[X + "_hi"][:, TEACH]).all()

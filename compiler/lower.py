r"""Lowering a :class:`~plasticore.compiler.Network` to a core: allocation, scaling, quantisation.

Allocation
    Populations get contiguous neuron ranges in the order they were added to the network,
    starting at neuron 0.  Neurons past the last population are *unused*: threshold at the
    top of its format (``2**23 - 1``), no bias, no synapses, so they never fire.  Input
    neurons get the same parameters: they fire only when forced.

The quantisation rule (one rule, everywhere)
    A real value ``x`` destined for a format with LSB ``q`` becomes ``rint(x / q)``: round to
    nearest, ties to even.  A result outside the format's range is an error
    (:class:`CompileError`), never clipped.

Scaling (per post-synaptic population ``p``)
    ``V = (v - v_rest) * S_p`` with ``S_p = 2**k_p / max(v_threshold - v_rest)``: the
    highest threshold of the population lands at ``2**k_p`` LSB, ``k_p = 16`` by default
    (1/65536 threshold resolution, 128 thresholds of headroom in 24 bits).  All weights into
    ``p`` (and the STDP bounds of its learning projections) are ``w * S_p / 2**w_shift_p`` in
    integer weight LSBs, with ``w_shift_p`` the *smallest* shift (finest weight resolution)
    for which the largest of them still rounds into ``[-128, 127]``.  Two refinements:
    if weights would use less than half of the 8-bit range even at ``w_shift = 0``, ``k_p``
    rises (at most to 18, 32 thresholds of headroom) to resolve them better; if they do not
    fit even at ``w_shift = 15``, ``k_p`` falls (at most to 8, with a warning) before the
    weights are declared unrepresentable.

Time constants
    ``alpha = rint(exp(-dt / tau) * 2**15)``; ``tau = inf`` is ``alpha = 2**15`` (no decay),
    ``tau_syn = 0`` is ``alpha_i = 0`` (no synaptic current).  Refractory times become
    ``rint(tau_refrac / dt)`` steps.  The constant drive ``bias`` (V/s) becomes the per-step
    increment ``tau_mem * (1 - exp(-dt/tau_mem)) * bias`` (``dt * bias`` for ``tau_mem = inf``)
    times ``S_p``.  STDP traces jump by exactly 1.0 (``x_inc = y_inc = 4096``) so that a
    weight update is ``A * trace``; the amplitudes are ``A * S_p / 2**w_shift_p`` weight LSBs
    with 4 fraction bits.

The :class:`QuantizationReport` lists every parameter's requested and realised value and
relative error, the weights rounded to zero, the scales chosen and warnings; ``strict=True``
refuses a mapping whose errors exceed ``tolerance``.
"""

from __future__ import annotations

import math

import numpy as np

from plasticore import fixed as F
from plasticore.core import N_DEFAULT, CoreConfig, CoreParams, ResetMode

from .network import CompileError, Network

__all__ = ["compile_network", "QuantizationReport", "input_rasters", "K_DEFAULT", "K_MAX",
           "K_MIN", "SPIKE_COUNT_GAIN", "SPIKE_COUNT_SLACK",
           "RECURRENT_SPREAD"]

K_DEFAULT = 16     # threshold at 2**16 LSB
K_MAX = 18         # at most 2**18: keeps 32 thresholds of headroom in 24-bit V
K_MIN = 8          # at least 2**8: 1/256 threshold resolution
#: Spike-count tolerance stated by the report: ``SLACK + GAIN * drive_error * count``.  A
#: neuron's rate is, to first order, proportional to its drive relative to its threshold and
#: leak, so a relative parameter error ``e`` moves the rate by about ``e`` (more near the
#: firing onset, hence the gain); the slack absorbs one threshold crossing that lands on the
#: other side of a step boundary at either end of the run.
SPIKE_COUNT_GAIN = 4.0
SPIKE_COUNT_SLACK = 2
#: Extra per-neuron spread, in units of sqrt(count), allowed in recurrent networks.
RECURRENT_SPREAD = 2.0


def _rint(x):
    return np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)


def _alpha(tau, dt):
    """exp(-dt/tau) with tau = inf -> 1 and tau = 0 -> 0."""
    tau = np.asarray(tau, np.float64)
    with np.errstate(divide="ignore"):
        return np.where(tau == 0, 0.0, np.exp(-dt / np.where(tau == 0, 1.0, tau)))


def _tau_of_alpha(raw, dt):
    a = np.asarray(raw, np.float64) / F.DECAY_ONE
    with np.errstate(divide="ignore"):
        return np.where(a >= 1, np.inf, np.where(a <= 0, 0.0, -dt / np.log(np.clip(a, 1e-300,
                                                                                 1))))


def bias_gain(tau_mem, dt):
    """Per-step potential increment of a unit constant drive: tau (1 - exp(-dt/tau))."""
    tau = np.asarray(tau_mem, np.float64)
    finite = np.isfinite(tau)
    safe = np.where(finite, tau, 1.0)
    return np.where(finite, -safe * np.expm1(-dt / safe), dt)


def _rel(requested, realised):
    req, real = np.asarray(requested, np.float64), np.asarray(realised, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        both_inf = np.isinf(req) & np.isinf(real) & (np.sign(req) == np.sign(real))
        r = np.where(req == real, 0.0, np.abs(real - req) / np.abs(req))
        r = np.where(both_inf, 0.0, r)
        return np.where((req == 0) & (real != 0), np.inf, r)


# -- the report ------------------------------------------------------------------------------

class QuantizationReport:
    """How a network was mapped onto the core, parameter by parameter.

    Attributes
    ----------
    entries : list of dict
        One per parameter (per population, projection or rule): ``where``, ``parameter``,
        ``unit``, ``requested``, ``realised``, ``rel_error`` and ``raw`` (the integer loaded;
        for per-neuron parameters the values of the worst neuron).
    weights : dict
        Per projection: ``synapses``, ``rounded_to_zero`` (nonzero weights that became 0),
        ``clipped`` (always 0: out-of-range weights are errors), ``worst_abs_error`` (V),
        ``worst_rel_error`` and ``worst`` (the synapse with the largest relative error), and
        ``drive_error``: the largest, over post neurons, of ``sum |realised - requested| /
        sum |requested|`` of the weights into it.
    scales : dict
        Per population: ``k`` (threshold at 2**k LSB), ``lsb_per_volt``, ``w_shift``,
        ``weight_lsb`` (V per weight LSB).
    warnings : list of str
    drive_error : float
        The largest relative error of any quantity that drives the membrane: weights (as
        above), the leak ``1 - alpha`` of V and I, thresholds, reset values (relative to
        the threshold) and biases.
    recurrent : bool
        Whether the projections between LIF populations form a loop.
    spike_count_tolerance : dict
        ``{"absolute": SLACK, "relative": GAIN * drive_error, "recurrent": recurrent}``: the
        stated agreement between per-neuron spike counts of the compiled program and of a
        float simulation of the description (:func:`plasticore.compiler.simulate`) for the
        same input and no learning: ``|n_core - n_float| <= absolute + relative * n_float``,
        plus ``RECURRENT_SPREAD * sqrt(n_float)`` in a recurrent network (after the first
        spike that differs, its trajectories decorrelate and counts differ like two samples
        of the same rate).  An engineering estimate for rate-driven activity, not a
        guarantee: a neuron sitting exactly at its firing onset can diverge further.
    """

    def __init__(self):
        self.entries = []
        self.weights = {}
        self.scales = {}
        self.warnings = []
        self.drive_error = 0.0
        self.timing_error = 0.0
        self.recurrent = False

    def add(self, where, parameter, unit, requested, realised, raw, rel=None, drive=False):
        """Record a parameter (scalars or per-neuron arrays; the worst neuron is kept)."""
        req = np.atleast_1d(np.asarray(requested, np.float64))
        real = np.atleast_1d(np.asarray(realised, np.float64))
        raw = np.atleast_1d(np.asarray(raw))
        err = _rel(req, real) if rel is None else np.atleast_1d(np.asarray(rel, np.float64))
        k = int(np.argmax(err)) if err.size else 0
        same = req.size == 1 or (np.all(req == req[0]) and np.all(real == real[0]))
        entry = {"where": where, "parameter": parameter, "unit": unit,
                 "requested": float(req[k]), "realised": float(real[k]),
                 "rel_error": float(err[k]), "raw": int(raw[min(k, raw.size - 1)])}
        if not same:
            entry["neuron"] = k
        self.entries.append(entry)
        if drive and err.size:
            self.drive_error = max(self.drive_error, float(err[k]))
        return entry

    @property
    def spike_count_tolerance(self):
        return {"absolute": SPIKE_COUNT_SLACK, "relative": SPIKE_COUNT_GAIN * self.drive_error,
                "recurrent": self.recurrent}

    def allowed_deviation(self, count):
        """Largest spike-count difference the report allows for a neuron firing ``count``
        times in the float simulation."""
        tol = self.spike_count_tolerance
        count = np.asarray(count, np.float64)
        spread = RECURRENT_SPREAD * np.sqrt(count) if self.recurrent else 0.0
        return tol["absolute"] + tol["relative"] * count + spread

    def worst(self, n=5):
        """The ``n`` entries with the largest relative error."""
        return sorted(self.entries, key=lambda e: -e["rel_error"])[:n]

    def as_dict(self):
        return {"entries": self.entries, "weights": self.weights, "scales": self.scales,
                "warnings": self.warnings, "drive_error": self.drive_error,
                "timing_error": self.timing_error, "recurrent": self.recurrent,
                "spike_count_tolerance": self.spike_count_tolerance}

    @classmethod
    def from_dict(cls, d):
        r = cls()
        r.entries, r.weights, r.scales = list(d["entries"]), dict(d["weights"]), dict(
            d["scales"])
        r.warnings, r.drive_error = list(d["warnings"]), float(d["drive_error"])
        r.timing_error = float(d.get("timing_error", 0.0))
        r.recurrent = bool(d.get("recurrent", False))
        return r

    def format(self, limit=12):
        """Human-readable summary."""
        spread = f" + {RECURRENT_SPREAD:g} sqrt(count) (recurrent)" if self.recurrent else ""
        lines = [f"drive error {self.drive_error:.3g}; spike counts expected within "
                 f"{SPIKE_COUNT_SLACK} + {self.spike_count_tolerance['relative']:.3g} x count"
                 f"{spread}"]
        for name, s in self.scales.items():
            lines.append(f"  {name}: threshold at 2^{s['k']} LSB, w_shift {s['w_shift']}, "
                         f"weight LSB {s['weight_lsb']:.4g}")
        for name, w in self.weights.items():
            lines.append(f"  {name}: {w['synapses']} synapses, {w['rounded_to_zero']} rounded "
                         f"to zero, drive error {w['drive_error']:.3g}")
        lines.append("largest relative errors:")
        for e in self.worst(limit):
            lines.append(f"  {e['where']}.{e['parameter']}: requested {e['requested']:.6g} "
                         f"{e['unit']}, realised {e['realised']:.6g} "
                         f"(rel. error {e['rel_error']:.3g})")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self):
        return (f"<QuantizationReport drive_error={self.drive_error:.3g}, "
                f"{len(self.entries)} entries, {len(self.warnings)} warnings>")


# -- inputs ------------------------------------------------------------------------------------

def input_rasters(network: Network, steps=None):
    """The forced spikes of every input population, ``{name: bool (steps, size)}``, plus the
    warnings and the worst spike-time rounding (s).  ``steps`` defaults to
    ``round(duration / dt)``, or to the longest source when the network has no duration."""
    dt = network.dt
    if steps is None and network.duration is not None:
        steps = int(round(network.duration / dt))
    inputs = [p for p in network.populations.values() if p.is_input]
    if steps is None:
        lengths = [p.source.raster(p.size, dt, None, f"Input {p.name!r}")[0].shape[0]
                   for p in inputs if p.source is not None]
        steps = max(lengths, default=0)
    rasters, notes, timing = {}, [], 0.0
    for p in inputs:
        if p.source is None:
            rasters[p.name] = np.zeros((steps, p.size), bool)
            notes.append(f"Input {p.name!r} has no spike source: it stays silent.")
            continue
        r, n, t = p.source.raster(p.size, dt, steps, f"Input {p.name!r}")
        rasters[p.name], timing = r, max(timing, t)
        notes += n
    return rasters, steps, notes, timing


# -- the compiler ------------------------------------------------------------------------------

def _allocate(network, n):
    total = network.size
    if total > n:
        sizes = ", ".join(f"{p.name} ({p.size})" for p in network.populations.values())
        raise CompileError(f"Network {network.name!r} needs {total} neurons ({sizes}), but the "
                           f"target core has {n}.")
    out, start = {}, 0
    for p in network.populations.values():
        out[p.name] = (start, start + p.size)
        start += p.size
    return out


def _choose_scale(theta_max, wmax_abs, weights, where, report):
    """Pick ``(k, w_shift)`` for a post population (see the module docstring)."""
    def fits(k, s):
        lsb = weights * (2.0 ** k / theta_max) / 2.0 ** s
        r = np.rint(lsb)
        return r.size == 0 or (r.max() <= F.WEIGHT.max and r.min() >= F.WEIGHT.min)

    def shift_for(k):
        for s in range(F.W_SHIFT.max + 1):
            if fits(k, s):
                return s
        return None

    s = shift_for(K_DEFAULT)
    if s is not None:
        k = K_DEFAULT
        if s == 0 and wmax_abs > 0:
            while k < K_MAX and fits(k + 1, 0) and \
                    wmax_abs * 2.0 ** k / theta_max < (F.WEIGHT.max + 1) / 2:
                k += 1
        return k, s
    for k in range(K_DEFAULT - 1, K_MIN - 1, -1):
        s = shift_for(k)
        if s is not None:
            report.warnings.append(
                f"{where}: weights up to {wmax_abs / theta_max:.4g} thresholds need the "
                f"threshold at 2^{k} instead of 2^{K_DEFAULT} LSB: the potential resolves only "
                f"1/{2 ** k} of the threshold.")
            return k, s
    limit = (F.WEIGHT.max + 0.5) * 2.0 ** F.W_SHIFT.max / 2.0 ** K_MIN
    raise CompileError(f"{where}: a weight of {wmax_abs:.6g} ({wmax_abs / theta_max:.6g} "
                       f"thresholds) is beyond any representable scale; the largest weight a "
                       f"population can receive is {limit:.6g} thresholds "
                       f"({limit * theta_max:.6g}).")


def _has_loop(network):
    """True if the projections between LIF populations contain a directed cycle."""
    succ = {}
    for pr in network.projections.values():
        succ.setdefault(pr.pre.name, set()).add(pr.post.name)
    state = {}

    def visit(node):
        state[node] = 1
        for nxt in succ.get(node, ()):
            if state.get(nxt) == 1 or (nxt not in state and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(node not in state and visit(node) for node in list(succ))


def compile_network(network: Network, n: int = N_DEFAULT, *, strict: bool = False,
                    tolerance: float = 0.01, steps=None):
    """Lower ``network`` onto a core of ``n`` neurons and return a
    :class:`~plasticore.compiler.Program`.

    ``steps`` overrides how many steps of input are generated (default: the network's
    duration, or its longest input).  With ``strict=True``, any relative error above
    ``tolerance`` in a realised parameter (see :class:`QuantizationReport`) or any nonzero
    weight rounded to zero raises :class:`CompileError` listing the offenders.  Every error
    is raised before anything is built; the function has no side effects.
    """
    from .program import Program

    if not isinstance(network, Network):
        raise CompileError(f"compile needs a Network, not {type(network).__name__}.")
    try:
        core = CoreParams(n)
    except (TypeError, ValueError) as e:
        raise CompileError(f"Bad target size: {e}.") from None
    tolerance = float(tolerance)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise CompileError(f"The strict-mode tolerance must be a finite number >= 0, "
                           f"not {tolerance}.")
    n = core.n
    dt = network.dt
    alloc = _allocate(network, n)
    report = QuantizationReport()
    cfg = CoreConfig(core)
    p, lp = cfg.neurons, cfg.learning

    # every neuron starts unused: silent, unreachable threshold
    th = np.full(n, F.THRESHOLD.max, np.int64)
    v_reset = np.zeros(n, np.int64)
    bias = np.zeros(n, np.int64)
    alpha_v = np.zeros(n, np.int64)
    alpha_i = np.zeros(n, np.int64)
    refr = np.zeros(n, np.int64)
    w_shift = np.zeros(n, np.int64)
    reset_mode = np.zeros(n, np.int64)
    lsb_per_volt = np.zeros(n)
    v_offset = np.zeros(n)
    weight_lsb = np.zeros(n)

    rasters, in_steps, notes, timing = input_rasters(network, steps)
    report.warnings += list(network.notes) + notes
    report.timing_error = timing
    if timing > 0:
        report.warnings.append(f"Input spike times were moved by up to {timing:.3g} s onto the "
                               f"{dt} s grid.")

    # projections by post population, with overlap checks
    into = {name: [] for name in network.populations}
    pairs = {}
    for proj in network.projections.values():
        into[proj.post.name].append(proj)
        key = (proj.pre.name, proj.post.name)
        for other in pairs.get(key, []):
            if (other.mask & proj.mask).any():
                i, j = np.argwhere(other.mask & proj.mask)[0]
                raise CompileError(f"Projections {other.name!r} and {proj.name!r} both connect "
                                   f"{proj.pre.name}[{i}] to {proj.post.name}[{j}]; the core has "
                                   f"one synapse per pair: merge them into one projection.")
        pairs.setdefault(key, []).append(proj)

    report.recurrent = _has_loop(network)

    # learning rules: one per post population, one tau_plus per pre population
    rule_of_post, tau_plus_of_pre = {}, {}
    for proj in network.projections.values():
        if not proj.learning:
            continue
        first = rule_of_post.setdefault(proj.post.name, proj)
        if first.stdp.as_dict() != proj.stdp.as_dict():
            raise CompileError(
                f"Learning projections {first.name!r} and {proj.name!r} both end in population "
                f"{proj.post.name!r} but have different STDP rules ({first.stdp} vs {proj.stdp}); "
                f"the core keeps one rule per post-synaptic neuron.")
        first = tau_plus_of_pre.setdefault(proj.pre.name, proj)
        if first.stdp.tau_plus != proj.stdp.tau_plus:
            raise CompileError(
                f"Learning projections {first.name!r} and {proj.name!r} both start in population "
                f"{proj.pre.name!r} but have different tau_plus ({first.stdp.tau_plus} vs "
                f"{proj.stdp.tau_plus}); the core keeps one pre-synaptic trace per neuron.")

    w_int = np.zeros((n, n), np.int64)
    plastic = np.zeros((n, n), bool)
    alpha_x = np.zeros(n, np.int64)
    alpha_y = np.zeros(n, np.int64)
    x_inc = np.zeros(n, np.int64)
    y_inc = np.zeros(n, np.int64)
    a_plus = np.zeros(n, np.int64)
    a_minus = np.zeros(n, np.int64)
    w_min = np.zeros(n, np.int64)
    w_max = np.zeros(n, np.int64)
    stdp_scale = {}

    for pop in network.populations.values():
        lo, hi = alloc[pop.name]
        sl = slice(lo, hi)
        if pop.is_input:
            continue
        where = f"Population {pop.name!r}"
        q = pop.params
        theta = q["v_threshold"] - q["v_rest"]
        theta_max = float(theta.max())
        projs = into[pop.name]
        ws = [pr.weights[pr.mask] for pr in projs]
        rule = rule_of_post.get(pop.name)
        if rule is not None:
            ws.append(np.array([rule.stdp.w_min, rule.stdp.w_max]))
        allw = np.concatenate(ws) if ws else np.zeros(0)
        wmax_abs = float(np.abs(allw).max()) if allw.size else 0.0
        k, s = _choose_scale(theta_max, wmax_abs, allw, where, report)
        scale = 2.0 ** k / theta_max
        wlsb = 2.0 ** s / scale
        report.scales[pop.name] = {"k": k, "lsb_per_volt": scale, "w_shift": s,
                                   "weight_lsb": wlsb, "neurons": [lo, hi]}
        lsb_per_volt[sl], v_offset[sl], weight_lsb[sl], w_shift[sl] = scale, q["v_rest"], wlsb, s

        # thresholds, reset, bias
        th_raw = _rint(theta * scale)
        reset_req = q["v_reset"] - q["v_rest"]
        reset_raw = _rint(reset_req * scale)
        gain = bias_gain(q["tau_mem"], dt)
        bias_step = q["bias"] * gain
        bias_raw = _rint(bias_step * scale)
        for raw, fmt, what in ((th_raw, F.THRESHOLD, "v_threshold"),
                               (reset_raw, F.V_RESET, "v_reset"), (bias_raw, F.BIAS, "bias")):
            if not fmt.contains(raw):
                kk = int(np.argmax((raw < fmt.min) | (raw > fmt.max)))
                raise CompileError(
                    f"{where}: {what} of neuron {kk} is {raw[kk] / 2 ** k:.6g} thresholds from "
                    f"rest, outside the {fmt.min / 2 ** k:.6g} to {fmt.max / 2 ** k:.6g} "
                    f"thresholds that the {fmt.width}-bit potential can hold.")
        th[sl], v_reset[sl], bias[sl] = th_raw, reset_raw, bias_raw
        report.add(pop.name, "v_threshold", "V", q["v_threshold"], q["v_rest"] + th_raw / scale,
                   th_raw, rel=np.abs(th_raw / scale - theta) / theta, drive=True)
        report.add(pop.name, "v_reset", "V", q["v_reset"], q["v_rest"] + reset_raw / scale,
                   reset_raw, rel=np.abs(reset_raw / scale - reset_req) / theta, drive=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            bias_real = np.where(gain > 0, bias_raw / scale / gain, 0.0)
        # a bias error matters relative to the drive that holds V at threshold
        need = np.where(np.isfinite(q["tau_mem"]), (1 - _alpha(q["tau_mem"], dt)) * theta,
                        0.0)
        den = np.maximum(np.abs(bias_step), need)
        with np.errstate(divide="ignore", invalid="ignore"):
            brel = np.where(den > 0, np.abs(bias_raw / scale - bias_step) / den, 0.0)
        report.add(pop.name, "bias", "V/s", q["bias"], bias_real, bias_raw, rel=brel,
                   drive=True)

        # time constants
        for name, arr in (("tau_mem", alpha_v), ("tau_syn", alpha_i)):
            tau = q[name]
            a = _alpha(tau, dt)
            raw = _rint(a * F.DECAY_ONE)
            arr[sl] = raw
            real_tau = _tau_of_alpha(raw, dt)
            leak_req, leak_real = 1 - a, 1 - raw / F.DECAY_ONE
            report.add(pop.name, name, "s", tau, real_tau, raw, drive=False)
            report.add(pop.name, f"leak of {name} (1 - alpha)", "1", leak_req, leak_real, raw,
                       drive=True)
        steps_ref = _rint(q["tau_refrac"] / dt)
        if not F.REFRACTORY.contains(steps_ref):
            raise CompileError(f"{where}: tau_refrac {q['tau_refrac'].max()} s is "
                               f"{int(steps_ref.max())} steps of {dt} s; at most "
                               f"{F.REFRACTORY.max} steps are possible.")
        refr[sl] = steps_ref
        report.add(pop.name, "tau_refrac", "s", q["tau_refrac"], steps_ref * dt, steps_ref)
        reset_mode[sl] = (ResetMode.SUBTRACT.value if pop.cell.reset == "subtract"
                          else ResetMode.VALUE.value)
        if rule is not None:
            stdp_scale[pop.name] = (scale, s)

    # weights
    for proj in network.projections.values():
        pre_lo, pre_hi = alloc[proj.pre.name]
        post_lo, post_hi = alloc[proj.post.name]
        sc = report.scales[proj.post.name]
        raw = _rint(proj.weights / sc["weight_lsb"])
        raw[~proj.mask] = 0
        F.WEIGHT.check(raw, f"weight of projection {proj.name!r}")   # cannot fail: by scale
        real = raw * sc["weight_lsb"]
        req = np.where(proj.mask, proj.weights, 0.0)
        err = np.abs(real - req)
        zero = proj.mask & (req != 0) & (raw == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(req != 0, err / np.abs(req), 0.0)
            col = np.abs(req).sum(axis=0)
            drive = np.where(col > 0, err.sum(axis=0) / col, 0.0)
        worst = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.size else (0, 0)
        summary = {
            "pre": proj.pre.name, "post": proj.post.name, "learning": proj.learning,
            "synapses": int(proj.mask.sum()), "rounded_to_zero": int(zero.sum()),
            "clipped": 0, "worst_abs_error": float(err.max()) if err.size else 0.0,
            "worst_rel_error": float(rel.max()) if rel.size else 0.0,
            "worst": {"pre": int(worst[0]), "post": int(worst[1]),
                      "requested": float(req[worst]), "realised": float(real[worst])},
            "drive_error": float(drive.max()) if drive.size else 0.0,
        }
        report.weights[proj.name] = summary
        report.drive_error = max(report.drive_error, summary["drive_error"])
        if zero.any():
            report.warnings.append(
                f"Projection {proj.name!r}: {int(zero.sum())} nonzero weights (largest "
                f"{float(np.abs(req[zero]).max()):.4g}) are below half a weight LSB "
                f"({sc['weight_lsb']:.4g}) and were rounded to zero.")
        block = (slice(pre_lo, pre_hi), slice(post_lo, post_hi))
        w_int[block] = np.where(proj.mask, raw, w_int[block])
        if proj.learning:
            plastic[block] |= proj.mask

    # learning parameters
    for post_name, proj in rule_of_post.items():
        lo, hi = alloc[post_name]
        rule = proj.stdp
        scale, s = stdp_scale[post_name]
        lsb = 2.0 ** s / scale
        where = f"STDP into {post_name!r}"
        a_y = _rint(_alpha(rule.tau_minus, dt) * F.DECAY_ONE)
        alpha_y[lo:hi], y_inc[lo:hi] = a_y, F.TRACE_ONE
        report.add(where, "tau_minus", "s", rule.tau_minus, _tau_of_alpha(a_y, dt), a_y)
        for name, arr in (("A_plus", a_plus), ("A_minus", a_minus)):
            value = getattr(rule, name)
            raw = int(_rint(value / lsb * (1 << F.AMP_FRAC)))
            if not F.AMPLITUDE.contains(raw):
                raise CompileError(
                    f"{where}: {name} = {value} is {value / lsb:.6g} weight LSBs of "
                    f"{lsb:.4g}; the core's amplitude holds at most "
                    f"{F.AMPLITUDE.max / (1 << F.AMP_FRAC)} LSBs.")
            if value > 0 and raw == 0:
                report.warnings.append(f"{where}: {name} = {value} is below 1/32 of a weight "
                                       f"LSB ({lsb:.4g}) and was rounded to zero.")
            arr[lo:hi] = raw
            report.add(where, name, "w", value, raw / (1 << F.AMP_FRAC) * lsb, raw)
            if 0 < value < lsb / 2:
                report.warnings.append(
                    f"{where}: {name} = {value} is less than half a weight LSB ({lsb:.4g}): "
                    f"single updates round to 0 or 1 LSB, learning is coarse.")
        for name, arr in (("w_min", w_min), ("w_max", w_max)):
            value = getattr(rule, name)
            raw = int(_rint(value / lsb))
            arr[lo:hi] = raw
            span = max(abs(rule.w_max - rule.w_min), lsb)
            report.add(where, name, "w", value, raw * lsb, raw,
                       rel=abs(raw * lsb - value) / span)
    for pre_name, proj in tau_plus_of_pre.items():
        lo, hi = alloc[pre_name]
        a_x = _rint(_alpha(proj.stdp.tau_plus, dt) * F.DECAY_ONE)
        alpha_x[lo:hi], x_inc[lo:hi] = a_x, F.TRACE_ONE
        report.add(f"STDP from {pre_name!r}", "tau_plus", "s", proj.stdp.tau_plus,
                   _tau_of_alpha(a_x, dt), a_x)

    if strict:
        bad = [e for e in report.entries if e["rel_error"] > tolerance]
        bad += [{"where": name, "parameter": "weights (drive)", "rel_error": w["drive_error"]}
                for name, w in report.weights.items() if w["drive_error"] > tolerance]
        zeros = {name: w["rounded_to_zero"] for name, w in report.weights.items()
                 if w["rounded_to_zero"]}
        if bad or zeros:
            parts = [f"{e['where']}.{e['parameter']} (rel. error {e['rel_error']:.3g})"
                     for e in sorted(bad, key=lambda e: -e["rel_error"])[:8]]
            parts += [f"{name}: {c} weights rounded to zero" for name, c in zeros.items()]
            raise CompileError(f"Strict mode: the mapping of network {network.name!r} is lossier "
                               f"than the tolerance {tolerance:g}: " + "; ".join(parts) + ".")

    p["threshold"], p["v_reset"], p["bias"] = th, v_reset, bias
    p["alpha_v"], p["alpha_i"], p["refractory"] = alpha_v, alpha_i, refr
    p["w_shift"], p["reset_mode"] = w_shift, reset_mode
    lp["alpha_x"], lp["x_inc"], lp["alpha_y"], lp["y_inc"] = alpha_x, x_inc, alpha_y, y_inc
    lp["a_plus"], lp["a_minus"], lp["w_min"], lp["w_max"] = a_plus, a_minus, w_min, w_max
    cfg.weights = w_int
    cfg.plastic = plastic
    cfg.validate()

    inputs = [pp for pp in network.populations.values() if pp.is_input]
    in_index = np.concatenate([np.arange(*alloc[pp.name]) for pp in inputs]) if inputs else \
        np.zeros(0, np.int64)
    raster = (np.concatenate([rasters[pp.name] for pp in inputs], axis=1) if inputs
              else np.zeros((in_steps, 0), bool))
    populations = {name: {"start": lo, "stop": hi,
                          "input": network.populations[name].is_input}
                   for name, (lo, hi) in alloc.items()}
    record = {
        "spikes": [pp.name for pp in network.populations.values() if "spikes" in pp.recorded],
        "v": [pp.name for pp in network.populations.values() if "v" in pp.recorded],
        "weights": {pr.name: pr.weights_every for pr in network.projections.values()
                    if pr.weights_every is not None},
    }
    projections = {pr.name: {"pre": pr.pre.name, "post": pr.post.name,
                             "learning": pr.learning, "mask": pr.mask.copy()}
                   for pr in network.projections.values()}
    return Program(config=cfg, dt=dt, populations=populations, projections=projections,
                   record=record, input_index=in_index, input_raster=raster,
                   lsb_per_volt=lsb_per_volt, v_offset=v_offset, weight_lsb=weight_lsb,
                   report=report, learning=bool(rule_of_post), name=network.name)

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

The :class:`~plasticore.compiler.report.QuantizationReport` lists every parameter's
requested and realised value and relative error, the weights rounded to zero, the scales
chosen and warnings; ``strict=True`` refuses a mapping whose errors exceed ``tolerance``.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from plasticore import fixed as F
from plasticore.core import (
    N_DEFAULT,
    RULE_PARAMS,
    CoreConfig,
    CoreParams,
    ResetMode,
    Rounding,
    Target,
)

from .network import (
    STDP,
    CompileError,
    InputPopulation,
    Network,
    Population,
    Projection,
    ThreeFactor,
)
from .program import Program
from .report import (
    RECURRENT_SPREAD,
    SPIKE_COUNT_GAIN,
    SPIKE_COUNT_SLACK,
    QuantizationReport,
)

__all__ = ["compile_network", "QuantizationReport", "input_rasters", "K_DEFAULT", "K_MAX",
           "K_MIN", "SPIKE_COUNT_GAIN", "SPIKE_COUNT_SLACK",
           "RECURRENT_SPREAD"]

K_DEFAULT = 16     # threshold at 2**16 LSB
K_MAX = 18         # at most 2**18: keeps 32 thresholds of headroom in 24-bit V
K_MIN = 8          # at least 2**8: 1/256 threshold resolution
K_FINE = 20        # a slowly decaying current may take the threshold up to 2**20 (8 headroom)
#: The synaptic current decays by truncation toward zero, at least 1 LSB a step: where the
#: real decay of the largest weight-sized current, (1 - alpha_syn) |w| LSB, is below
#: FINE_TRIGGER, truncation dominates it (PyNN at dt = 0.025 ms, tau_syn = 2 ms: 1.35 LSB,
#: PSPs 38 % short); the scale is then refined until it is FINE_TARGET (or k = K_FINE).
FINE_TRIGGER = 4.0
FINE_TARGET = 16.0


def _rint(x: ArrayLike) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)


def _alpha(tau: ArrayLike, dt: float) -> np.ndarray:
    """exp(-dt/tau) with tau = inf -> 1 and tau = 0 -> 0."""
    tau = np.asarray(tau, np.float64)
    with np.errstate(divide="ignore"):
        return np.where(tau == 0, 0.0, np.exp(-dt / np.where(tau == 0, 1.0, tau)))


def _tau_of_alpha(raw: ArrayLike, dt: float) -> np.ndarray:
    a = np.asarray(raw, np.float64) / F.DECAY_ONE
    with np.errstate(divide="ignore"):
        return np.where(a >= 1, np.inf, np.where(a <= 0, 0.0, -dt / np.log(np.clip(a, 1e-300,
                                                                                 1))))


def bias_gain(tau_mem: ArrayLike, dt: float) -> np.ndarray:
    """Per-step potential increment of a unit constant drive: tau (1 - exp(-dt/tau))."""
    tau = np.asarray(tau_mem, np.float64)
    finite = np.isfinite(tau)
    safe = np.where(finite, tau, 1.0)
    return np.where(finite, -safe * np.expm1(-dt / safe), dt)


# -- inputs ------------------------------------------------------------------------------------

def input_rasters(network: Network, steps: int | None = None
                  ) -> tuple[dict[str, np.ndarray], int, list[str], float]:
    """The forced spikes of every input population, ``{name: bool (steps, size)}``, plus the
    warnings and the worst spike-time rounding (s).  ``steps`` defaults to
    ``round(duration / dt)``, or to the longest source when the network has no duration."""
    dt = network.dt
    if steps is None and network.duration is not None:
        steps = int(round(network.duration / dt))
    inputs = [cast(InputPopulation, p) for p in network.populations.values() if p.is_input]
    if steps is None:
        lengths = [p.source.raster(p.size, dt, None, f"Input {p.name!r}")[0].shape[0]
                   for p in inputs if p.source is not None]
        steps = max(lengths, default=0)
    rasters: dict[str, np.ndarray]
    notes: list[str]
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

def _allocate(network: Network, n: int) -> dict[str, tuple[int, int]]:
    total = network.size
    if total > n:
        sizes = ", ".join(f"{p.name} ({p.size})" for p in network.populations.values())
        raise CompileError(f"Network {network.name!r} needs {total} neurons ({sizes}), but the "
                           f"target core has {n}.")
    out: dict[str, tuple[int, int]]
    out, start = {}, 0
    for p in network.populations.values():
        out[p.name] = (start, start + p.size)
        start += p.size
    return out


def _choose_scale(theta_max: float, wmax_abs: float, weights: np.ndarray, where: str,
                  report: QuantizationReport) -> tuple[int, int]:
    """Pick ``(k, w_shift)`` for a post population (see the module docstring)."""
    def fits(k: int, s: int) -> bool:
        lsb = weights * (2.0 ** k / theta_max) / 2.0 ** s
        r = np.rint(lsb)
        return r.size == 0 or (r.max() <= F.WEIGHT.max and r.min() >= F.WEIGHT.min)

    def shift_for(k: int) -> int | None:
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


def _finer_current(k: int, s: int, q: dict[str, np.ndarray], dt: float, wmax_abs: float,
                   theta_max: float, where: str, report: QuantizationReport) -> tuple[int, int]:
    """Raise ``k`` and ``w_shift`` together (same weight words, a finer potential and current)
    while the truncation of a slowly decaying synaptic current would dominate its decay
    (:data:`FINE_TRIGGER`), as far as ``K_FINE`` and the population's resets allow."""
    syn = q["tau_syn"] > 0
    if not syn.any() or wmax_abs == 0:
        return k, s
    leak = float((1 - _alpha(q["tau_syn"][syn], dt)).min())

    def decay_lsb(kk: int) -> float:
        return leak * wmax_abs * 2.0 ** kk / theta_max

    if decay_lsb(k) >= FINE_TRIGGER:
        return k, s
    theta = q["v_threshold"] - q["v_rest"]
    span = float(np.max(np.abs(q["v_reset"] - q["v_rest"]) / theta, initial=1.0))
    k0 = k
    while (k < K_FINE and s < F.W_SHIFT.max and decay_lsb(k) < FINE_TARGET
           and 4 * span * 2.0 ** (k + 1) <= F.V.max):
        k, s = k + 1, s + 1
    if k > k0:
        report.warnings.append(
            f"{where}: the synaptic current decays by only {decay_lsb(k0):.3g} LSB a step at "
            f"the threshold scale 2^{k0}, less than the truncation of its decay; the threshold "
            f"is at 2^{k} (w_shift {s}) instead: {2 ** (23 - k)} thresholds of headroom.")
    return k, s


def _has_loop(network: Network) -> bool:
    """True if the projections between LIF populations contain a directed cycle."""
    succ: dict[str, set[str]] = {}
    for pr in network.projections.values():
        succ.setdefault(pr.pre.name, set()).add(pr.post.name)
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in succ.get(node, ()):
            if state.get(nxt) == 1 or (nxt not in state and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(node not in state and visit(node) for node in list(succ))


def compile_network(network: Network, n: int = N_DEFAULT, *, strict: bool = False,
                    tolerance: float = 0.01, steps: int | None = None) -> Program:
    """Lower ``network`` onto a core of ``n`` neurons and return a
    :class:`~plasticore.compiler.Program`.

    ``steps`` overrides how many steps of input are generated (default: the network's
    duration, or its longest input).  With ``strict=True``, any relative error above
    ``tolerance`` in a realised parameter (see :class:`QuantizationReport`) or any nonzero
    weight rounded to zero raises :class:`CompileError` listing the offenders.  Every error
    is raised before anything is built; the function has no side effects.
    """
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
    alloc = _allocate(network, core.n)
    report = QuantizationReport()
    rasters, in_steps = _lower_inputs(network, steps, report)
    _check_overlaps(network)
    report.recurrent = _has_loop(network)
    rule_of_post, tau_plus_of_pre = _learning_rules(network)
    image = _Image(core.n)
    for pop in network.populations.values():
        if not pop.is_input:
            _lower_population(pop, alloc[pop.name], network, rule_of_post.get(pop.name),
                              image, report)
    for proj in network.projections.values():
        _lower_projection(proj, alloc, image, report)
    # The projections of the rules learn, so their stdp is set (``type: ignore``: mypy cannot
    # tell from ``Projection.learning``; the same in _learning_rules and _lower_population).
    for post_name, proj in rule_of_post.items():
        _lower_rule(post_name, proj.stdp, alloc[post_name], network.dt, image, report)  # type: ignore[arg-type]
    for pre_name, proj in tau_plus_of_pre.items():
        _lower_pre_trace(pre_name, proj.stdp, alloc[pre_name], network.dt, image, report)  # type: ignore[arg-type]
    three = any(isinstance(p.stdp, ThreeFactor) for p in rule_of_post.values())
    reward = _lower_rewards(network, in_steps, three, report)
    _lower_reward_neurons(network, alloc, three, image, report)
    if strict:
        _check_strict(report, network.name, tolerance)
    return _program(network, image.config(core), alloc, rasters, in_steps, image, report,
                    learning=bool(rule_of_post), reward=reward)


class _Image:
    """The integer parameter arrays being filled (one value per neuron; every neuron starts
    unused: silent, with an unreachable threshold) and the decoding scales."""

    NEURON = ("threshold", "v_reset", "bias", "alpha_v", "alpha_i", "refractory", "w_shift",
              "reset_mode")
    LEARNING = ("alpha_x", "x_inc", "alpha_y", "y_inc", "a_plus", "a_minus", "w_min", "w_max")
    RULES = tuple(name for name, _ in RULE_PARAMS)

    def __init__(self, n: int) -> None:
        self.neuron = {name: np.zeros(n, np.int64) for name in self.NEURON}
        self.neuron["threshold"][:] = F.THRESHOLD.max
        self.learning = {name: np.zeros(n, np.int64) for name in self.LEARNING}
        self.rules = {name: np.zeros(n, np.int64) for name in self.RULES}
        self.weights = np.zeros((n, n), np.int64)
        self.plastic = np.zeros((n, n), bool)
        self.lsb_per_volt = np.zeros(n)
        self.v_offset = np.zeros(n)
        self.weight_lsb = np.zeros(n)

    def config(self, core: CoreParams) -> CoreConfig:
        cfg = CoreConfig(core)
        for name in self.NEURON:
            cfg.neurons[name] = self.neuron[name]
        for name in self.LEARNING:
            cfg.learning[name] = self.learning[name]
        for name in self.RULES:
            cfg.rules[name] = self.rules[name]
        cfg.weights = self.weights
        cfg.plastic = self.plastic
        return cfg.validate()


def _lower_inputs(network: Network, steps: int | None, report: QuantizationReport
                  ) -> tuple[dict[str, np.ndarray], int]:
    rasters, in_steps, notes, timing = input_rasters(network, steps)
    report.warnings += list(network.notes) + notes
    report.timing_error = timing
    if timing > 0:
        report.warnings.append(f"Input spike times were moved by up to {timing:.3g} s onto the "
                               f"{network.dt} s grid.")
    return rasters, in_steps


def _check_overlaps(network: Network) -> None:
    """Two projections may not share a (pre, post) synapse."""
    pairs: dict[tuple[str, str], list[Projection]] = {}
    for proj in network.projections.values():
        key = (proj.pre.name, proj.post.name)
        for other in pairs.get(key, []):
            if (other.mask & proj.mask).any():
                i, j = np.argwhere(other.mask & proj.mask)[0]
                raise CompileError(f"Projections {other.name!r} and {proj.name!r} both connect "
                                   f"{proj.pre.name}[{i}] to {proj.post.name}[{j}]; the core has "
                                   f"one synapse per pair: merge them into one projection.")
        pairs.setdefault(key, []).append(proj)


def _learning_rules(network: Network
                    ) -> tuple[dict[str, Projection], dict[str, Projection]]:
    """``({post: first learning projection}, {pre: first learning projection})``: one rule
    per post population, one ``tau_plus`` per pre population."""
    rule_of_post: dict[str, Projection]
    tau_plus_of_pre: dict[str, Projection]
    rule_of_post, tau_plus_of_pre = {}, {}
    for proj in network.projections.values():
        if not proj.learning:
            continue
        first = rule_of_post.setdefault(proj.post.name, proj)
        if first.stdp.as_dict() != proj.stdp.as_dict():  # type: ignore[union-attr]
            raise CompileError(
                f"Learning projections {first.name!r} and {proj.name!r} both end in population "
                f"{proj.post.name!r} but have different STDP rules ({first.stdp} vs {proj.stdp}); "
                f"the core keeps one rule per post-synaptic neuron.")
        first = tau_plus_of_pre.setdefault(proj.pre.name, proj)
        if _pre_key(first.stdp) != _pre_key(proj.stdp):  # type: ignore[arg-type]
            raise CompileError(
                f"Learning projections {first.name!r} and {proj.name!r} both start in population "
                f"{proj.pre.name!r} but have different pre-synaptic traces (tau_plus, tau_x: "
                f"{_pre_key(first.stdp)} vs {_pre_key(proj.stdp)}); the core keeps one "  # type: ignore[arg-type]
                f"pre-synaptic trace (and one slow trace) per neuron.")
    return rule_of_post, tau_plus_of_pre


def _pre_key(rule: STDP | ThreeFactor) -> tuple[float, float | None]:
    """What a learning projection needs of its pre neurons' traces."""
    stdp = rule.stdp
    return float(stdp.tau_plus), (float(stdp.tau_x) if stdp.triplet else None)  # type: ignore[attr-defined]


def _lower_population(pop: Population, span: tuple[int, int], network: Network,
                      rule_proj: Projection | None, image: _Image,
                      report: QuantizationReport) -> None:
    """Scale, threshold, reset, bias, time constants and refractory period of a LIF
    population with neurons ``span = (lo, hi)``."""
    lo, hi = span
    sl = slice(lo, hi)
    where = f"Population {pop.name!r}"
    q = pop.params
    theta_max = float((q["v_threshold"] - q["v_rest"]).max())
    ws = [pr.weights[pr.mask] for pr in network.projections.values() if pr.post.name == pop.name]
    if rule_proj is not None:
        ws.append(np.array([rule_proj.stdp.w_min, rule_proj.stdp.w_max]))  # type: ignore[union-attr]
    allw = np.concatenate(ws) if ws else np.zeros(0)
    wmax_abs = float(np.abs(allw).max()) if allw.size else 0.0
    k, s = _choose_scale(theta_max, wmax_abs, allw, where, report)
    k, s = _finer_current(k, s, q, network.dt, wmax_abs, theta_max, where, report)
    scale = 2.0 ** k / theta_max
    wlsb = 2.0 ** s / scale
    report.scales[pop.name] = {"k": k, "lsb_per_volt": scale, "w_shift": s,
                               "weight_lsb": wlsb, "neurons": [lo, hi]}
    image.lsb_per_volt[sl], image.v_offset[sl], image.weight_lsb[sl] = scale, q["v_rest"], wlsb
    image.neuron["w_shift"][sl] = s
    _lower_potential(pop.name, where, q, k, scale, sl, network.dt, image, report,
                     pop.cell.strict, pop.cell.reset)
    _lower_time_constants(pop.name, where, q, sl, network.dt, image, report)
    image.neuron["reset_mode"][sl] = _RESET_MODE[pop.cell.reset].value


#: The core's reset mode of each ``LIF.reset``.
_RESET_MODE = {"value": ResetMode.VALUE, "subtract": ResetMode.SUBTRACT,
               "deferred": ResetMode.DEFERRED}


def _lower_potential(name: str, where: str, q: dict[str, np.ndarray], k: int, scale: float,
                     sl: slice, dt: float, image: _Image, report: QuantizationReport,
                     pop_strict: bool = False, reset: str = "value") -> None:
    """Threshold, reset value and bias, in potential LSBs."""
    theta = q["v_threshold"] - q["v_rest"]
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
    # V > th_raw is V >= th_raw + 1 in integers; the DEFERRED mode compares strictly itself.
    strict = pop_strict and reset != "deferred"
    if strict and not F.THRESHOLD.contains(th_raw + 1):
        raise CompileError(f"{where}: v_threshold + 1 LSB (strict_threshold) is outside the "
                           f"{F.THRESHOLD.width}-bit threshold.")
    image.neuron["threshold"][sl] = th_raw + int(strict)
    image.neuron["v_reset"][sl] = reset_raw
    image.neuron["bias"][sl] = bias_raw
    report.add(name, "v_threshold", "V", q["v_threshold"], q["v_rest"] + th_raw / scale,
               th_raw, rel=np.abs(th_raw / scale - theta) / theta, drive=True)
    report.add(name, "v_reset", "V", q["v_reset"], q["v_rest"] + reset_raw / scale,
               reset_raw, rel=np.abs(reset_raw / scale - reset_req) / theta, drive=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        bias_real = np.where(gain > 0, bias_raw / scale / gain, 0.0)
    # a bias error matters relative to the drive that holds V at threshold
    need = np.where(np.isfinite(q["tau_mem"]), (1 - _alpha(q["tau_mem"], dt)) * theta, 0.0)
    den = np.maximum(np.abs(bias_step), need)
    with np.errstate(divide="ignore", invalid="ignore"):
        brel = np.where(den > 0, np.abs(bias_raw / scale - bias_step) / den, 0.0)
    report.add(name, "bias", "V/s", q["bias"], bias_real, bias_raw, rel=brel, drive=True)


def _lower_time_constants(name: str, where: str, q: dict[str, np.ndarray], sl: slice,
                          dt: float, image: _Image, report: QuantizationReport) -> None:
    """The decay factors of V and I, and the refractory period in steps."""
    for tau_name, field in (("tau_mem", "alpha_v"), ("tau_syn", "alpha_i")):
        tau = q[tau_name]
        a = _alpha(tau, dt)
        raw = _rint(a * F.DECAY_ONE)
        image.neuron[field][sl] = raw
        leak_req, leak_real = 1 - a, 1 - raw / F.DECAY_ONE
        report.add(name, tau_name, "s", tau, _tau_of_alpha(raw, dt), raw, drive=False)
        report.add(name, f"leak of {tau_name} (1 - alpha)", "1", leak_req, leak_real, raw,
                   drive=True)
    steps_ref = _rint(q["tau_refrac"] / dt)
    if not F.REFRACTORY.contains(steps_ref):
        raise CompileError(f"{where}: tau_refrac {q['tau_refrac'].max()} s is "
                           f"{int(steps_ref.max())} steps of {dt} s; at most "
                           f"{F.REFRACTORY.max} steps are possible.")
    image.neuron["refractory"][sl] = steps_ref
    report.add(name, "tau_refrac", "s", q["tau_refrac"], steps_ref * dt, steps_ref)


def _lower_projection(proj: Projection, alloc: dict[str, tuple[int, int]], image: _Image,
                      report: QuantizationReport) -> None:
    """The integer weights of ``proj`` at its post population's scale, and their errors."""
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
    summary: dict[str, Any] = {
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
    image.weights[block] = np.where(proj.mask, raw, image.weights[block])
    if proj.learning:
        image.plastic[block] |= proj.mask


def _lower_rule(post_name: str, wrapped: STDP | ThreeFactor, span: tuple[int, int], dt: float,
                image: _Image, report: QuantizationReport) -> None:
    """The post-synaptic half of an STDP rule: ``tau_minus``, amplitudes and bounds, the
    rounding mode, the triplet half and the eligibility (three-factor)."""
    rule = wrapped.stdp
    lo, hi = span
    sc = report.scales[post_name]
    lsb = 2.0 ** sc["w_shift"] / sc["lsb_per_volt"]
    where = f"STDP into {post_name!r}"
    lp = image.learning
    a_y = _rint(_alpha(rule.tau_minus, dt) * F.DECAY_ONE)
    lp["alpha_y"][lo:hi], lp["y_inc"][lo:hi] = a_y, F.TRACE_ONE
    report.add(where, "tau_minus", "s", rule.tau_minus, _tau_of_alpha(a_y, dt), a_y)
    for name, field in (("A_plus", "a_plus"), ("A_minus", "a_minus")):
        lp[field][lo:hi] = _lower_amplitude(where, name, getattr(rule, name), lsb, report)
    for name in ("w_min", "w_max"):
        value = getattr(rule, name)
        raw = int(_rint(value / lsb))
        lp[name][lo:hi] = raw
        span_w = max(abs(rule.w_max - rule.w_min), lsb)
        report.add(where, name, "w", value, raw * lsb, raw,
                   rel=abs(raw * lsb - value) / span_w)
    stochastic = rule.rounding == "stochastic"
    image.rules["rounding"][lo:hi] = (Rounding.STOCHASTIC.value if stochastic
                                      else Rounding.NEAREST.value)
    report.rules[post_name] = {"kind": type(wrapped).__name__, "rounding": rule.rounding,
                               "triplet": rule.triplet,
                               "target": "eligibility" if wrapped.tau_e is not None
                               else "weight"}
    if rule.triplet:
        _lower_triplet_post(where, rule, lo, hi, lsb, dt, image, report)
    if wrapped.tau_e is not None:
        a_e = _rint(_alpha(wrapped.tau_e, dt) * F.DECAY_ONE)
        image.rules["alpha_e"][lo:hi] = a_e
        image.rules["target"][lo:hi] = Target.ELIGIBILITY.value
        report.add(where, "tau_e", "s", wrapped.tau_e, _tau_of_alpha(a_e, dt), a_e)
        report.rules[post_name]["eligibility_lsb"] = lsb / (1 << F.ELIG_FRAC)
        report.rules[post_name]["eligibility_range"] = [F.ELIGIBILITY.min * lsb / 4,
                                                        F.ELIGIBILITY.max * lsb / 4]


def _lower_triplet_post(where: str, rule: STDP, lo: int, hi: int, lsb: float, dt: float,
                        image: _Image, report: QuantizationReport) -> None:
    """The post neuron's slow trace ``y2`` and the triplet amplitudes."""
    tp = image.rules
    a_y2 = _rint(_alpha(rule.tau_y, dt) * F.DECAY_ONE)  # type: ignore[attr-defined]
    tp["alpha_y2"][lo:hi], tp["y2_inc"][lo:hi] = a_y2, F.TRACE_ONE
    report.add(where, "tau_y", "s", rule.tau_y, _tau_of_alpha(a_y2, dt), a_y2)  # type: ignore[attr-defined]
    for name, field in (("A3_plus", "a3_plus"), ("A3_minus", "a3_minus")):
        tp[field][lo:hi] = _lower_amplitude(where, name, getattr(rule, name), lsb, report)


def _lower_amplitude(where: str, name: str, value: float, lsb: float,
                     report: QuantizationReport) -> int:
    raw = int(_rint(value / lsb * (1 << F.AMP_FRAC)))
    if not F.AMPLITUDE.contains(raw):
        raise CompileError(
            f"{where}: {name} = {value} is {value / lsb:.6g} weight LSBs of "
            f"{lsb:.4g}; the core's amplitude holds at most "
            f"{F.AMPLITUDE.max / (1 << F.AMP_FRAC)} LSBs.")
    if value > 0 and raw == 0:
        report.warnings.append(f"{where}: {name} = {value} is below 1/32 of a weight "
                               f"LSB ({lsb:.4g}) and was rounded to zero.")
    report.add(where, name, "w", value, raw / (1 << F.AMP_FRAC) * lsb, raw)
    if 0 < value < lsb / 2:
        report.warnings.append(
            f"{where}: {name} = {value} is less than half a weight LSB ({lsb:.4g}): "
            f"single updates round to 0 or 1 LSB, learning is coarse.")
    return raw


def _lower_pre_trace(pre_name: str, wrapped: STDP | ThreeFactor, span: tuple[int, int],
                     dt: float, image: _Image, report: QuantizationReport) -> None:
    """The pre-synaptic trace (and slow trace, triplet) of a population that feeds learning
    projections."""
    rule = wrapped.stdp
    lo, hi = span
    a_x = _rint(_alpha(rule.tau_plus, dt) * F.DECAY_ONE)
    image.learning["alpha_x"][lo:hi], image.learning["x_inc"][lo:hi] = a_x, F.TRACE_ONE
    report.add(f"STDP from {pre_name!r}", "tau_plus", "s", rule.tau_plus,
               _tau_of_alpha(a_x, dt), a_x)
    if rule.triplet:
        a_x2 = _rint(_alpha(rule.tau_x, dt) * F.DECAY_ONE)  # type: ignore[attr-defined]
        image.rules["alpha_x2"][lo:hi], image.rules["x2_inc"][lo:hi] = a_x2, F.TRACE_ONE
        report.add(f"STDP from {pre_name!r}", "tau_x", "s", rule.tau_x,  # type: ignore[attr-defined]
                   _tau_of_alpha(a_x2, dt), a_x2)


def _lower_rewards(network: Network, steps: int, three: bool,
                   report: QuantizationReport) -> np.ndarray | None:
    """The raw MODULATOR of every input step (None without three-factor rules): rewards
    rounded to 1/16, summed per step; every step is modulated (0 where no reward)."""
    times, values = network.rewards
    if not three:
        if times.size:
            raise CompileError(f"Network {network.name!r} has a reward schedule but no "
                               f"ThreeFactor rule that could use it.")
        return None
    idx = np.floor(times / network.dt + 1e-9).astype(np.int64)
    if idx.size and idx.max() >= steps:
        raise CompileError(f"Reward at {times[idx.argmax()]} s is after the end of the input "
                           f"({steps} steps of {network.dt} s).")
    per_step = np.zeros(steps)
    np.add.at(per_step, idx, values)
    raw = _rint(per_step * (1 << F.MOD_FRAC))
    if not F.MODULATOR.contains(raw):
        k = int(np.argmax((raw < F.MODULATOR.min) | (raw > F.MODULATOR.max)))
        raise CompileError(f"Reward {per_step[k]} in step {k} is outside the modulator's "
                           f"range [{F.MODULATOR.min / 16}, {F.MODULATOR.max / 16}].")
    given = per_step != 0
    if given.any():
        report.add("reward", "reward", "1", per_step[given], raw[given] / (1 << F.MOD_FRAC),
                   raw[given])
    return raw


def _lower_reward_neurons(network: Network, alloc: dict[str, tuple[int, int]], three: bool,
                          image: _Image, report: QuantizationReport) -> None:
    """The ``mod_weight`` of the modulator populations (:meth:`Network.reward_from`): each
    weight rounded to 1/16 as a MODULATOR."""
    if network.reward_neurons and not three:
        raise CompileError(f"Network {network.name!r} has modulator populations "
                           f"({', '.join(network.reward_neurons)}) but no ThreeFactor rule "
                           f"that could use their reward.")
    for name, weight in network.reward_neurons.items():
        raw = _rint(weight * (1 << F.MOD_FRAC))
        if not F.MODULATOR.contains(raw):
            k = int(np.argmax((raw < F.MODULATOR.min) | (raw > F.MODULATOR.max)))
            raise CompileError(f"Reward weight {weight[k]} of {name!r} neuron {k} is outside "
                               f"the modulator's range [{F.MODULATOR.min / 16}, "
                               f"{F.MODULATOR.max / 16}].")
        lo, hi = alloc[name]
        image.rules["mod_weight"][lo:hi] = raw
        report.add(f"reward from {name!r}", "reward weight", "1", weight,
                   raw / (1 << F.MOD_FRAC), raw)
        if (weight != 0).any() and not raw[weight != 0].all():
            report.warnings.append(f"reward from {name!r}: a reward weight below 1/32 is "
                                   f"rounded to 0 (that neuron modulates nothing).")
    mw = image.rules["mod_weight"]
    up, down = mw[mw > 0].sum() / 16, mw[mw < 0].sum() / 16
    if up > F.MODULATOR.max / 16 or down < F.MODULATOR.min / 16:
        report.warnings.append(
            f"modulator populations firing together add {down:g} .. {up:g} to a step's "
            f"reward, which saturates at [{F.MODULATOR.min / 16}, {F.MODULATOR.max / 16}].")


def _check_strict(report: QuantizationReport, name: str, tolerance: float) -> None:
    bad = [e for e in report.entries if e["rel_error"] > tolerance]
    bad += [{"where": proj, "parameter": "weights (drive)", "rel_error": w["drive_error"]}
            for proj, w in report.weights.items() if w["drive_error"] > tolerance]
    zeros = {proj: w["rounded_to_zero"] for proj, w in report.weights.items()
             if w["rounded_to_zero"]}
    if bad or zeros:
        parts = [f"{e['where']}.{e['parameter']} (rel. error {e['rel_error']:.3g})"
                 for e in sorted(bad, key=lambda e: -e["rel_error"])[:8]]
        parts += [f"{proj}: {c} weights rounded to zero" for proj, c in zeros.items()]
        raise CompileError(f"Strict mode: the mapping of network {name!r} is lossier "
                           f"than the tolerance {tolerance:g}: " + "; ".join(parts) + ".")


def _program(network: Network, cfg: CoreConfig, alloc: dict[str, tuple[int, int]],
             rasters: dict[str, np.ndarray], in_steps: int, image: _Image,
             report: QuantizationReport, learning: bool,
             reward: np.ndarray | None = None) -> Program:
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
    return Program(config=cfg, dt=network.dt, populations=populations,
                   projections=projections, record=record, input_index=in_index,
                   input_raster=raster, lsb_per_volt=image.lsb_per_volt,
                   v_offset=image.v_offset, weight_lsb=image.weight_lsb, report=report,
                   learning=learning, name=network.name, reward=reward)

#!/usr/bin/env python
"""Speed of the plasticore reference model against Brian2 on the same network.

A benchmark script, not a test: it prints figures.  Both simulators run, in one process, the
network of :func:`plasticore.sim.workload.activity_config` (N neurons, all-to-all weights,
pair STDP on every synapse, about 5 % of the neurons spiking per step):

* the bit-exact integer reference, :class:`plasticore.sim.Reference` (``sim/reference.py``);
* the compiled integer kernel :class:`plasticore.sim.fast.FastReference`, if numba is
  installed (same integers, checked against the reference here before it is timed);
* Brian2 with the ``numpy`` code-generation target, running the same equations in floating
  point, with the same parameters converted to floats and the same dt (one step = 1 ms), in
  two formulations of the same STDP rule (``--brian2`` chooses; both by default):

  - ``brian2_synapse``: the STDP traces are SYNAPTIC variables, as in Brian2's documented STDP
    examples (``examples/synapses/STDP.py``, the "Synapses" user guide): in the ``Synapses``
    model ``dapre/dt = -apre/taux_pre : 1 (event-driven)`` and ``dapost/dt =
    -apost/tauy_post : 1 (event-driven)``, ``on_pre`` bumps ``apre`` and depresses ``w`` by
    ``a_minus * apost``, ``on_post`` bumps ``apost`` and potentiates ``w`` by ``a_plus * apre``.
    This is the formulation of the Brian2 figures quoted in the project's target.
  - ``brian2_neuron``: the traces are NEURON variables ``x``, ``y`` (one per neuron), which the
    synapses read as ``x_pre`` / ``y_post``: the reference's own formulation.

How the Brian2 models map to the reference's equations (``sim/reference.py``).  Neurons: with
``method='euler'`` and ``dt == tstep``, ``dv/dt = (I + bias - (1 - alpha_v) v) / tstep`` is
exactly ``v <- alpha_v v + I + bias`` per step, i.e. the reference's exponential decay per
step (not the exact solution of the ODE, which would scale the input by ``1 - alpha_v``).
Brian2 updates all state variables from their old values, and its ``on_pre`` (transmission)
runs after the state update, so Brian2's ``I`` after a step already holds the next step's
input: the recursion is the reference's one-step synaptic delay.  The refractory period is
``(refractory + 1) * dt`` (Brian2 counts the spike step).  ``on_pre`` runs before
``on_post`` in a step (Brian2's default pathway order), as in the reference: a pre and a
post spike in the same step potentiate and do not depress.  STDP updates are ``amplitude *
trace`` without rounding; weights are clipped to the post neuron's bounds; traces saturate
at the reference's TRACE maximum (16.0) when bumped.

* Per-neuron traces (``brian2_neuron``): ``dx/dt = -(1 - alpha_x) x / tstep``, Euler, is
  ``x <- alpha_x x`` per step, the reference's decay.  ``x`` is bumped just before the
  threshold, by an event with the spike condition (so, before the synapses, potentiation
  sees this step's pre spikes), ``y`` in the reset (after the synapses, so depression does
  not see this step's post spikes).
* Per-synapse traces (``brian2_synapse``): ``apre`` of synapse (j, i) is the reference's
  ``x_j`` and ``apost`` its ``y_i``.  They are ``event-driven``: Brian2 integrates them
  exactly, and only when the synapse has an event, as ``apre <- apre * exp(-(t -
  lastupdate) / taux_pre)``; with ``taux = -tstep / ln(alpha_x)`` that is ``alpha_x ** k``
  after k steps, the same decay as ``x`` (up to float rounding).  Every synapse out of j
  sees all of j's spikes (and only those bump ``apre``), so ``apre[j, i] == x_j`` at every
  event, likewise ``apost[j, i] == y_i``.  ``on_pre`` bumps ``apre`` before it reads
  ``apost`` (not yet bumped by this step's post spikes: the reference's ``y'``); ``on_post``
  runs after it, so potentiation reads ``apre`` with this step's pre spikes, as ``x``.

Why the per-neuron formulation is faster: its traces cost O(N) per step (N decays, one
bump per spike), whereas per-synapse traces cost O(k N) per step for k spikes: every pre
spike updates the N synapses out of the neuron, and every post spike the N synapses into
it, each update being an ``exp`` for each of the two traces, a write of both traces and of
``lastupdate``, besides the weight update which both formulations do.  Brian2 gets the
whole run in one ``Network.run`` call; plasticore is stepped from Python by
``Reference.run``.

Run::

    python benchmarks/reference_vs_brian2.py                  # N=256, 10,000 steps
    python benchmarks/reference_vs_brian2.py --repeat 3 --json
    python benchmarks/reference_vs_brian2.py --brian2 synapse   # one Brian2 formulation only

Timed are the simulation loops only (model construction and Brian2's code generation are
reported separately as "setup").  The spike activity is measured on every simulator: the
speeds compare like with like only if the activities agree (the cost grows with the spikes).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from plasticore import fixed as F
from plasticore.core import ResetMode
from plasticore.sim import Reference
from plasticore.sim.workload import activity_config

try:
    from plasticore.sim.fast import FastReference
except ImportError:                         # numba absent
    FastReference = None


class Progress:
    """Progress lines on stderr, at most one every ``period`` seconds, only for long runs."""

    def __init__(self, label, period=2.0, enabled=True):
        self.label, self.period, self.enabled = label, period, enabled
        self.start = time.perf_counter()
        self.next = self.start + period

    def __call__(self, done, total):
        if not self.enabled:
            return
        now = time.perf_counter()
        if now >= self.next or (done == total and now - self.start >= self.period):
            self.next = now + self.period
            rate = done / max(now - self.start, 1e-9)
            print(f"  [{self.label}] {done}/{total} steps, {now - self.start:.1f} s, "
                  f"{rate:,.0f} steps/s", file=sys.stderr, flush=True)


def activity_summary(per_step):
    """Mean fraction of neurons spiking per step, overall and per quarter of the run."""
    per_step = np.asarray(per_step, dtype=float)
    quarters = [float(q.mean()) if q.size else float("nan")
                for q in np.array_split(per_step, 4)]
    return {"mean": float(per_step.mean()), "quarters": quarters}


# -- plasticore -------------------------------------------------------------------------------

def run_plasticore(cfg, steps, cls=Reference, progress=True):
    label = cls.__name__
    t0 = time.perf_counter()
    model = cls(cfg, learning=True)
    t1 = time.perf_counter()
    rec = model.run(steps, progress=Progress(label, enabled=progress))
    t2 = time.perf_counter()
    return {"setup_s": t1 - t0, "run_s": t2 - t1, "steps_per_s": steps / (t2 - t1),
            "activity": activity_summary(rec.spikes.mean(axis=1)),
            "weights_mean": float(model.weights.mean())}


# -- Brian2 -----------------------------------------------------------------------------------

#: The Brian2 formulations: name in the results -> (``--brian2`` choice, description).
BRIAN2_VARIANTS = {
    "brian2_synapse": ("synapse", "per-synapse traces, as in Brian2's STDP example"),
    "brian2_neuron": ("neuron", "per-neuron traces"),
}


def _tau(alpha, dt):
    """The time constant whose exact exponential decay per step ``dt`` is ``alpha`` (the
    reference's retention factor): ``exp(-dt / tau) == alpha``.  alpha = 1 (no decay) gives
    an infinite tau, alpha = 0 a vanishing one."""
    alpha = np.asarray(alpha, dtype=float)
    with np.errstate(divide="ignore"):
        rate = -np.log(np.clip(alpha, 1e-300, 1.0))        # per step, in [0, 690]
    return dt / np.clip(rate, 1e-300, None)


def brian2_network(cfg, traces="synapse", learning=True):
    """The network of ``cfg`` as a Brian2 ``Network`` of floats.  ``traces``: ``"synapse"``
    (event-driven synaptic traces ``apre``/``apost``, Brian2's idiomatic STDP) or
    ``"neuron"`` (traces ``x``/``y`` of the NeuronGroup).  Returns (net, group, synapses,
    rate monitor)."""
    import brian2 as b2

    if traces not in ("synapse", "neuron"):
        raise ValueError(f"traces must be 'synapse' or 'neuron', not {traces!r}")
    if not cfg.plastic.all():
        raise ValueError("the Brian2 model has STDP on every synapse; cfg.plastic must be all set")
    p, lp = cfg.neurons, cfg.learning
    ms = b2.ms
    dt = 1 * ms                                   # one reference step
    trace_max = F.TRACE.max / F.TRACE_ONE
    namespace = {"tstep": dt, "trace_max": trace_max}
    per_neuron = learning and traces == "neuron"

    eqs = """
    dv/dt = (I + bias - (1 - alpha_v) * v) / tstep : 1 (unless refractory)
    dI/dt = -(1 - alpha_i) * I / tstep : 1
    threshold : 1 (constant)
    v_reset : 1 (constant)
    bias : 1 (constant)
    subtract : 1 (constant)
    tref : second (constant)
    wscale : 1 (constant)
    alpha_v : 1 (constant)
    alpha_i : 1 (constant)
    alpha_x : 1 (constant)
    alpha_y : 1 (constant)
    taux : second (constant)
    tauy : second (constant)
    x_inc : 1 (constant)
    y_inc : 1 (constant)
    a_plus : 1 (constant)
    a_minus : 1 (constant)
    w_min : 1 (constant)
    w_max : 1 (constant)
    """
    if per_neuron:
        eqs += """
    dx/dt = -(1 - alpha_x) * x / tstep : 1
    dy/dt = -(1 - alpha_y) * y / tstep : 1
    """
    reset = "v = subtract * (v - threshold) + (1 - subtract) * v_reset"
    if per_neuron:
        reset += "\ny = clip(y + y_inc, 0, trace_max)"
    # A NeuronGroup runs one piece of code per event, so the pre-trace bump has its own
    # event with the spike condition, checked (and acted on) just before the threshold.
    events = {"pre_trace": "v >= threshold and not_refractory"} if per_neuron else {}
    G = b2.NeuronGroup(cfg.n, eqs, threshold="v >= threshold", reset=reset,
                       refractory="tref", method="euler", events=events, dt=dt,
                       namespace=namespace)
    G.threshold = p["threshold"].astype(float)
    G.v_reset = p["v_reset"].astype(float)
    G.bias = p["bias"].astype(float)
    G.subtract = (p["reset_mode"] == ResetMode.SUBTRACT.value).astype(float)
    G.tref = (p["refractory"] + 1) * dt            # Brian2 counts the spike step itself
    G.wscale = (2.0 ** p["w_shift"])
    G.alpha_v = p["alpha_v"] / F.DECAY_ONE
    G.alpha_i = p["alpha_i"] / F.DECAY_ONE
    G.alpha_x = lp["alpha_x"] / F.DECAY_ONE
    G.alpha_y = lp["alpha_y"] / F.DECAY_ONE
    G.taux = _tau(lp["alpha_x"] / F.DECAY_ONE, dt)   # exp(-dt / taux) == alpha_x
    G.tauy = _tau(lp["alpha_y"] / F.DECAY_ONE, dt)
    G.x_inc = lp["x_inc"] / F.TRACE_ONE
    G.y_inc = lp["y_inc"] / F.TRACE_ONE
    G.a_plus = lp["a_plus"] / (1 << F.AMP_FRAC)     # weight LSBs per unit trace
    G.a_minus = lp["a_minus"] / (1 << F.AMP_FRAC)
    G.w_min = lp["w_min"].astype(float)
    G.w_max = lp["w_max"].astype(float)
    if per_neuron:
        # pre trace: bumped in this step, before the synapses run
        G.set_event_schedule("pre_trace", when="before_thresholds", order=G.order)
        G.run_on_event("pre_trace", "x = clip(x + x_inc, 0, trace_max)",
                       when="before_thresholds", order=G.order + 1)

    model = "w : 1"
    on_pre = "I_post += w * wscale_post"
    on_post = None
    if learning and traces == "neuron":
        on_pre += "\nw = clip(w - a_minus_post * y_post, w_min_post, w_max_post)"
        on_post = "w = clip(w + a_plus_post * x_pre, w_min_post, w_max_post)"
    elif learning:
        # Brian2's STDP example, with the reference's amplitudes, bounds and saturation
        model += """
        dapre/dt = -apre / taux_pre : 1 (event-driven)
        dapost/dt = -apost / tauy_post : 1 (event-driven)
        """
        on_pre += ("\napre = clip(apre + x_inc_pre, 0, trace_max)"
                   "\nw = clip(w - a_minus_post * apost, w_min_post, w_max_post)")
        on_post = ("apost = clip(apost + y_inc_post, 0, trace_max)"
                   "\nw = clip(w + a_plus_post * apre, w_min_post, w_max_post)")
    S = b2.Synapses(G, G, model, on_pre=on_pre, on_post=on_post, dt=dt,
                    namespace=namespace)
    S.connect()                                      # all to all, self-synapses included
    S.w = cfg.weights[S.i[:], S.j[:]].astype(float)
    rate = b2.PopulationRateMonitor(G)
    net = b2.Network(G, S, rate)
    return net, G, S, rate


def run_brian2(cfg, steps, traces="synapse", progress=True):
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    t0 = time.perf_counter()
    net, G, S, rate = brian2_network(cfg, traces=traces)
    t1 = time.perf_counter()
    prog = Progress(f"brian2 {traces}", enabled=progress)
    net.run(steps * b2.ms, report=lambda elapsed, done, start, duration:
            prog(int(round(done * steps)), steps), report_period=prog.period * b2.second)
    t2 = time.perf_counter()
    loop_s = b2.device._last_run_time             # the time-step loop, without code generation
    per_step = np.asarray(rate.rate / b2.Hz) * 1e-3   # spikes per neuron per 1 ms step
    return {"setup_s": t1 - t0, "codegen_s": (t2 - t1) - loop_s, "run_s": loop_s,
            "steps_per_s": steps / loop_s, "activity": activity_summary(per_step),
            "weights_mean": float(np.mean(S.w[:]))}


# -- main -------------------------------------------------------------------------------------

def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=1, help="take the best of this many runs")
    ap.add_argument("--seed", type=int, default=0, help="seed of activity_config")
    ap.add_argument("--no-brian2", action="store_true", help="time only plasticore")
    ap.add_argument("--brian2", choices=("both", "synapse", "neuron"), default="both",
                    help="which Brian2 formulation(s) to run: STDP traces per synapse "
                         "(Brian2's STDP example), per neuron, or both (default)")
    ap.add_argument("--no-fast", action="store_true", help="skip the compiled kernel")
    ap.add_argument("--json", action="store_true",
                    help="print a machine-readable summary as the last line")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeat < 1:
        ap.error("--steps and --repeat must be >= 1")
    return args


def _simulators(args):
    """(every simulator to time, the Brian2 ones among them, library versions)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    sims = ["reference"]
    if FastReference is not None and not args.no_fast:
        import numba
        versions["numba"] = numba.__version__
        sims.append("fast")
    brian2_sims = []
    if not args.no_brian2:
        import brian2
        versions["brian2"] = brian2.__version__
        brian2_sims = [name for name, (choice, _) in BRIAN2_VARIANTS.items()
                       if args.brian2 in (choice, "both")]
        sims += brian2_sims
    return sims, brian2_sims, versions


def _check_fast(cfg, steps):
    """The compiled kernel must agree with the reference before its speed means anything."""
    check = min(steps, 500)
    a, b = Reference(cfg, learning=True), FastReference(cfg, learning=True)
    for k in range(check):
        if not np.array_equal(a.step(), b.step()) or a.snapshot() != b.snapshot():
            sys.exit(f"FastReference differs from Reference at step {k}: "
                     f"{a.snapshot().diff(b.snapshot())[:3]}")
    print(f"fast: bit-identical to the reference for the first {check} steps (checked)")


def _time_best(cfg, args, sims, brian2_sims):
    """The fastest of ``args.repeat`` runs of each simulator, runs interleaved so that
    machine load hits all alike."""
    runners = {"reference": lambda: run_plasticore(cfg, args.steps, Reference),
               "fast": lambda: run_plasticore(cfg, args.steps, FastReference)}
    for name in brian2_sims:
        runners[name] = (lambda traces: lambda: run_brian2(cfg, args.steps, traces))(
            BRIAN2_VARIANTS[name][0])
    best = {}
    for r in range(args.repeat):
        for name in sims:
            print(f"run {r + 1}/{args.repeat}: {name} ...", file=sys.stderr, flush=True)
            res = runners[name]()
            if name not in best or res["run_s"] < best[name]["run_s"]:
                best[name] = res
    return best


def _print_table(best, sims):
    print()
    print(f"{'simulator':<16}{'steps/s':>12}{'s/run':>9}{'setup s':>9}{'mean w':>9}   "
          f"mean fraction spiking per step (per quarter)")
    for name in sims:
        res = best[name]
        act = res["activity"]
        setup = res["setup_s"] + res.get("codegen_s", 0.0)
        print(f"{name:<16}{res['steps_per_s']:>12,.0f}{res['run_s']:>9.2f}{setup:>9.2f}"
              f"{res['weights_mean']:>9.2f}   "
              f"{act['mean']:.4f} (" + ", ".join(f"{q:.4f}" for q in act["quarters"]) + ")")


def _speedups(best, sims, brian2_sims, summary):
    """Print and record the ratios of steps/s over each Brian2 variant."""
    ours = [k for k in sims if k not in brian2_sims]
    # speedup_vs_brian2[variant][simulator]: steps/s of the simulator / steps/s of variant
    summary["speedup_vs_brian2"] = {
        b: {k: best[k]["steps_per_s"] / best[b]["steps_per_s"] for k in ours}
        for b in brian2_sims}
    print()
    print("speed-up (ratio of steps/s) over Brian2's numpy target:")
    for b in brian2_sims:
        for k in ours:
            print(f"  {k:<9} over {b:<14} ({BRIAN2_VARIANTS[b][1]}): "
                  f"{summary['speedup_vs_brian2'][b][k]:6.2f}x")
    if len(brian2_sims) == 2:
        ratio = best["brian2_neuron"]["steps_per_s"] / best["brian2_synapse"]["steps_per_s"]
        summary["brian2_neuron_over_synapse"] = ratio
        print(f"  brian2_neuron over brian2_synapse (Brian2 alone, the trace "
              f"optimisation): {ratio:.2f}x")


def main(argv=None):
    args = _parse_args(argv)
    sims, brian2_sims, versions = _simulators(args)
    print(f"plasticore reference vs Brian2: N={args.neurons}, {args.steps} steps, STDP on all "
          f"synapses, activity_config(seed={args.seed}), best of {args.repeat}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())
          + f"; {platform.machine()}, {platform.system()}")
    if brian2_sims:
        print("brian2: prefs.codegen.target = 'numpy', float64, dt = 1 ms = 1 step")
        for name in brian2_sims:
            print(f"  {name}: {BRIAN2_VARIANTS[name][1]}")

    cfg = activity_config(args.neurons, seed=args.seed)
    if "fast" in sims:
        _check_fast(cfg, args.steps)
    best = _time_best(cfg, args, sims, brian2_sims)
    _print_table(best, sims)
    summary = {"neurons": args.neurons, "steps": args.steps, "repeat": args.repeat,
               "seed": args.seed, "versions": versions, "brian2_variants": brian2_sims,
               "steps_per_s": {k: best[k]["steps_per_s"] for k in sims},
               "run_s": {k: best[k]["run_s"] for k in sims},
               "activity": {k: best[k]["activity"]["mean"] for k in sims},
               "activity_quarters": {k: best[k]["activity"]["quarters"] for k in sims},
               "weights_mean": {k: best[k]["weights_mean"] for k in sims}}
    if brian2_sims:
        _speedups(best, sims, brian2_sims, summary)
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()

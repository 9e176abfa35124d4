#!/usr/bin/env python
"""Speed of the plasticore reference model against Brian2 on the same network.

A benchmark script, not a test: it prints figures.  Both simulators run, in one process, the
network of :func:`plasticore.sim.stimulus.activity_config` (N neurons, all-to-all weights,
pair STDP on every synapse, about 5 % of the neurons spiking per step):

* the bit-exact integer reference, :class:`plasticore.sim.Reference` (``sim/reference.py``);
* the compiled integer kernel :class:`plasticore.sim.fast.FastReference`, if numba is
  installed (same integers, checked against the reference here before it is timed);
* Brian2 with the ``numpy`` code-generation target, running the same equations in floating
  point, with the same parameters converted to floats and the same dt (one step = 1 ms).

The Brian2 model is the reference's difference equations written as Brian2 equations.  With
``method='euler'`` and ``dt == tstep``, ``dv/dt = (I + bias - (1 - alpha_v) v) / tstep`` is
exactly ``v <- alpha_v v + I + bias`` per step, i.e. the reference's exponential decay per
step (not the exact solution of the ODE, which would scale the input by ``1 - alpha_v``).
Brian2 updates all state variables from their old values, and its ``on_pre`` (transmission)
runs after the state update, so Brian2's ``I`` after a step already holds the next step's
input: the recursion is the reference's one-step synaptic delay.  The refractory period is
``(refractory + 1) * dt`` (Brian2 counts the spike step).  Traces are per neuron: ``x`` is
bumped just before the threshold, by an event with the spike condition (so, before the
synapses, potentiation sees this step's pre spikes), ``y`` in the reset (after the synapses,
so depression does not see this step's post spikes); ``on_pre`` runs before ``on_post``, as
in the reference.  STDP updates are ``amplitude * trace`` without rounding; weights are
clipped to the post neuron's bounds.  Brian2 gets the whole run in one ``Network.run`` call;
plasticore is stepped from Python by ``Reference.run``.

Run::

    python benchmarks/reference_vs_brian2.py                  # N=256, 10,000 steps
    python benchmarks/reference_vs_brian2.py --repeat 3 --json

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
from plasticore.sim.stimulus import activity_config

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

def brian2_network(cfg, learning=True):
    """The network of ``cfg`` as a Brian2 ``Network`` of floats.  Returns (net, group, rate)."""
    import brian2 as b2

    if not cfg.plastic.all():
        raise ValueError("the Brian2 model has STDP on every synapse; cfg.plastic must be all set")
    p, lp = cfg.neurons, cfg.learning
    ms = b2.ms
    dt = 1 * ms                                   # one reference step
    trace_max = F.TRACE.max / F.TRACE_ONE
    namespace = {"tstep": dt, "trace_max": trace_max}

    eqs = """
    dv/dt = (I + bias - (1 - alpha_v) * v) / tstep : 1 (unless refractory)
    dI/dt = -(1 - alpha_i) * I / tstep : 1
    dx/dt = -(1 - alpha_x) * x / tstep : 1
    dy/dt = -(1 - alpha_y) * y / tstep : 1
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
    x_inc : 1 (constant)
    y_inc : 1 (constant)
    a_plus : 1 (constant)
    a_minus : 1 (constant)
    w_min : 1 (constant)
    w_max : 1 (constant)
    """
    reset = "v = subtract * (v - threshold) + (1 - subtract) * v_reset"
    if learning:
        reset += "\ny = clip(y + y_inc, 0, trace_max)"
    # A NeuronGroup runs one piece of code per event, so the pre-trace bump has its own
    # event with the spike condition, checked (and acted on) just before the threshold.
    events = {"pre_trace": "v >= threshold and not_refractory"} if learning else {}
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
    G.x_inc = lp["x_inc"] / F.TRACE_ONE
    G.y_inc = lp["y_inc"] / F.TRACE_ONE
    G.a_plus = lp["a_plus"] / (1 << F.AMP_FRAC)     # weight LSBs per unit trace
    G.a_minus = lp["a_minus"] / (1 << F.AMP_FRAC)
    G.w_min = lp["w_min"].astype(float)
    G.w_max = lp["w_max"].astype(float)
    if learning:
        # pre trace: bumped in this step, before the synapses run
        G.set_event_schedule("pre_trace", when="before_thresholds", order=G.order)
        G.run_on_event("pre_trace", "x = clip(x + x_inc, 0, trace_max)",
                       when="before_thresholds", order=G.order + 1)

    on_pre = "I_post += w * wscale_post"
    on_post = None
    if learning:
        on_pre += "\nw = clip(w - a_minus_post * y_post, w_min_post, w_max_post)"
        on_post = "w = clip(w + a_plus_post * x_pre, w_min_post, w_max_post)"
    S = b2.Synapses(G, G, "w : 1", on_pre=on_pre, on_post=on_post, dt=dt,
                    namespace=namespace)
    S.connect()                                      # all to all, self-synapses included
    S.w = cfg.weights[S.i[:], S.j[:]].astype(float)
    rate = b2.PopulationRateMonitor(G)
    net = b2.Network(G, S, rate)
    return net, G, S, rate


def run_brian2(cfg, steps, progress=True):
    import brian2 as b2

    b2.prefs.codegen.target = "numpy"
    t0 = time.perf_counter()
    net, G, S, rate = brian2_network(cfg)
    t1 = time.perf_counter()
    prog = Progress("brian2", enabled=progress)
    net.run(steps * b2.ms, report=lambda elapsed, done, start, duration:
            prog(int(round(done * steps)), steps), report_period=prog.period * b2.second)
    t2 = time.perf_counter()
    loop_s = b2.device._last_run_time             # the time-step loop, without code generation
    per_step = np.asarray(rate.rate / b2.Hz) * 1e-3   # spikes per neuron per 1 ms step
    return {"setup_s": t1 - t0, "codegen_s": (t2 - t1) - loop_s, "run_s": loop_s,
            "steps_per_s": steps / loop_s, "activity": activity_summary(per_step),
            "weights_mean": float(np.mean(S.w[:]))}


# -- main -------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=1, help="take the best of this many runs")
    ap.add_argument("--seed", type=int, default=0, help="seed of activity_config")
    ap.add_argument("--no-brian2", action="store_true", help="time only plasticore")
    ap.add_argument("--no-fast", action="store_true", help="skip the compiled kernel")
    ap.add_argument("--json", action="store_true",
                    help="print a machine-readable summary as the last line")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeat < 1:
        ap.error("--steps and --repeat must be >= 1")

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    sims = ["reference"]
    if FastReference is not None and not args.no_fast:
        import numba
        versions["numba"] = numba.__version__
        sims.append("fast")
    if not args.no_brian2:
        import brian2
        versions["brian2"] = brian2.__version__
        sims.append("brian2")
    print(f"plasticore reference vs Brian2: N={args.neurons}, {args.steps} steps, STDP on all "
          f"synapses, activity_config(seed={args.seed}), best of {args.repeat}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())
          + f"; {platform.machine()}, {platform.system()}")
    if "brian2" in sims:
        print("brian2: prefs.codegen.target = 'numpy', float64, dt = 1 ms = 1 step")

    cfg = activity_config(args.neurons, seed=args.seed)
    if "fast" in sims:
        # the compiled kernel must agree with the reference before its speed means anything
        check = min(args.steps, 500)
        a, b = Reference(cfg, learning=True), FastReference(cfg, learning=True)
        for k in range(check):
            if not np.array_equal(a.step(), b.step()) or a.snapshot() != b.snapshot():
                sys.exit(f"FastReference differs from Reference at step {k}: "
                         f"{a.snapshot().diff(b.snapshot())[:3]}")
        print(f"fast: bit-identical to the reference for the first {check} steps (checked)")

    runners = {"reference": lambda: run_plasticore(cfg, args.steps, Reference),
               "fast": lambda: run_plasticore(cfg, args.steps, FastReference),
               "brian2": lambda: run_brian2(cfg, args.steps)}
    best = {}
    for r in range(args.repeat):
        for name in sims:                   # interleaved, so that machine load hits all
            print(f"run {r + 1}/{args.repeat}: {name} ...", file=sys.stderr, flush=True)
            res = runners[name]()
            if name not in best or res["run_s"] < best[name]["run_s"]:
                best[name] = res

    print()
    print(f"{'simulator':<12}{'steps/s':>12}{'s/run':>9}{'setup s':>9}   "
          f"mean fraction spiking per step (per quarter)")
    for name in sims:
        res = best[name]
        act = res["activity"]
        setup = res["setup_s"] + res.get("codegen_s", 0.0)
        print(f"{name:<12}{res['steps_per_s']:>12,.0f}{res['run_s']:>9.2f}{setup:>9.2f}   "
              f"{act['mean']:.4f} (" + ", ".join(f"{q:.4f}" for q in act["quarters"]) + ")")
    summary = {"neurons": args.neurons, "steps": args.steps, "repeat": args.repeat,
               "seed": args.seed, "versions": versions,
               "steps_per_s": {k: best[k]["steps_per_s"] for k in sims},
               "activity": {k: best[k]["activity"]["mean"] for k in sims}}
    if "brian2" in sims:
        ratios = {k: best[k]["steps_per_s"] / best["brian2"]["steps_per_s"]
                  for k in sims if k != "brian2"}
        summary["speedup_vs_brian2"] = ratios
        print()
        for k, v in ratios.items():
            print(f"speed-up of {k} over Brian2 (numpy target): {v:.1f}x")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""Lowering of a PyNN network onto one plasticore core, and its runs.

:meth:`Engine.build` turns the populations and projections of the backend's state into a
:class:`plasticore.compiler.Network` (SI units), compiles it and opens a session on the
target; :meth:`Engine.run` advances it by whole steps.  Every PyNN value the core cannot
realise raises ``NotImplementedError`` (a structural limit) or ``ValueError`` (a bad value)
naming the parameter.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import numpy as np

from plasticore.compiler import LIF, STDP, Network, compile_network
from plasticore.compiler.network import Sparse
from plasticore.driver.runtime import open_session

from .standardmodels import (
    IF_curr_delta,
    IF_curr_exp,
    SpikeSourceArray,
    SpikeSourcePoisson,
    STDPMechanism,
)

MS = 1e-3          # PyNN's times are milliseconds; the compiler's are seconds


class Engine:
    """A compiled PyNN network on a core session.  ``inputs``: ``(population, delay steps,
    core indices)`` per input copy; ``neurons``: ``(population, core indices)``."""

    def __init__(self, state: Any, program: Any, session: Any,
                 inputs: list[tuple[Any, int, np.ndarray]],
                 neurons: list[tuple[Any, np.ndarray]], plastic: list[tuple[Any, Any]]
                 ) -> None:
        self.state, self.program, self.session = state, program, session
        self.inputs, self.neurons, self.plastic = inputs, neurons, plastic
        self.pending: list[np.ndarray] = []           # (k, 2): forced step, core index
        self.rng = np.random.default_rng(state.rng_seed)
        self.record_v = any(_records(p, "v") for p, _ in neurons)

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls, state: Any, stack: contextlib.ExitStack) -> Engine:
        net = Network(dt=state.dt * MS, name="pynn")
        copies: dict[tuple[int, int], str] = {}
        for proj in state.projections:
            if proj.pre.is_source:
                for d in _delay_steps(proj, state.dt, source=True):
                    copies.setdefault((id(proj.pre), d), f"src{len(copies)}-delay{d}")
            else:
                _delay_steps(proj, state.dt, source=False)
        by_id = {id(p): p for p in state.populations}
        for (pid, _d), name in copies.items():
            net.inputs(name, by_id[pid].size)
        names = {}
        for k, pop in enumerate(state.populations):
            if pop.is_source:
                _check_source(pop)
                continue
            names[id(pop)] = name = _name(pop.label, k, names.values())
            p = net.population(name, pop.size, _cell(pop))
            p.record("spikes", *(("v",) if _records(pop, "v") else ()))
        plastic = []
        for k, proj in enumerate(state.projections):
            plastic += _connect(net, proj, k, names, copies, state.dt)
        program = compile_network(net, n=state.n, steps=1)
        session = stack.enter_context(open_session(state.target, program.config,
                                                   learning=program.learning))
        plastic = [(proj, (program.population_indices(pre), program.population_indices(post),
                           program.weight_lsb[program.population_indices(post)] / fac))
                   for proj, pre, post, fac in plastic]
        inputs = [(by_id[pid], d, program.population_indices(name))
                  for (pid, d), name in copies.items()]
        neurons = [(pop, program.population_indices(names[id(pop)]))
                   for pop in state.populations if not pop.is_source]
        _initial_state(session, program, neurons)
        return cls(state, program, session, inputs, neurons, plastic)

    # -- running -----------------------------------------------------------------------------

    def run(self, steps: int) -> None:
        s0 = self.state.step
        forced = np.zeros((steps, self.program.n), bool)
        emitted = {}
        for pop in {id(p): p for p, _, _ in self.inputs}.values():
            emitted[id(pop)] = e = _emit(pop, s0, steps, self.state.dt, self.rng)
            pop._spike_steps.append(e)
        for pop, d, idx in self.inputs:
            e = emitted[id(pop)]
            self.pending.append(np.stack([e[:, 0] + d - 1, idx[e[:, 1]]], axis=1))
        todo = np.concatenate(self.pending) if self.pending else np.zeros((0, 2), np.int64)
        now = (todo[:, 0] >= s0) & (todo[:, 0] < s0 + steps)
        forced[todo[now, 0] - s0, todo[now, 1]] = True
        self.pending = [todo[todo[:, 0] >= s0 + steps]]
        rec = self.session.run(steps, forced, record_v=self.record_v)
        for pop, idx in self.neurons:
            hit = np.argwhere(rec.spikes[:, idx])
            pop._spike_steps.append(np.stack([hit[:, 0] + s0, hit[:, 1]], axis=1))
            if self.record_v:
                raw = rec.state["v"][:, idx]
                pop._v.append(self.program.v_offset[idx] + raw / self.program.lsb_per_volt[idx])
        if self.plastic:
            self._read_weights()

    def _read_weights(self) -> None:
        """Learned weights back into the projections' connections (PyNN units)."""
        words = self.session.read_weights()
        for proj, (rows, cols, lsb) in self.plastic:
            for c in proj.connections:
                r, q = rows[c.presynaptic_index], cols[c.postsynaptic_index]
                c.weight = float(words[r, q] * lsb[c.postsynaptic_index])


# -- populations --------------------------------------------------------------------------

def _name(label: str, k: int, taken: Any) -> str:
    """A compiler population name from the PyNN label (so that messages name it)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(label)) or f"p{k}"
    return name if name not in taken else f"{name}-{k}"


def _records(pop: Any, variable: str) -> bool:
    return any(v.name == variable and ids for v, ids in pop.recorder.recorded.items())


def _cell(pop: Any) -> LIF:
    ct = pop.celltype
    where = f"Population {pop.label!r} ({type(ct).__name__})"
    if not isinstance(ct, (IF_curr_exp, IF_curr_delta)):
        raise NotImplementedError(f"plasticore.pynn: {where} is not a cell type of the core.")
    g = pop.param
    if isinstance(ct, IF_curr_exp):
        te, ti = g("tau_syn_E"), g("tau_syn_I")
        if not np.array_equal(te, ti):
            k = int(np.flatnonzero(te != ti)[0])
            raise NotImplementedError(
                f"plasticore.pynn: {where}: tau_syn_E ({te[k]} ms) must equal tau_syn_I "
                f"({ti[k]} ms): the core has one synaptic current per neuron (neuron {k}).")
        tau_syn = te * MS
    else:
        tau_syn = 0.0
    _check_initial(pop, where)
    return LIF(tau_mem=g("tau_m") * MS, tau_syn=tau_syn, v_threshold=g("v_thresh"),
               v_rest=g("v_rest"), v_reset=g("v_reset"), reset="value",
               tau_refrac=g("tau_refrac") * MS, bias=g("i_offset") / g("cm") / MS)


def _check_initial(pop: Any, where: str) -> None:
    """Initial synaptic currents must be 0 (the initial ``v`` is written to the core)."""
    for name, values in pop._initial.items():
        if name != "v" and np.any(values != 0):
            k = int(np.flatnonzero(values != 0)[0])
            raise NotImplementedError(
                f"plasticore.pynn: {where}: initial value {name!r} = {values[k]} (neuron {k}); "
                f"the core starts every synaptic current at 0.")


def _initial_state(session: Any, program: Any, neurons: list[tuple[Any, np.ndarray]]) -> None:
    """Write the populations' initial ``v`` (PyNN's default -65 mV, or ``initialize``) into
    the core's state; keep the realised value as the first sample of ``v``."""
    from plasticore import fixed as F
    from plasticore.core import NEURON_STATE, Table

    table = Table(NEURON_STATE, program.n)
    for pop, idx in neurons:
        v0 = pop._initial.get("v", np.full(pop.size, np.nan))
        v0 = np.where(np.isnan(v0), pop.param("v_rest"), v0)
        raw = np.rint((v0 - program.v_offset[idx]) * program.lsb_per_volt[idx]).astype(np.int64)
        if not F.V.contains(raw):
            k = int(np.flatnonzero((raw < F.V.min) | (raw > F.V.max))[0])
            raise ValueError(f"plasticore.pynn: {pop.label!r}: initial v = {v0[k]} mV (neuron "
                             f"{k}) is outside the core's potential range.")
        table["v"][idx] = raw
        pop._v0_real = program.v_offset[idx] + raw / program.lsb_per_volt[idx]
    session.write_state(table)


def _check_source(pop: Any) -> None:
    if not isinstance(pop.celltype, (SpikeSourceArray, SpikeSourcePoisson)):
        raise NotImplementedError(f"plasticore.pynn: spike source {type(pop.celltype).__name__} "
                                  f"of {pop.label!r} is not supported.")


def _emit(pop: Any, s0: int, steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    """Spikes of a spike source in steps ``s0 .. s0 + steps - 1``: (k, 2) step, index."""
    if isinstance(pop.celltype, SpikeSourcePoisson):
        return _poisson(pop, s0, steps, dt, rng)
    out = []
    times = pop._parameters["spike_times"]
    for k in range(pop.size):
        t = np.asarray(times[k].value if hasattr(times[k], "value") else times[k], float)
        if (t <= 0).any():
            raise ValueError(f"plasticore.pynn: {pop.label!r} neuron {k} has a spike at "
                             f"{t[t <= 0][0]} ms; spike times must be > 0.")
        step = np.ceil(t / dt - 1e-9).astype(np.int64) - 1   # the step ending at or after t
        step = step[(step >= s0) & (step < s0 + steps)]
        out.append(np.stack([step, np.full(step.size, k)], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def _poisson(pop: Any, s0: int, steps: int, dt: float, rng: np.random.Generator
             ) -> np.ndarray:
    rate, start, dur = (pop.param(n) for n in ("rate", "start", "duration"))
    p = rate * dt * MS
    if (p > 1).any():
        raise ValueError(f"plasticore.pynn: {pop.label!r}: rate {rate.max()} Hz exceeds one "
                         f"spike per timestep ({1 / (dt * MS):g} Hz).")
    t = (np.arange(s0, s0 + steps) + 1) * dt                 # end of each step, ms
    on = (t[:, None] > start[None, :]) & (t[:, None] <= (start + dur)[None, :])
    hit = (rng.random((steps, pop.size)) < p[None, :]) & on
    k = np.argwhere(hit)
    return np.stack([k[:, 0] + s0, k[:, 1]], axis=1)


# -- projections --------------------------------------------------------------------------

def _delay_steps(proj: Any, dt: float, source: bool) -> list[int]:
    """The distinct delays of ``proj`` in steps; out of neurons only the core's one step."""
    _, _, _, d = proj.arrays()
    steps = np.rint(d / dt).astype(np.int64)
    bad = (np.abs(steps * dt - d) > 1e-6 * dt) | (steps < 1)
    if not source:
        bad |= steps != 1
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        what = ("a whole number of timesteps >= 1" if source
                else f"one timestep ({dt} ms): the core's synaptic delay")
        raise NotImplementedError(f"plasticore.pynn: projection {proj.label!r}: delay "
                                  f"{d[k]} ms must be {what}.")
    return sorted(set(steps.tolist()))


def _weight_factor(post: Any, dt: float) -> np.ndarray:
    """Core weight (mV jump of the synaptic current) per PyNN weight unit, per post neuron."""
    if isinstance(post.celltype, IF_curr_delta):
        return np.ones(post.size)
    return dt / post.param("cm")


def _connect(net: Network, proj: Any, k: int, names: dict[int, str],
             copies: dict[tuple[int, int], str], dt: float) -> list[tuple[Any, ...]]:
    """Add ``proj`` (one compiler projection per delay); for a plastic one, return
    ``(proj, pre name, post name, weight factor per post neuron)``."""
    pre, post, w, d = proj.arrays()
    # PyNN has checked the signs: >= 0 excitatory, <= 0 inhibitory (current-based)
    sign = -1.0 if proj.receptor_type == "inhibitory" else 1.0
    fac = _weight_factor(proj.post, dt)
    stdp = _stdp(proj, fac, dt, sign)
    steps = np.rint(d / dt).astype(np.int64)
    pre_name = (lambda s: copies[(id(proj.pre), s)]) if proj.pre.is_source \
        else (lambda s: names[id(proj.pre)])
    out = []
    for s in sorted(set(steps.tolist())):
        m = steps == s
        dense: dict[tuple[int, int], float] = {}
        for i, j, x in zip(pre[m], post[m], w[m], strict=True):
            dense[(int(i), int(j))] = dense.get((int(i), int(j)), 0.0) + x   # multapses add
        syn = [(i, j, x * fac[j]) for (i, j), x in dense.items()]
        name = f"proj{k}d{s}"
        net.connect(pre_name(s), names[id(proj.post)], Sparse(syn), stdp=stdp, name=name)
        if stdp is not None:
            if len(set(steps.tolist())) > 1:
                raise NotImplementedError(f"plasticore.pynn: projection {proj.label!r}: STDP "
                                          f"needs one delay for all its connections.")
            out.append((proj, pre_name(s), names[id(proj.post)], fac))
    return out


def _stdp(proj: Any, fac: np.ndarray, dt: float, sign: float) -> STDP | None:
    st = proj.synapse_type
    if not isinstance(st, STDPMechanism):
        return None
    where = f"plasticore.pynn: projection {proj.label!r}"
    if sign < 0:
        raise NotImplementedError(f"{where}: STDP on an inhibitory projection is not "
                                  f"supported (the core's weight bounds are per neuron).")
    if not np.allclose(fac, fac[0]):
        raise NotImplementedError(f"{where}: STDP needs one cm for all post neurons.")
    t, w = (_scalars(x.parameter_space, where)
            for x in (st.timing_dependence, st.weight_dependence))
    f = float(fac[0])
    return STDP(tau_plus=float(t["tau_plus"]) * MS, tau_minus=float(t["tau_minus"]) * MS,
                A_plus=float(t["A_plus"]) * float(w["w_max"]) * f,
                A_minus=float(t["A_minus"]) * float(w["w_max"]) * f,
                w_min=float(w["w_min"]) * f, w_max=float(w["w_max"]) * f)



def _scalars(space: Any, where: str) -> dict[str, float]:
    """The parameters of an STDP component, which the core needs as one value each."""
    space.shape = (1,)
    space.evaluate(simplify=True)
    out = {}
    for name, value in space.as_dict().items():
        a = np.unique(np.asarray(value, np.float64))
        if a.size != 1:
            raise NotImplementedError(f"{where}: STDP {name} must be one value for the whole "
                                      f"projection (the core's rule is per post neuron).")
        out[name] = float(a[0])
    return out

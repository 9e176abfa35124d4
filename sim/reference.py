r"""The bit-exact reference model of the plasticore core.

This is the executable specification: pure integer NumPy, vectorised over neurons,
deterministic.  The gateware is verified against it with exact equality after every
timestep; ``docs/model.md`` states the same equations in prose.

One call of :meth:`Reference.step` is one timestep ``t``.  With the state left by step
``t-1`` (all neurons in parallel, ``sat`` clamps to the format of the left-hand side):

**1. Neuron update** (neuron ``n``; its parameters from ``NEURON_PARAMS``)::

    I   <- sat(decay(I, alpha_i) + (acc << w_shift))         # acc: spikes of step t-1
    if ref > 0:  ref <- ref - 1;  V unchanged                  # refractory: V is held
    else:        V <- sat(decay(V, alpha_v) + I + bias)
    spike <- forced[n]  or  (was not refractory and V >= threshold)
    if spike:    V <- v_reset            (reset_mode VALUE)
                 V <- sat(V - threshold) (reset_mode SUBTRACT)
                 ref <- refractory
    x   <- sat(decay(x, alpha_x) + (spike ? x_inc : 0))        # pre-synaptic trace
    y'  <- decay(y, alpha_y)                                   # post trace, not yet bumped

**2. Transmission** (the one-step synaptic delay)::

    acc[i] <- sum over spiking j of W[j, i]     # weights before this step's learning

**3. Learning**, if enabled at run time, only where ``plastic[j, i]`` is set, with the rule
parameters ``a_plus, a_minus, w_min, w_max`` of the post-synaptic neuron ``i``::

    for every spiking pre  j, every i:  W[j,i] <- clip(W[j,i] - stdp_delta(a_minus_i, y'_i))
    then for every spiking post i, every j:  W[j,i] <- clip(W[j,i] + stdp_delta(a_plus_i, x_j))

Depression reads the post traces before this step's post spikes are added; potentiation
reads the pre traces after this step's pre spikes are added.  A pre and a post spike in
the same step therefore potentiate and do not depress, as in Brian2's
``on_pre``/``on_post`` order.

**4.** ``y <- sat(y' + (spike ? y_inc : 0))``; the step counter increments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plasticore import fixed as F
from plasticore.core import NEURON_STATE, CoreConfig, ResetMode, Table

__all__ = ["Reference", "Snapshot", "Record"]


@dataclass
class Snapshot:
    """The complete state of a core after a timestep: what hardware is compared against."""
    t: int
    spikes: np.ndarray       # bool (n,): who fired in step t
    state: Table             # NEURON_STATE: v, i, acc, ref, x, y
    weights: np.ndarray      # int64 (n, n)

    def __eq__(self, other):
        return (isinstance(other, Snapshot) and self.t == other.t
                and np.array_equal(self.spikes, other.spikes) and self.state == other.state
                and np.array_equal(self.weights, other.weights))

    def diff(self, other):
        """Human-readable list of the differences to ``other`` (empty if equal)."""
        out = []
        if self.t != other.t:
            out.append(f"step counter {self.t} != {other.t}")
        for name, a, b in [("spikes", self.spikes, other.spikes),
                           *[(k, self.state[k], other.state[k]) for k in self.state.names],
                           ("weights", self.weights, other.weights)]:
            if not np.array_equal(a, b):
                idx = np.argwhere(np.asarray(a) != np.asarray(b))
                first = tuple(int(v) for v in idx[0])
                out.append(f"{name}: {len(idx)} differ, first at {first}: "
                           f"{a[first]} != {b[first]}")
        return out


@dataclass
class Record:
    """What :meth:`Reference.run` records, one row per timestep."""
    spikes: np.ndarray                                   # bool (steps, n)
    state: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (steps, n)
    weights: list[np.ndarray] = field(default_factory=list)

    @property
    def spike_times(self):
        """List of (step, neuron) pairs, steps counted from 0 within this run."""
        return [tuple(map(int, p)) for p in np.argwhere(self.spikes)]


class Reference:
    """Bit-exact software model of one core.

    Parameters
    ----------
    config : CoreConfig
        Parameters, learning parameters, weights and plasticity bits.  Copied: later changes
        to ``config`` do not reach the model.
    learning : bool
        Run-time learning switch (see :attr:`learning`).
    """

    def __init__(self, config: CoreConfig, learning: bool = False):
        config.validate()
        self.config = config.copy()
        self.n = config.n
        self.learning = bool(learning)
        p, lp = self.config.neurons, self.config.learning
        # Parameters as plain arrays: the hot loop reads them by attribute.
        self._th, self._vr, self._bias = p["threshold"], p["v_reset"], p["bias"]
        self._av, self._ai = p["alpha_v"], p["alpha_i"]
        self._tref, self._ws = p["refractory"], p["w_shift"]
        self._sub = p["reset_mode"] == ResetMode.SUBTRACT.value
        self._ax, self._xinc = lp["alpha_x"], lp["x_inc"]
        self._ay, self._yinc = lp["alpha_y"], lp["y_inc"]
        self._ap, self._am = lp["a_plus"], lp["a_minus"]
        self._wmin, self._wmax = lp["w_min"], lp["w_max"]
        self.weights = self.config.weights          # mutated in place by learning
        self.plastic = self.config.plastic
        self.reset()

    # -- state ----------------------------------------------------------------------------

    def reset(self):
        """Zero all neuron state, the pending input, the spikes and the step counter.
        Weights and parameters are kept."""
        n = self.n
        self.t = 0
        self.spikes = np.zeros(n, bool)
        self.v, self.i, self.acc = (np.zeros(n, np.int64) for _ in range(3))
        self.ref, self.x, self.y = (np.zeros(n, np.int64) for _ in range(3))

    @property
    def state(self) -> Table:
        """A copy of the per-neuron state as a NEURON_STATE table."""
        t = Table(NEURON_STATE, self.n)
        for name in t.names:
            t[name][:] = getattr(self, name)
        return t

    @state.setter
    def state(self, table: Table):
        if table.layout is not NEURON_STATE or table.n != self.n:
            raise ValueError(f"state must be a NEURON_STATE table of {self.n} neurons")
        table.validate()
        for name in table.names:
            setattr(self, name, table[name].copy())

    def snapshot(self) -> Snapshot:
        return Snapshot(self.t, self.spikes.copy(), self.state, self.weights.copy())

    # -- one timestep -----------------------------------------------------------------------

    def _forced_mask(self, forced):
        mask = np.zeros(self.n, bool)
        if forced is None:
            return mask
        f = np.asarray(forced)
        if f.dtype == bool:
            if f.shape != (self.n,):
                raise ValueError(f"forced spike mask must have {self.n} entries, not {f.shape}")
            return f.copy()
        if f.size and (not np.issubdtype(f.dtype, np.integer) or f.min() < 0
                       or f.max() >= self.n):
            raise ValueError(f"forced spikes must be neuron indices in [0, {self.n - 1}], "
                             f"got {forced!r}")
        mask[f.astype(np.int64)] = True
        return mask

    def step(self, forced=None):
        """Run one timestep.  ``forced``: neuron indices (or an n-entry bool mask) that fire
        this step regardless of their potential.  Returns the spike mask of this step."""
        force = self._forced_mask(forced)
        decay, sat_v, sat_i = F.decay, F.V.saturate, F.I.saturate

        # 1. neuron update
        self.i = sat_i(decay(self.i, self._ai) + (self.acc << self._ws))
        refr = self.ref > 0
        v = np.where(refr, self.v, sat_v(decay(self.v, self._av) + self.i + self._bias))
        ref = self.ref - refr
        spike = force | (~refr & (v >= self._th))
        v_after = np.where(self._sub, sat_v(v - self._th), self._vr)
        self.v = np.where(spike, v_after, v)
        self.ref = np.where(spike, self._tref, ref)
        self.x = F.TRACE.saturate(decay(self.x, self._ax) + spike * self._xinc)
        y_dec = decay(self.y, self._ay)

        # 2. transmission, with the weights as they are before this step's learning
        fired = np.flatnonzero(spike)
        w = self.weights
        self.acc = w[fired].sum(axis=0) if fired.size else np.zeros(self.n, np.int64)

        # 3. learning: all depressions (rows of spiking pre neurons), then all potentiations
        #    (columns of spiking post neurons)
        if self.learning and fired.size:
            rows = w[fired]
            dep = F.stdp_delta(self._am, y_dec)
            new = np.clip(rows - dep, self._wmin, self._wmax)
            w[fired] = np.where(self.plastic[fired], new, rows)
            cols = w[:, fired]
            pot = F.stdp_delta(self._ap[fired], self.x[:, None])
            new = np.clip(cols + pot, self._wmin[fired], self._wmax[fired])
            w[:, fired] = np.where(self.plastic[:, fired], new, cols)

        # 4. post traces take this step's spikes
        self.y = F.TRACE.saturate(y_dec + spike * self._yinc)
        self.spikes = spike
        self.t += 1
        return spike

    # -- many timesteps --------------------------------------------------------------------

    def run(self, steps, forced=None, record=("spikes",), weights_every=0, progress=None):
        """Run ``steps`` timesteps and record what is asked for.

        forced
            ``None``; a bool array (steps, n); or a sequence of ``steps`` index lists.
        record
            Names out of ``spikes`` (always recorded) and the NEURON_STATE fields
            ``v, i, acc, ref, x, y``.
        weights_every
            Also keep a copy of the weight matrix every that many steps (0: never).
        progress
            Optional callable ``progress(done, total)``.
        """
        steps = int(steps)
        if steps < 0:
            raise ValueError(f"number of steps must be >= 0, not {steps}")
        if forced is not None and len(forced) != steps:
            raise ValueError(f"forced spikes given for {len(forced)} steps, but running {steps}")
        fields = [r for r in record if r != "spikes"]
        unknown = [r for r in fields if r not in dict(iter(NEURON_STATE))]
        if unknown:
            raise ValueError(f"cannot record {unknown}; choose from spikes, "
                             f"{', '.join(name for name, _ in NEURON_STATE)}")
        rec = Record(np.zeros((steps, self.n), bool),
                     {name: np.zeros((steps, self.n), np.int64) for name in fields})
        for k in range(steps):
            rec.spikes[k] = self.step(None if forced is None else forced[k])
            for name in fields:
                rec.state[name][k] = getattr(self, name)
            if weights_every and (k + 1) % weights_every == 0:
                rec.weights.append(self.weights.copy())
            if progress is not None:
                progress(k + 1, steps)
        return rec

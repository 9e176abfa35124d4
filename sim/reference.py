r"""The bit-exact reference model of the plasticore core.

This is the executable specification: pure integer NumPy, vectorised over neurons,
deterministic.  The gateware is verified against it with exact equality after every
timestep; ``docs/model.md`` states the same equations in prose.

One call of :meth:`Reference.step` is one timestep ``t``.  With the state left by step
``t-1`` (all neurons in parallel, ``sat`` clamps to the format of the left-hand side):

**1. Neuron update** (neuron ``n``; its parameters from ``NEURON_PARAMS``)::

    I   <- sat(decay(I, alpha_i) + (acc << w_shift))         # acc: spikes of step t-1
    if ref > 0:  ref <- ref - 1;  V unchanged                  # refractory: V is held
    else:        V <- sat(decay(V, alpha_v) + I + bias - sub)
                 # sub = threshold if reset_mode is DEFERRED and the old V > threshold, else 0
    spike <- forced[n]  or  (was not refractory and V >= threshold + d)
                 # d = 1 for DEFERRED (it fires on V > threshold), else 0
    if spike:    V <- v_reset            (reset_mode VALUE)
                 V <- sat(V - threshold) (reset_mode SUBTRACT)
                 V unchanged             (reset_mode DEFERRED: the next update subtracts)
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

**Triplet, eligibility, stochastic rounding** (``docs/model.md`` section 4.5-4.7): the rule
of post neuron ``i`` is the general form (``A3 = 0`` and target WEIGHT and rounding NEAREST
is exactly the pair rule above, bit for bit)::

    depression  (pre j fired):   Q = y'_i * (a_minus_i << 12 + a3_minus_i * x2'_j)
    potentiation (post i fired): Q = x_j  * (a_plus_i  << 12 + a3_plus_i  * y2'_i)
    target WEIGHT:       W[j,i] <- clip(W[j,i] -/+ round(Q, 28), w_min_i, w_max_i)
    target ELIGIBILITY:  e[j,i] <- sat(e[j,i] -/+ round(Q, 26))

with ``round`` nearest or stochastic (:func:`plasticore.fixed.round_shift`, random bits
:func:`plasticore.fixed.random_bits` of (seed, t, j, i, kind)).  A step is modulated if
the host gives it a modulator ``r_host`` (:meth:`Reference.step`) or a modulator neuron
(``mod_weight != 0``) fires in it; its modulator is then ``r = sat(r_host + sum of
mod_weight_k over the neurons k that fired this step)`` (``r_host`` 0 if none was given).
With learning on it applies, to every plastic synapse whose post neuron targets
ELIGIBILITY::

    W[j,i] <- clip(W[j,i] + round(r * e[j,i], 6), w_min_i, w_max_i)
    e[j,i] <- decay_e(e[j,i], alpha_e_i)

and the slow traces end the step as ``x2 <- sat(x2' + (spike ? x2_inc : 0))``, likewise y2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from plasticore import fixed as F
from plasticore.core import (
    NEURON_STATE,
    TRIPLET_STATE,
    CoreConfig,
    ResetMode,
    Rounding,
    Table,
    Target,
)

__all__ = ["Reference", "Snapshot", "Record"]


def _decay(x: np.ndarray, alpha: np.ndarray | int) -> np.ndarray:
    """:func:`plasticore.fixed.decay` of an int64 array, with fewer temporaries: the same
    integers (``x >> 63`` is -1 where ``x < 0``, so ``2**15 - 1`` is added there)."""
    p = x * alpha
    p += (x >> 63) & (F.DECAY_ONE - 1)
    p >>= F.DECAY_FRAC
    return p


def _clip(x: np.ndarray, lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
    """``np.clip(x, lo, hi)`` in place, and much cheaper: both are ``min(max(x, lo), hi)``
    (so also when ``lo > hi``)."""
    np.maximum(x, lo, out=x)
    np.minimum(x, hi, out=x)
    return x


def _saturate(x: np.ndarray, fmt: F.Format) -> np.ndarray:
    """``fmt.saturate(x)`` of an int64 array, in place."""
    return _clip(x, fmt.min, fmt.max)


@dataclass
class Snapshot:
    """The complete state of a core after a timestep: what hardware is compared against."""
    t: int
    spikes: np.ndarray       # bool (n,): who fired in step t
    state: Table             # NEURON_STATE: v, i, acc, ref, x, y
    weights: np.ndarray      # int64 (n, n)
    triplet: Table | None = None    # TRIPLET_STATE: x2, y2 (None: not observed)
    elig: np.ndarray | None = None  # int64 (n, n) eligibility (None: not observed)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Snapshot) and self.t == other.t
                and np.array_equal(self.spikes, other.spikes) and self.state == other.state
                and np.array_equal(self.weights, other.weights)
                and _opt_equal(self.triplet, other.triplet)
                and _opt_equal(self.elig, other.elig))

    def diff(self, other: Snapshot) -> list[str]:
        """Human-readable list of the differences to ``other`` (empty if equal)."""
        out = []
        if self.t != other.t:
            out.append(f"step counter {self.t} != {other.t}")
        pairs = [("spikes", self.spikes, other.spikes),
                 *[(k, self.state[k], other.state[k]) for k in self.state.names],
                 ("weights", self.weights, other.weights)]
        if self.triplet is not None and other.triplet is not None:
            pairs += [(k, self.triplet[k], other.triplet[k]) for k in self.triplet.names]
        if self.elig is not None and other.elig is not None:
            pairs.append(("elig", self.elig, other.elig))
        for name, a, b in pairs:
            if not np.array_equal(a, b):
                idx = np.argwhere(np.asarray(a) != np.asarray(b))
                first = tuple(int(v) for v in idx[0])
                out.append(f"{name}: {len(idx)} differ, first at {first}: "
                           f"{a[first]} != {b[first]}")
        return out


def _opt_equal(a: object, b: object) -> bool:
    """Optional parts of a snapshot: equal if either side did not observe them."""
    if a is None or b is None:
        return True
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b))   # type: ignore[arg-type]
    return a == b


@dataclass
class Record:
    """What :meth:`Reference.run` records, one row per timestep."""
    spikes: np.ndarray                                   # bool (steps, n)
    state: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (steps, n)
    weights: list[np.ndarray] = field(default_factory=list)
    elig: list[np.ndarray] = field(default_factory=list)

    @property
    def spike_times(self) -> list[tuple[int, ...]]:
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

    def __init__(self, config: CoreConfig, learning: bool = False) -> None:
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
        self._any_sub = bool(self._sub.any())
        # DEFERRED: the firing level threshold + 1 (V > threshold, in int64: no overflow)
        self._deferred = p["reset_mode"] == ResetMode.DEFERRED.value
        self._any_deferred = bool(self._deferred.any())
        self._fire = self._th + self._deferred
        self._ax, self._xinc = lp["alpha_x"], lp["x_inc"]
        self._ay, self._yinc = lp["alpha_y"], lp["y_inc"]
        self._ap, self._am = lp["a_plus"], lp["a_minus"]
        self._wmin, self._wmax = lp["w_min"], lp["w_max"]
        tp = self.config.rules
        self._ax2, self._x2inc = tp["alpha_x2"], tp["x2_inc"]
        self._ay2, self._y2inc = tp["alpha_y2"], tp["y2_inc"]
        self._a3p, self._a3m = tp["a3_plus"], tp["a3_minus"]
        self._ae = tp["alpha_e"]
        self._mw = tp["mod_weight"]
        self._any_mw = bool(self._mw.any())
        self._to_e = tp["target"] == Target.ELIGIBILITY.value
        self._stoch = tp["rounding"] == Rounding.STOCHASTIC.value
        self.seed = self.config.seed
        # The pair rule to the weights with nearest rounding takes the fast path below.
        self._general = bool(self.config.needs() - {"eligibility"}) or bool(self._to_e.any())
        self.weights = self.config.weights          # mutated in place by learning
        self.plastic = self.config.plastic
        self.elig = self.config.elig                # mutated in place by learning
        self._row_start = np.arange(self.n) * self.n    # flat index of w[j, 0]
        self.reset()

    # -- state ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Zero all neuron state, the pending input, the spikes and the step counter.
        Weights and parameters are kept."""
        n = self.n
        self.t = 0
        #: Whether the last step was modulated (a host modulator or a modulator neuron's spike).
        self.modulated = False
        self.spikes = np.zeros(n, bool)
        self.v, self.i, self.acc = (np.zeros(n, np.int64) for _ in range(3))
        self.ref, self.x, self.y = (np.zeros(n, np.int64) for _ in range(3))
        self.x2, self.y2 = (np.zeros(n, np.int64) for _ in range(2))

    @property
    def state(self) -> Table:
        """A copy of the per-neuron state as a NEURON_STATE table."""
        t = Table(NEURON_STATE, self.n)
        for name in t.names:
            t[name][:] = getattr(self, name)
        return t

    @state.setter
    def state(self, table: Table) -> None:
        if table.layout is not NEURON_STATE or table.n != self.n:
            raise ValueError(f"state must be a NEURON_STATE table of {self.n} neurons")
        table.validate()
        for name in table.names:
            setattr(self, name, table[name].copy())

    @property
    def triplet(self) -> Table:
        """A copy of the slow traces as a TRIPLET_STATE table."""
        return Table(TRIPLET_STATE, self.n, x2=self.x2, y2=self.y2)

    @triplet.setter
    def triplet(self, table: Table) -> None:
        if table.layout is not TRIPLET_STATE or table.n != self.n:
            raise ValueError(f"triplet state must be a TRIPLET_STATE table of {self.n} neurons")
        table.validate()
        self.x2, self.y2 = table["x2"].copy(), table["y2"].copy()

    def snapshot(self) -> Snapshot:
        return Snapshot(self.t, self.spikes.copy(), self.state, self.weights.copy(),
                        self.triplet, self.elig.copy())

    # -- one timestep -----------------------------------------------------------------------

    def _forced_mask(self, forced: npt.ArrayLike | None) -> np.ndarray:
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

    def _check_modulator(self, modulator: int | None) -> int | None:
        if modulator is None:
            return None
        return int(F.MODULATOR.check(modulator, "modulator r"))

    def _modulator(self, host: int | None, fired: np.ndarray) -> int | None:
        """The step's modulator: None (not modulated) if the host gave none and no modulator
        neuron fired, else ``sat(host + sum of mod_weight over the neurons that fired)``."""
        if self._any_mw and fired.size:
            mw = self._mw[fired]
            if mw.any():
                return F.MODULATOR.saturate((host or 0) + int(mw.sum()))
        return host

    def step(self, forced: npt.ArrayLike | None = None,
             modulator: int | None = None) -> np.ndarray:
        """Run one timestep.  ``forced``: neuron indices (or an n-entry bool mask) that fire
        this step regardless of their potential.  ``modulator``: None (not a modulated
        step) or a raw MODULATOR ``r`` (0 too: then only the eligibility decays).  Returns
        the spike mask of this step.

        Written for speed without changing a bit of the equations above: every state array
        is replaced by a new one (never mutated in place), ``clip`` is spelled as
        ``maximum``/``minimum`` (NumPy's ``clip`` costs ~4 us a call), and the traces, which
        are unsigned (TRACE), decay by a plain product and shift and can only saturate where
        a spike was added."""
        # 1. neuron update
        i = _decay(self.i, self._ai)
        i += self.acc << self._ws
        _saturate(i, F.I)
        refr = self.ref > 0
        v = _decay(self.v, self._av)
        v += i
        v += self._bias
        if self._any_deferred:                             # snnTorch: the reset of the spike
            v -= np.where(self._deferred & (self.v >= self._fire), self._th, 0)   # before
        _saturate(v, F.V)
        np.copyto(v, self.v, where=refr)                   # refractory: V is held
        ref = self.ref - refr
        spike = v >= self._fire
        spike &= ~refr
        if forced is not None:
            spike |= self._forced_mask(forced)
        fired = spike.nonzero()[0]
        x = (self.x * self._ax) >> F.DECAY_FRAC           # decay of a non-negative trace
        y_dec = (self.y * self._ay) >> F.DECAY_FRAC
        x2_dec = (self.x2 * self._ax2) >> F.DECAY_FRAC
        y2_dec = (self.y2 * self._ay2) >> F.DECAY_FRAC
        modulator = self._modulator(self._check_modulator(modulator), fired)
        self.modulated = modulator is not None
        if fired.size:
            if self._any_sub or self._any_deferred:
                vf = v[fired]
                v[fired] = np.where(self._sub[fired], _saturate(vf - self._th[fired], F.V),
                                    np.where(self._deferred[fired], vf, self._vr[fired]))
            else:
                v[fired] = self._vr[fired]
            ref[fired] = self._tref[fired]
            x[fired] = np.minimum(x[fired] + self._xinc[fired], F.TRACE.max)
        self.i, self.v, self.ref, self.x = i, v, ref, x

        # 2. transmission, with the weights as they are before this step's learning
        w = self.weights
        rows = w[fired]                                     # (k, n): out of the spiking pre
        self.acc = rows.sum(axis=0) if fired.size else np.zeros(self.n, np.int64)

        # 3. learning: all depressions (rows of spiking pre neurons), then all potentiations
        #    (columns of spiking post neurons)
        if self.learning and fired.size and self._general:
            self._depress(fired, y_dec, x2_dec)
            self._potentiate(fired, x, y2_dec)
        elif self.learning and fired.size:
            self._pair_rule(fired, rows, x, y_dec)

        # 3b. modulation (three-factor): every plastic synapse into an eligibility neuron
        if self.learning and modulator is not None and self._to_e.any():
            self._modulate(modulator)

        # 4. post traces and slow traces take this step's spikes
        if fired.size:
            y_dec[fired] = np.minimum(y_dec[fired] + self._yinc[fired], F.TRACE.max)
            x2_dec[fired] = np.minimum(x2_dec[fired] + self._x2inc[fired], F.TRACE.max)
            y2_dec[fired] = np.minimum(y2_dec[fired] + self._y2inc[fired], F.TRACE.max)
        self.y, self.x2, self.y2 = y_dec, x2_dec, y2_dec
        self.spikes = spike
        self.t += 1
        return spike

    def _pair_rule(self, fired: np.ndarray, rows: np.ndarray, x: np.ndarray,
                   y_dec: np.ndarray) -> None:
        """The pair rule with nearest rounding (no rule of the general kind anywhere):
        depress the rows ``rows`` (= ``weights[fired]``) of the spiking pre neurons by
        ``y'``, then potentiate the columns of the spiking post neurons by ``x``."""
        w = self.weights
        new = rows - F.stdp_delta(self._am, y_dec)
        _clip(new, self._wmin, self._wmax)
        np.copyto(rows, new, where=self.plastic[fired])
        w[fired] = rows
        # The columns are handled transposed, as (k, n) blocks read and written through
        # flat indices: NumPy is much faster on rows than on strided columns.
        if not w.flags.c_contiguous:
            w = self.weights = np.ascontiguousarray(w)
        w_flat = w.reshape(-1)                           # a view
        flat = fired[:, None] + self._row_start        # flat[c, j]: index of w[j, fired[c]]
        cols = w_flat.take(flat)
        new = F.stdp_delta(self._ap[fired][:, None], x)
        new += cols
        _clip(new, self._wmin[fired][:, None], self._wmax[fired][:, None])
        np.copyto(cols, new, where=np.ravel(self.plastic).take(flat))
        w_flat[flat] = cols

    # -- the general rule: triplet, eligibility, stochastic rounding -------------------------

    def _bits(self, pre: np.ndarray, post: np.ndarray, kind: int,
              stoch: np.ndarray) -> np.ndarray | int:
        """Random bits of the updates (pre, post) of this step, or 0 where none rounds
        stochastically (the bits are then not used)."""
        if not stoch.any():
            return 0
        return F.random_bits(F.step_key(self.seed, self.t), pre, post, kind)

    def _apply(self, sel: tuple[np.ndarray, np.ndarray], q: np.ndarray | int,
               bits: np.ndarray | int,
               stoch: np.ndarray, sign: int, post: np.ndarray) -> None:
        """Move W (or e, by the post neuron's target) of the synapses ``sel`` by ``sign *
        round(q)``, where they are plastic."""
        w_old, e_old = self.weights[sel], self.elig[sel]
        to_e = self._to_e[post]
        dw = F.round_shift(q, F.W_ROUND_SHIFT, bits, stoch)
        de = F.round_shift(q, F.E_ROUND_SHIFT, bits, stoch)
        w_new = _clip(w_old + sign * dw, self._wmin[post], self._wmax[post])
        e_new = _saturate(e_old + sign * de, F.ELIGIBILITY)
        plastic = self.plastic[sel]
        self.weights[sel] = np.where(plastic & ~to_e, w_new, w_old)
        self.elig[sel] = np.where(plastic & to_e, e_new, e_old)

    def _depress(self, fired: np.ndarray, y_dec: np.ndarray, x2_dec: np.ndarray) -> None:
        """Rows of the spiking pre neurons ``j``: ``Q = y'_i (a_minus_i 2^12 + a3_minus_i
        x2'_j)``."""
        pre = fired[:, None]
        post = np.broadcast_to(np.arange(self.n)[None, :], (fired.size, self.n))
        q = F.stdp_product(self._am[post], self._a3m[post], x2_dec[pre], y_dec[post])
        stoch = self._stoch[post]
        bits = self._bits(np.broadcast_to(pre, post.shape), post, F.Kind.DEPRESS, stoch)
        self._apply((np.broadcast_to(pre, post.shape), post), q, bits, stoch, -1, post)

    def _potentiate(self, fired: np.ndarray, x: np.ndarray, y2_dec: np.ndarray) -> None:
        """Columns of the spiking post neurons ``i``: ``Q = x_j (a_plus_i 2^12 + a3_plus_i
        y2'_i)``."""
        post = np.broadcast_to(fired[None, :], (self.n, fired.size))
        pre = np.broadcast_to(np.arange(self.n)[:, None], post.shape)
        q = F.stdp_product(self._ap[post], self._a3p[post], y2_dec[post], x[pre])
        stoch = self._stoch[post]
        bits = self._bits(pre, post, F.Kind.POTENTIATE, stoch)
        self._apply((pre, post), q, bits, stoch, +1, post)

    def _modulate(self, r: int) -> None:
        """``W <- clip(W + round(r e))``, ``e <- decay_e(e, alpha_e)`` where plastic and the
        post neuron targets the eligibility."""
        n = self.n
        pre = np.broadcast_to(np.arange(n)[:, None], (n, n))
        post = np.broadcast_to(np.arange(n)[None, :], (n, n))
        stoch = np.broadcast_to(self._stoch[None, :], (n, n))
        bits = self._bits(pre, post, F.Kind.MODULATE, stoch)
        e = self.elig
        dw = F.modulation_delta(r, e, bits, stoch)
        w_new = _clip(self.weights + dw, self._wmin[None, :], self._wmax[None, :])
        e_new = F.decay_elig(e, self._ae[None, :], bits, stoch)
        sel = self.plastic & self._to_e[None, :]
        self.weights[...] = np.where(sel, w_new, self.weights)
        self.elig[...] = np.where(sel, e_new, e)

    # -- many timesteps --------------------------------------------------------------------

    def run(self, steps: int, forced: np.ndarray | Sequence[npt.ArrayLike] | None = None,
            record: Iterable[str] = ("spikes",), weights_every: int = 0,
            progress: Callable[[int, int], object] | None = None,
            modulators: Sequence[int | None] | None = None) -> Record:
        """Run ``steps`` timesteps and record what is asked for.

        forced
            ``None``; a bool array (steps, n); or a sequence of ``steps`` index lists.
        record
            Names out of ``spikes`` (always recorded), the NEURON_STATE fields
            ``v, i, acc, ref, x, y`` and the TRIPLET_STATE fields ``x2, y2``.
        weights_every
            Also keep a copy of the weight matrix (and of the eligibility, in
            ``Record.elig``) every that many steps (0: never).
        modulators
            ``None`` (no step is modulated) or ``steps`` entries, each ``None`` or a raw
            MODULATOR ``r`` for that step (see :meth:`step`).
        progress
            Optional callable ``progress(done, total)``.
        """
        steps = int(steps)
        if steps < 0:
            raise ValueError(f"number of steps must be >= 0, not {steps}")
        if forced is not None and len(forced) != steps:
            raise ValueError(f"forced spikes given for {len(forced)} steps, but running {steps}")
        if modulators is not None and len(modulators) != steps:
            raise ValueError(f"modulators given for {len(modulators)} steps, but running "
                             f"{steps}")
        fields = [r for r in record if r != "spikes"]
        known = [name for name, _ in NEURON_STATE] + [name for name, _ in TRIPLET_STATE]
        unknown = [r for r in fields if r not in known]
        if unknown:
            raise ValueError(f"cannot record {unknown}; choose from spikes, "
                             f"{', '.join(known)}")
        rec = Record(np.zeros((steps, self.n), bool),
                     {name: np.zeros((steps, self.n), np.int64) for name in fields})
        for k in range(steps):
            rec.spikes[k] = self.step(None if forced is None else forced[k],
                                      None if modulators is None else modulators[k])
            for name in fields:
                rec.state[name][k] = getattr(self, name)
            if weights_every and (k + 1) % weights_every == 0:
                rec.weights.append(self.weights.copy())
                rec.elig.append(self.elig.copy())
            if progress is not None:
                progress(k + 1, steps)
        return rec

r"""Network descriptions: populations, inputs, projections, STDP rules, recording.

The vocabulary is PyNN's and Brian2's, in SI units: times in **seconds**, potentials in
**volts** (or unitless: nothing here depends on the unit as long as potentials, weights and
bounds use the same one).

The model a description means
-----------------------------
A :class:`LIF` population is a current-based leaky integrate-and-fire neuron, discretised at
the network's timestep ``dt`` (step ``t``, all neurons in parallel)::

    I[t] = alpha_syn * I[t-1] + sum_j w[j] * s_j[t-1]                  (one-step synaptic delay)
    if refractory:  v[t] = v[t-1]                                      (v is held, I integrates)
    else:           v[t] = v_rest + alpha_mem * (v[t-1] - v_rest) + I[t] + g_bias * bias
    spike if v[t] >= v_threshold (or if forced), then v <- v_reset       (reset="value")
                                                   or v <- v - (v_threshold - v_rest)  ("subtract")
    (reset="deferred", snnTorch's subtract reset: spike if v[t] > v_threshold, v is left as it
     is, and the next step subtracts v_threshold - v_rest after the decay:
     v[t+1] = v_rest + alpha_mem * (v[t] - v_rest) + I[t+1] + g_bias * bias
              - (v_threshold - v_rest) * [v[t] > v_threshold];
     strict_threshold=True makes the other two fire on v > v_threshold as well)
    and the neuron is refractory for round(tau_refrac / dt) steps

with ``alpha_mem = exp(-dt/tau_mem)``, ``alpha_syn = exp(-dt/tau_syn)`` and
``g_bias = tau_mem * (1 - alpha_mem)`` (``= dt`` for ``tau_mem = inf``).  This is the exact
solution over one step of

.. math::

    \frac{dv}{dt} = \frac{v_{rest} - v}{\tau_{mem}} + \mathit{bias} + \frac{I(t)}{dt},
    \qquad \tau_{syn} \frac{dI}{dt} = -I

with the synaptic current held constant within a step.  So:

* a **weight** is in volts: it is the jump of ``I``, and ``I`` is added to ``v`` each step.
  With ``tau_syn = 0`` (``LIF`` without synaptic current, ``alpha_syn = 0``) a spike raises
  the potential of its target by exactly ``w`` one step after it was emitted (PyNN
  ``IF_curr_delta``, Brian2 ``on_pre='v += w'``); with ``tau_syn > 0`` it raises it by ``w``
  in that step and by ``w * alpha_syn**k`` ``k`` steps later (Loihi CUBA: ``u += w; v += u``);
* **bias** is a constant drive in volts per second (Brian2's ``I / tau_m`` with ``I`` in volts,
  PyNN's ``i_offset / cm``); alone it settles the potential at ``v_rest + tau_mem * bias``;
* ``tau_mem = inf`` is a perfect integrator (NIR ``IF``).

An STDP rule (:class:`STDP`) is the additive all-to-all pair rule of Brian2 and PyNN's
``SpikePairRule`` + ``AdditiveWeightDependence``: each neuron keeps a pre trace ``x`` (decay
``tau_plus``) and a post trace ``y`` (decay ``tau_minus``) that jump by 1 at its spikes; a post
spike adds ``A_plus * x_pre`` to the weight, a pre spike subtracts ``A_minus * y_post``, and
the weight is clipped to ``[w_min, w_max]``.  ``A_plus``, ``A_minus``, ``w_min``, ``w_max`` are
in the weight unit of the projection.  The exact order of the updates within a step is the
core's (``docs/model.md``, section 4.3).

Everything is checked when it is built: a bad value raises :class:`CompileError` (a
:class:`ValueError`) naming the population, projection or parameter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn, Self, TypeAlias, TypeVar

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "CompileError", "Network", "LIF", "Population", "InputPopulation",
    "SpikeTimes", "SpikeRaster", "Poisson",
    "AllToAll", "OneToOne", "FixedProbability", "Dense", "Sparse",
    "STDP", "TripletSTDP", "ThreeFactor", "Projection", "ROUNDING",
]


class CompileError(ValueError):
    """A network description or a compilation request is invalid.  Nothing is written."""


# -- value checks --------------------------------------------------------------------------------

def _finite(value: object, what: str, *, allow_inf: bool = False) -> np.ndarray:
    """``value`` as a float64 scalar or array; NaN (and inf unless allowed) is an error."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CompileError(f"{what} must be a number or an array of numbers, "
                           f"not {value!r}.") from None
    bad = np.isnan(a) if allow_inf else ~np.isfinite(a)
    if bad.any():
        raise CompileError(f"{what} must be finite, but it is {a[bad].ravel()[0]}.")
    return a


def _per_neuron(value: object, n: int, what: str, *,
                allow_inf: bool = False) -> np.ndarray:
    """A scalar or an ``n``-entry array, returned as an ``n``-entry float64 array."""
    a = _finite(value, what, allow_inf=allow_inf)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise CompileError(f"{what} must be a scalar or have {n} entries (one per neuron), "
                           f"but has shape {a.shape}.")
    return a.copy()


def _positive_time(value: object, what: str, *, allow_inf: bool = False,
                   allow_zero: bool = False) -> np.ndarray:
    a = _finite(value, what, allow_inf=allow_inf)
    bad = (a < 0) if allow_zero else (a <= 0)
    if bad.any():
        need = "non-negative" if allow_zero else "positive"
        raise CompileError(f"{what} must be a {need} time in seconds, "
                           f"but it is {a[bad].ravel()[0]}.")
    return a


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or not value.replace("_", "").replace(
            "-", "").replace(".", "").isalnum():
        raise CompileError(f"{what} must be a non-empty name of letters, digits, '_', '-' "
                           f"or '.', not {value!r}.")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise CompileError(f"{what} must be a positive integer, not {value!r}.")
    return int(value)


# -- neurons -----------------------------------------------------------------------------------

_RESET_MODES = ("value", "subtract", "deferred")


@dataclass(frozen=True)
class LIF:
    """Parameters of a current-based LIF population (PyNN ``IF_curr_exp``, NIR ``CubaLIF``).

    Every parameter is a scalar or an array with one entry per neuron.

    Parameters
    ----------
    tau_mem : float, seconds, > 0
        Membrane time constant; ``math.inf`` for a non-leaky integrate-and-fire neuron.
    tau_syn : float, seconds, >= 0
        Synaptic current time constant; 0 for no synaptic current (weights act on ``v`` in
        the next step only).
    v_threshold, v_rest, v_reset : float, volts
        Firing threshold (must be above ``v_rest``), resting potential, reset potential.
    reset : ``"value"``, ``"subtract"`` or ``"deferred"``
        After a spike ``v <- v_reset``, or ``v <- v - (v_threshold - v_rest)``; or
        (``"deferred"``, snnTorch's ``reset_mechanism="subtract"``) ``v`` is left as it is and
        the next step subtracts ``v_threshold - v_rest`` after the decay.
    strict_threshold : bool or None
        Fire on ``v > v_threshold`` (snnTorch, Norse) instead of ``v >= v_threshold``
        (PyNN, Brian2, Sinabs).  ``None``: strict for ``reset="deferred"`` (which is always
        strict), not strict otherwise.
    tau_refrac : float, seconds, >= 0
        Refractory time, realised as ``round(tau_refrac / dt)`` steps (0 to 255).
    bias : float, volts per second
        Constant drive (see the module docstring).
    """
    tau_mem: ArrayLike = 20e-3
    tau_syn: ArrayLike = 5e-3
    v_threshold: ArrayLike = 1.0
    v_rest: ArrayLike = 0.0
    v_reset: ArrayLike = 0.0
    reset: str = "value"
    tau_refrac: ArrayLike = 0.0
    bias: ArrayLike = 0.0
    strict_threshold: bool | None = None

    @property
    def strict(self) -> bool:
        """Whether the neurons fire on ``v > v_threshold`` (else on ``v >= v_threshold``)."""
        return self.reset == "deferred" if self.strict_threshold is None \
            else bool(self.strict_threshold)

    def resolve(self, n: int, where: str) -> dict[str, np.ndarray]:
        """All parameters as ``n``-entry float64 arrays (``reset`` stays a string); raises
        :class:`CompileError` naming ``where`` and the parameter for a bad value."""
        if self.reset not in _RESET_MODES:
            raise CompileError(f"{where}: reset must be 'value', 'subtract' or 'deferred', "
                               f"not {self.reset!r}.")
        if self.reset == "deferred" and self.strict_threshold is False:
            raise CompileError(f"{where}: reset='deferred' fires on v > v_threshold (the core's "
                               f"DEFERRED reset mode); strict_threshold=False cannot be had "
                               f"with it.")
        p = {
            "tau_mem": _per_neuron(_positive_time(self.tau_mem, f"{where}: tau_mem",
                                                  allow_inf=True), n, f"{where}: tau_mem",
                                   allow_inf=True),
            "tau_syn": _per_neuron(_positive_time(self.tau_syn, f"{where}: tau_syn",
                                                  allow_zero=True), n, f"{where}: tau_syn"),
            "v_threshold": _per_neuron(self.v_threshold, n, f"{where}: v_threshold"),
            "v_rest": _per_neuron(self.v_rest, n, f"{where}: v_rest"),
            "v_reset": _per_neuron(self.v_reset, n, f"{where}: v_reset"),
            "tau_refrac": _per_neuron(_positive_time(self.tau_refrac, f"{where}: tau_refrac",
                                                     allow_zero=True), n,
                                      f"{where}: tau_refrac"),
            "bias": _per_neuron(self.bias, n, f"{where}: bias"),
        }
        low = p["v_threshold"] <= p["v_rest"]
        if low.any():
            k = int(np.flatnonzero(low)[0])
            raise CompileError(f"{where}: v_threshold ({p['v_threshold'][k]}) must be above "
                               f"v_rest ({p['v_rest'][k]}) (neuron {k}).")
        return p


class Population:
    """``size`` LIF neurons sharing a name.  Create with :meth:`Network.population`."""

    def __init__(self, network: Network, name: str, size: int, cell: LIF) -> None:
        self.network = network
        self.name = name
        self.size = size
        if not isinstance(cell, LIF):
            raise CompileError(f"Population {name!r}: the cell type must be a LIF, "
                               f"not {type(cell).__name__}.")
        self.cell = cell
        self.params = cell.resolve(size, f"Population {name!r}")
        self.recorded: list[str] = []

    is_input = False

    def record(self, *variables: str) -> Self:
        """Record ``"spikes"`` and/or ``"v"`` (membrane potential, volts) of every neuron."""
        allowed = ("spikes",) if self.is_input else ("spikes", "v")
        for var in variables:
            if var not in allowed:
                raise CompileError(f"Population {self.name!r} cannot record {var!r}; choose "
                                   f"from {', '.join(allowed)}.")
            if var not in self.recorded:
                self.recorded.append(var)
        return self

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        kind = "InputPopulation" if self.is_input else "Population"
        return f"<{kind} {self.name!r} of {self.size}>"


# -- inputs ------------------------------------------------------------------------------------

class SpikeTimes:
    """Spike times in seconds, one sequence per neuron (``[[0.001, 0.020], [], ...]``).

    A time ``t`` fires in step ``round(t / dt)``; two spikes of one neuron in the same step
    are one spike (counted as a warning in the report).
    """

    def __init__(self, times: Iterable[ArrayLike]) -> None:
        self.times = [np.atleast_1d(_finite(t, "spike time")).astype(np.float64) for t in times]
        for k, t in enumerate(self.times):
            if t.ndim != 1:
                raise CompileError(f"Spike times of neuron {k} must be a flat sequence.")
            if t.size and t.min() < 0:
                raise CompileError(f"Spike times must be >= 0 s, but neuron {k} has {t.min()}.")

    def size(self) -> int:
        return len(self.times)

    def raster(self, n: int, dt: float, steps: int | None,
               where: str) -> tuple[np.ndarray, list[str], float]:
        """``(raster, warnings, worst timing error in s)`` for ``steps`` steps (None: as
        long as the source)."""
        notes: list[str] = []
        if len(self.times) != n:
            raise CompileError(f"{where}: spike times are given for {len(self.times)} neurons, "
                               f"but the population has {n}.")
        last = max((float(t.max()) for t in self.times if t.size), default=-1.0)
        need = int(round(last / dt)) + 1 if last >= 0 else 0
        steps = need if steps is None else steps
        out = np.zeros((steps, n), bool)
        merged = dropped = 0
        worst = 0.0
        for k, t in enumerate(self.times):
            s = np.rint(t / dt).astype(np.int64)
            worst = max(worst, float(np.abs(s * dt - t).max()) if t.size else 0.0)
            inside = s[s < steps]
            dropped += s.size - inside.size
            merged += inside.size - np.unique(inside).size
            out[inside, k] = True
        if merged:
            notes.append(f"{where}: {merged} spikes fell into the same step as another spike "
                         f"of the same neuron and were merged.")
        if dropped:
            notes.append(f"{where}: {dropped} spikes after the end of the run were dropped.")
        return out, notes, worst


class SpikeRaster:
    """A boolean raster, shape ``(steps, n)``: ``raster[t, k]`` means neuron ``k`` fires in
    step ``t``."""

    def __init__(self, raster: ArrayLike) -> None:
        a = np.asarray(raster)
        if a.ndim != 2:
            raise CompileError(f"A spike raster must be a 2-D (steps, neurons) array, "
                               f"not shape {a.shape}.")
        if a.dtype != bool:
            if not np.isin(a, (0, 1)).all():
                raise CompileError("A spike raster must be boolean (or 0/1).")
            a = a.astype(bool)
        self.array = a

    def size(self) -> int:
        return self.array.shape[1]

    def raster(self, n: int, dt: float, steps: int | None,
               where: str) -> tuple[np.ndarray, list[str], float]:
        """``(raster, warnings, worst timing error in s)`` for ``steps`` steps (None: as
        long as the source)."""
        notes: list[str] = []
        if self.array.shape[1] != n:
            raise CompileError(f"{where}: the spike raster has {self.array.shape[1]} columns, "
                               f"but the population has {n} neurons.")
        if steps is None:
            return self.array.copy(), notes, 0.0
        out = np.zeros((steps, n), bool)
        k = min(steps, self.array.shape[0])
        out[:k] = self.array[:k]
        if self.array[k:].any():
            notes.append(f"{where}: {int(self.array[k:].sum())} spikes after the end of the run "
                         f"were dropped.")
        return out, notes, 0.0


class Poisson:
    """Independent Poisson spike trains at ``rate`` Hz (scalar or one per neuron), between
    ``start`` and ``stop`` seconds (default: the whole run), drawn from ``seed``.

    Discretised as one Bernoulli draw per step with probability ``rate * dt`` (which must be
    at most 1), from ``numpy.random.default_rng(seed)``: the same seed gives the same spikes.
    """

    # Declared here: mypy takes an ``int`` never to be a ``numbers.Integral``, so it deems
    # the rest of ``__init__`` unreachable after the seed check and infers nothing from it.
    rate: np.ndarray
    seed: int
    start: float
    stop: float | None

    def __init__(self, rate: ArrayLike, seed: int, start: float = 0.0,
                 stop: float | None = None) -> None:
        self.rate = _finite(rate, "Poisson rate")
        if (self.rate < 0).any():
            raise CompileError(f"Poisson rate must be >= 0 Hz, not {self.rate.min()}.")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise CompileError(f"Poisson seed must be a non-negative integer, not {seed!r}.")
        self.seed = int(seed)
        self.start = float(_positive_time(start, "Poisson start", allow_zero=True))
        self.stop = None if stop is None else float(_positive_time(stop, "Poisson stop"))

    def size(self) -> int | None:
        return None if self.rate.ndim == 0 else self.rate.shape[0]

    def raster(self, n: int, dt: float, steps: int | None,
               where: str) -> tuple[np.ndarray, list[str], float]:
        """``(raster, warnings, worst timing error in s)`` for ``steps`` steps (None: as
        long as the source)."""
        notes: list[str] = []
        if steps is None:
            if self.stop is None:
                raise CompileError(f"{where}: a Poisson input needs a stop time or a network "
                                   f"duration to know how many steps to draw.")
            steps = int(round(self.stop / dt))
        rate = _per_neuron(self.rate, n, f"{where}: Poisson rate")
        p = rate * dt
        if (p > 1).any():
            raise CompileError(f"{where}: Poisson rate {rate.max()} Hz is more than one spike "
                               f"per step of {dt} s.")
        rng = np.random.default_rng(self.seed)
        out = rng.random((steps, n)) < p
        t = np.arange(steps) * dt
        stop = math.inf if self.stop is None else self.stop
        out[(t < self.start - dt / 2) | (t >= stop - dt / 2)] = False
        return out, notes, 0.0


class InputPopulation(Population):
    """``size`` neurons that only fire when the host forces them (spike sources)."""

    is_input = True

    def __init__(self, network: Network, name: str, size: int,
                 source: SpikeTimes | SpikeRaster | Poisson | None) -> None:
        self.network = network
        self.name = name
        self.size = size
        if not isinstance(source, (SpikeTimes, SpikeRaster, Poisson)) and source is not None:
            raise CompileError(f"Input population {name!r}: spikes must be SpikeTimes, "
                               f"SpikeRaster or Poisson, not {type(source).__name__}.")
        if source is not None and source.size() not in (None, size):
            raise CompileError(f"Input population {name!r} has {size} neurons, but its spike "
                               f"source describes {source.size()}.")
        self.source = source
        self.recorded: list[str] = []


# -- connectivity ------------------------------------------------------------------------------

class _Connector:
    def build(self, n_pre: int, n_post: int, same: bool,
              where: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(weights, mask)``: float64 and bool arrays of shape (n_pre, n_post)."""
        raise NotImplementedError


def _weight_matrix(weight: ArrayLike, shape: tuple[int, int], where: str) -> np.ndarray:
    w = _finite(weight, f"{where}: weight")
    if w.ndim == 0:
        return np.full(shape, float(w))
    if w.shape != shape:
        raise CompileError(f"{where}: weight has shape {w.shape}, but the connection needs a "
                           f"scalar or shape {shape} (pre, post).")
    return w.copy()


class AllToAll(_Connector):
    """Every pre neuron to every post neuron with ``weight`` (scalar or (pre, post) array).
    ``allow_self_connections=False`` drops ``i -> i`` when a population projects to itself."""

    def __init__(self, weight: ArrayLike, allow_self_connections: bool = True) -> None:
        self.weight = weight
        self.allow_self_connections = allow_self_connections

    def build(self, n_pre: int, n_post: int, same: bool,
              where: str) -> tuple[np.ndarray, np.ndarray]:
        w = _weight_matrix(self.weight, (n_pre, n_post), where)
        mask = np.ones((n_pre, n_post), bool)
        if same and not self.allow_self_connections:
            np.fill_diagonal(mask, False)
        return np.where(mask, w, 0.0), mask


class OneToOne(_Connector):
    """Pre neuron ``k`` to post neuron ``k`` with ``weight`` (scalar or one per pair)."""

    def __init__(self, weight: ArrayLike) -> None:
        self.weight = weight

    def build(self, n_pre: int, n_post: int, same: bool,
              where: str) -> tuple[np.ndarray, np.ndarray]:
        if n_pre != n_post:
            raise CompileError(f"{where}: OneToOne needs populations of equal size, not "
                               f"{n_pre} and {n_post}.")
        w = _per_neuron(self.weight, n_pre, f"{where}: weight")
        mask = np.eye(n_pre, dtype=bool)
        return np.diag(w), mask


class FixedProbability(_Connector):
    """Each pair connected independently with probability ``p``, drawn from ``seed``
    (``numpy.random.default_rng``), with ``weight`` (scalar or (pre, post) array)."""

    # Declared here for the reason given in Poisson.
    p: float
    weight: ArrayLike
    seed: int
    allow_self_connections: bool

    def __init__(self, p: float, weight: ArrayLike, seed: int,
                 allow_self_connections: bool = True) -> None:
        p = float(_finite(p, "connection probability"))
        if not 0 <= p <= 1:
            raise CompileError(f"Connection probability must be in [0, 1], not {p}.")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise CompileError(f"FixedProbability seed must be a non-negative integer, "
                               f"not {seed!r}.")
        self.p, self.weight, self.seed = p, weight, int(seed)
        self.allow_self_connections = allow_self_connections

    def build(self, n_pre: int, n_post: int, same: bool,
              where: str) -> tuple[np.ndarray, np.ndarray]:
        w = _weight_matrix(self.weight, (n_pre, n_post), where)
        mask = np.random.default_rng(self.seed).random((n_pre, n_post)) < self.p
        if same and not self.allow_self_connections:
            np.fill_diagonal(mask, False)
        return np.where(mask, w, 0.0), mask


class Dense(_Connector):
    """A dense (pre, post) weight matrix: every pair is a synapse (zero weights included,
    which matters for learning projections, where they can grow)."""

    def __init__(self, weights: ArrayLike) -> None:
        self.weights = weights

    def build(self, n_pre: int, n_post: int, same: bool,
              where: str) -> tuple[np.ndarray, np.ndarray]:
        w = _finite(self.weights, f"{where}: weight matrix")
        if w.shape != (n_pre, n_post):
            raise CompileError(f"{where}: the weight matrix has shape {w.shape}, but the "
                               f"populations need ({n_pre}, {n_post}) (pre, post).")
        return w.copy(), np.ones(w.shape, bool)


class Sparse(_Connector):
    """A list of synapses ``(pre_index, post_index, weight)``."""

    def __init__(self, synapses: Iterable[tuple[int, int, float]]) -> None:
        self.synapses = list(synapses)

    def build(self, n_pre: int, n_post: int, same: bool,
              where: str) -> tuple[np.ndarray, np.ndarray]:
        w = np.zeros((n_pre, n_post))
        mask = np.zeros((n_pre, n_post), bool)
        for k, item in enumerate(self.synapses):
            try:
                i, j, weight = item
            except (TypeError, ValueError):
                raise CompileError(f"{where}: synapse {k} must be (pre, post, weight), "
                                   f"not {item!r}.") from None
            for idx, size, role in ((i, n_pre, "pre"), (j, n_post, "post")):
                if (isinstance(idx, bool) or not isinstance(idx, numbers.Integral)
                        or not 0 <= idx < size):
                    raise CompileError(f"{where}: synapse {k} has {role} index {idx!r}, outside "
                                       f"[0, {size - 1}].")
            if mask[i, j]:
                raise CompileError(f"{where}: synapse ({i}, {j}) is listed twice.")
            w[i, j] = float(_finite(weight, f"{where}: weight of synapse {k}"))
            mask[i, j] = True
        return w, mask


#: What :meth:`Network.connect` accepts as connectivity: a connector, a dense (pre, post) weight
#: matrix or a list of ``(pre, post, weight)`` synapses.
Connectivity: TypeAlias = (
    "_Connector | np.ndarray | Sequence[Sequence[float]] | list[tuple[int, int, float]]")


def _as_connector(conn: Connectivity, where: str) -> _Connector:
    if isinstance(conn, _Connector):
        return conn
    if isinstance(conn, (np.ndarray, list, tuple)) and np.ndim(conn) == 2 and not (
            len(conn) and isinstance(conn, list) and isinstance(conn[0], tuple)):
        return Dense(conn)
    if isinstance(conn, list):
        return Sparse(conn)
    raise CompileError(f"{where}: connectivity must be a connector (AllToAll, OneToOne, "
                       f"FixedProbability, Dense, Sparse), a 2-D weight matrix or a list of "
                       f"(pre, post, weight), not {type(conn).__name__}.")


#: The rounding modes of an update (:class:`plasticore.core.Rounding`).
ROUNDING = ("nearest", "stochastic")


@dataclass(frozen=True)
class STDP:
    """Additive pair-based STDP (PyNN ``SpikePairRule`` + ``AdditiveWeightDependence``).

    ``tau_plus``, ``tau_minus`` in seconds (> 0); ``A_plus``, ``A_minus`` (>= 0: magnitudes of
    potentiation and depression), ``w_min``, ``w_max`` in the projection's weight unit.
    ``rounding``: how the core rounds each update to whole weight LSBs, ``"nearest"`` (ties
    up) or ``"stochastic"`` (up with probability equal to the fraction: unbiased on average,
    which matters when updates are a few LSBs; docs/model.md, section 4.7).
    """
    tau_plus: float = 20e-3
    tau_minus: float = 20e-3
    A_plus: float = 0.01
    A_minus: float = 0.012
    w_min: float = 0.0
    w_max: float = 1.0
    rounding: str = "nearest"

    @property
    def triplet(self) -> bool:
        return False

    def check(self, where: str) -> Self:
        if self.rounding not in ROUNDING:
            raise CompileError(f"{where}: STDP rounding must be one of {', '.join(ROUNDING)}, "
                               f"not {self.rounding!r}.")
        for name in ("tau_plus", "tau_minus"):
            _positive_time(getattr(self, name), f"{where}: STDP {name}")
        for name in ("A_plus", "A_minus", "w_min", "w_max"):
            v = _finite(getattr(self, name), f"{where}: STDP {name}")
            if v.ndim:
                raise CompileError(f"{where}: STDP {name} must be a scalar.")
        for name in ("A_plus", "A_minus"):
            if getattr(self, name) < 0:
                raise CompileError(f"{where}: STDP {name} must be >= 0 (it is a magnitude), "
                                   f"not {getattr(self, name)}.")
        if self.w_min > self.w_max:
            raise CompileError(f"{where}: STDP w_min ({self.w_min}) is above w_max "
                               f"({self.w_max}).")
        return self

    def as_dict(self) -> dict[str, float | str]:
        out: dict[str, float | str] = {k: float(getattr(self, k)) for k in
                                       ("tau_plus", "tau_minus", "A_plus", "A_minus", "w_min",
                                        "w_max")}
        out["rounding"] = self.rounding
        return out

    @property
    def stdp(self) -> STDP:
        """The STDP part of the rule (itself)."""
        return self

    @property
    def tau_e(self) -> float | None:
        """Eligibility time constant (None: the rule changes the weights directly)."""
        return None


@dataclass(frozen=True)
class TripletSTDP(STDP):
    """Triplet STDP (Pfister & Gerstner 2006, minimal all-to-all model), additive.

    Besides the pair traces (``tau_plus`` of the pre neuron, ``tau_minus`` of the post
    neuron) each neuron keeps a slow trace: ``tau_x`` (pre) and ``tau_y`` (post), jumping by
    1 at its spikes.  A post spike adds ``x_pre * (A_plus + A3_plus * y2_post)``, a pre
    spike subtracts ``y_post * (A_minus + A3_minus * x2_pre)``, with the slow traces taken
    just before the spike's own jump.  ``A3_plus = A3_minus = 0`` is the pair rule.  The
    defaults are the minimal visual-cortex fit of Pfister & Gerstner (Table 4: tau_x = 101
    ms, tau_y = 125 ms); amplitudes are in the projection's weight unit.
    """
    A3_plus: float = 0.0
    A3_minus: float = 0.0
    tau_x: float = 101e-3
    tau_y: float = 125e-3

    @property
    def triplet(self) -> bool:
        return True

    def check(self, where: str) -> Self:
        super().check(where)
        for name in ("tau_x", "tau_y"):
            _positive_time(getattr(self, name), f"{where}: STDP {name}")
        for name in ("A3_plus", "A3_minus"):
            v = _finite(getattr(self, name), f"{where}: STDP {name}")
            if v.ndim or v < 0:
                raise CompileError(f"{where}: STDP {name} must be a scalar >= 0 (it is a "
                                   f"magnitude), not {getattr(self, name)}.")
        return self

    def as_dict(self) -> dict[str, float | str]:
        out = super().as_dict()
        out.update({k: float(getattr(self, k)) for k in ("A3_plus", "A3_minus", "tau_x",
                                                          "tau_y")})
        return out


@dataclass(frozen=True)
class ThreeFactor:
    """Three-factor (reward-modulated) learning: the updates of ``stdp`` go into a
    per-synapse eligibility ``e`` instead of the weight, and the network's reward
    (:meth:`Network.reward`) moves the weight by ``reward * e`` every step; ``e`` decays
    with time constant ``tau_e`` (seconds, > 0, or ``inf``: no decay).

    ``e`` is in the projection's weight unit, with 1/4 weight LSB resolution and a range of
    about +-16 weight LSBs (saturating); a reward is in [-8, 8) with 1/16 resolution.  The
    compiled program modulates every step (reward 0 where none is given), which is what
    makes ``e`` decay every step; on hardware a modulated step costs a pass over the
    synapses (docs/model.md, section 4.6).
    """
    stdp: STDP
    tau_e: float = 0.5

    def check(self, where: str) -> Self:
        if not isinstance(self.stdp, STDP):
            raise CompileError(f"{where}: ThreeFactor needs an STDP rule, not "
                               f"{type(self.stdp).__name__}.")
        self.stdp.check(where)
        _positive_time(self.tau_e, f"{where}: ThreeFactor tau_e", allow_inf=True)
        return self

    def __getattr__(self, name: str) -> object:
        # tau_plus, A_plus, w_min, rounding, triplet, ... are the STDP rule's.
        if name.startswith("__") or name in ("stdp", "tau_e"):
            raise AttributeError(name)
        return getattr(self.stdp, name)

    def as_dict(self) -> dict[str, float | str]:
        out = self.stdp.as_dict()
        out["tau_e"] = float(self.tau_e)
        out["kind"] = type(self.stdp).__name__
        return out


class Projection:
    """Synapses from ``pre`` to ``post``; create with :meth:`Network.connect`.

    Attributes ``weights`` (float64, (pre, post)) and ``mask`` (bool: which pairs are
    synapses) are built once, when the projection is made.
    """

    def __init__(self, network: Network, name: str, pre: Population, post: Population,
                 connector: Connectivity, stdp: STDP | ThreeFactor | None) -> None:
        self.network, self.name, self.pre, self.post = network, name, pre, post
        where = f"Projection {name!r}"
        if post.is_input:
            raise CompileError(f"{where}: the target {post.name!r} is an input population; "
                               f"inputs cannot receive synapses.")
        self.connector = _as_connector(connector, where)
        self.weights, self.mask = self.connector.build(pre.size, post.size, pre is post, where)
        self.stdp = None if stdp is None else (
            stdp.check(where) if isinstance(stdp, (STDP, ThreeFactor))
            else _bad_stdp(stdp, where))
        if self.stdp is not None:
            w = self.weights[self.mask]
            out = (w < self.stdp.w_min) | (w > self.stdp.w_max)
            if out.any():
                raise CompileError(f"{where}: initial weight {w[out][0]} of a learning synapse "
                                   f"is outside the STDP bounds [{self.stdp.w_min}, "
                                   f"{self.stdp.w_max}].")
        self.weights_every: int | None = None

    def record_weights(self, every: int | None = None) -> Self:
        """Record the weights at the end of the run, and every ``every`` steps if given."""
        if every is not None:
            _count(every, f"Projection {self.name!r}: weight recording interval")
        self.weights_every = 0 if every is None else int(every)
        return self

    @property
    def learning(self) -> bool:
        return self.stdp is not None

    def __repr__(self) -> str:
        rule = f", {type(self.stdp).__name__}" if self.stdp else ""
        return f"<Projection {self.name!r}: {self.pre.name} -> {self.post.name}{rule}>"


def _bad_stdp(stdp: object, where: str) -> NoReturn:
    raise CompileError(f"{where}: stdp must be an STDP, TripletSTDP or ThreeFactor rule, not "
                       f"{type(stdp).__name__}.")


_PopT = TypeVar("_PopT", bound=Population)


class Network:
    """A network description: populations, inputs, projections, what to record, ``dt``.

    Parameters
    ----------
    dt : float, seconds
        The timestep: every time constant is discretised with it.
    duration : float, seconds, optional
        How long the inputs run; needed for Poisson inputs without a stop time.  Without it
        the input raster ends with the last given spike.
    name : str
        For messages and the program header.

    >>> net = Network(dt=1e-3, duration=0.2)
    >>> inp = net.inputs("in", 20, Poisson(rate=50.0, seed=1))
    >>> exc = net.population("exc", 4, LIF(tau_mem=20e-3, tau_syn=5e-3, v_threshold=1.0))
    >>> proj = net.connect(inp, exc, AllToAll(0.05), stdp=STDP(w_max=0.2))
    >>> _ = exc.record("spikes", "v")
    """

    def __init__(self, dt: float, duration: float | None = None, name: str = "network") -> None:
        dt = float(_positive_time(dt, "Network dt"))
        self.dt = dt
        self.duration = None if duration is None else float(
            _positive_time(duration, "Network duration"))
        self.name = _name(name, "Network name")
        self.populations: dict[str, Population] = {}
        self.projections: dict[str, Projection] = {}
        #: Remarks of importers about approximations, copied into the report's warnings.
        self.notes: list[str] = []
        #: The reward schedule: (times in s, values), see :meth:`reward`.
        self.rewards: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        #: Modulator populations: population name -> reward per spike of each neuron, see
        #: :meth:`reward_from`.
        self.reward_neurons: dict[str, np.ndarray] = {}

    def reward(self, times: ArrayLike, values: ArrayLike) -> Self:
        """The modulator of three-factor learning: reward ``values[k]`` (in [-8, 8), 1/16
        resolution; it multiplies the eligibility) in the step that contains ``times[k]``
        (seconds, >= 0); every other step has reward 0.  Replaces an earlier schedule.
        Rewards of the same step add up."""
        t = _finite(times, "Reward times").reshape(-1)
        v = _finite(values, "Reward values").reshape(-1)
        if t.shape != v.shape:
            raise CompileError(f"Reward times ({t.size}) and values ({v.size}) must have the "
                               f"same length.")
        if t.size and t.min() < 0:
            raise CompileError(f"Reward times must be >= 0, not {t.min()}.")
        self.rewards = (t.astype(np.float64), v.astype(np.float64))
        return self

    def reward_from(self, population: Population | str, weight: ArrayLike) -> Self:
        """Make ``population`` a modulator population (dopamine neurons, a reward input): a
        spike of its neuron ``k`` adds ``weight[k]`` (a scalar for all, in [-8, 8) with
        1/16 resolution) to the reward of the step it fires in, on top of the schedule of
        :meth:`reward`; the step's total saturates at [-8, 7.9375].  Computed by the core
        itself (no host round trip): the reward acts in the step of the spike.  Replaces an
        earlier call for the same population; ``weight`` 0 removes it."""
        pop = self._lookup(population, "modulator population")
        w = _finite(weight, f"Reward weight of {pop.name!r}")
        if w.ndim > 1 or (w.ndim == 1 and w.size != pop.size):
            raise CompileError(f"Reward weight of {pop.name!r} must be a scalar or "
                               f"{pop.size} values (one per neuron), not shape {w.shape}.")
        w = np.broadcast_to(w, (pop.size,)).astype(np.float64)
        if w.any():
            self.reward_neurons[pop.name] = w
        else:
            self.reward_neurons.pop(pop.name, None)
        return self

    def _add(self, pop: _PopT) -> _PopT:
        if pop.name in self.populations:
            raise CompileError(f"A population named {pop.name!r} already exists.")
        self.populations[pop.name] = pop
        return pop

    def population(self, name: str, size: int, cell: LIF | None = None) -> Population:
        """Add ``size`` LIF neurons with parameters ``cell`` (default ``LIF()``)."""
        _name(name, "Population name")
        return self._add(Population(self, name, _count(size, f"Size of population {name!r}"),
                                    LIF() if cell is None else cell))

    def inputs(self, name: str, size: int,
               spikes: SpikeTimes | SpikeRaster | Poisson | None = None) -> InputPopulation:
        """Add ``size`` input neurons fired by ``spikes`` (:class:`SpikeTimes`,
        :class:`SpikeRaster` or :class:`Poisson`; ``None``: silent)."""
        _name(name, "Input population name")
        return self._add(InputPopulation(self, name, _count(size, f"Size of input {name!r}"),
                                         spikes))

    def _lookup(self, pop: Population | str, role: str) -> Population:
        if isinstance(pop, str):
            if pop not in self.populations:
                raise CompileError(f"Unknown population {pop!r} as {role}; the network has "
                                   f"{', '.join(self.populations) or 'no populations'}.")
            return self.populations[pop]
        if isinstance(pop, Population) and self.populations.get(pop.name) is pop:
            return pop
        name = getattr(pop, "name", pop)
        raise CompileError(f"Unknown population {name!r} as {role}: it is not part of network "
                           f"{self.name!r}.")

    def connect(self, pre: Population | str, post: Population | str, connectivity: Connectivity,
                stdp: STDP | ThreeFactor | None = None, name: str | None = None) -> Projection:
        """Add a projection; ``connectivity`` is a connector, a dense (pre, post) matrix or
        a list of ``(pre, post, weight)``.  ``stdp``: an :class:`STDP`,
        :class:`TripletSTDP` or :class:`ThreeFactor` rule to make it learn."""
        pre, post = self._lookup(pre, "pre-synaptic population"), self._lookup(
            post, "post-synaptic population")
        name = name or f"{pre.name}->{post.name}"
        if not isinstance(name, str) or not name:
            raise CompileError(f"Projection name must be a non-empty string, not {name!r}.")
        if name in self.projections:
            raise CompileError(f"A projection named {name!r} already exists; pass name=... .")
        proj = Projection(self, name, pre, post, connectivity, stdp)
        self.projections[name] = proj
        return proj

    def record(self, population: Population | str, *variables: str) -> Population:
        """Same as ``population.record(*variables)``; ``population`` may be a name."""
        return self._lookup(population, "recorded population").record(*variables)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.populations.values())

    def __repr__(self) -> str:
        return (f"<Network {self.name!r}: {len(self.populations)} populations, "
                f"{self.size} neurons, {len(self.projections)} projections, dt={self.dt}>")

r"""Export of a compiled (or learned) :class:`~plasticore.compiler.Program` as a NIR graph.

:func:`to_nir` writes what the core *realises*, not what was requested: every parameter is
read back from the program's integer words and converted to continuous time with the
program's ``dt``, in the units :func:`~plasticore.compiler.from_nir` expects, so that

.. code-block:: python

    net = from_nir(to_nir(program), dt=program.dt, method="exp", reset=..., refractory=...,
                   stdp=...)
    compile_network(net, n=program.n).config        # == program.config, word for word

for every part NIR can carry.  The graph: an ``Input`` per input population, per neuron
population an ``IF`` (no leak, no synaptic current), ``LIF`` (``alpha_i = 0``) or
``CubaLIF``, a ``Linear`` per projection (an ``Affine`` for the first projection into a
population with a bias; a population with a bias and no projection gets a zero-weight
``Affine`` from itself), and an ``Output`` per population whose spikes are recorded.

Conversion (``method`` must be the one the graph will be imported with):

* ``tau`` from the 15-bit decay word ``alpha``: ``tau = -dt / ln(alpha)`` (``"exp"``) or
  ``tau = dt / (1 - alpha)`` (``"euler"``); ``alpha = 1`` is ``tau = inf``; ``alpha = 0``
  becomes a ``tau`` short enough to decay to 0 (``dt / 20``, Euler ``dt``).
* ``r = 1 / (1 - alpha_mem)`` and ``w_in = 1 / (1 - alpha_syn)`` (``r = 1 / dt`` for ``IF``)
  so that the importer's weight factor is 1: a ``Linear`` weight is the realised weight in
  volts, ``(post, pre)``.  ``v_leak`` is the population's rest potential, thresholds and
  resets are ``v_rest + raw / lsb_per_volt``; an ``Affine`` bias is the per-step increment.
* Deliberate off-grid values: the compiler picks each population's weight scale from its
  largest weight, and an exactly realised weight of -64 (or -128) LSB would let it pick a
  finer scale on import.  Those weights are exported 0.4 LSB off that value (outwards at
  -64, inwards at the -128 rail), which rounds back to the same integer and keeps the
  scale; every other value is exact to a few ulps, far from a rounding boundary.

NIR cannot carry, and the round trip therefore needs alongside: STDP rules (``stdp=`` of
``from_nir``, in the exported weight unit, i.e. volts; the learning words then match) and
the plastic bits (the importer's projection learns on every (pre, post) pair of a learning
node, so a sparse learning projection comes back plastic on its whole block), the
reset mode (``reset=``, one for the whole graph: a program mixing value and subtract
resets cannot be reproduced), the refractory period (``refractory=``, one for the whole
graph), the input spikes (``inputs=``), ``record("v")`` and weight recording.  A
population with synaptic current but no membrane leak (``alpha_v = 1``, ``alpha_i > 0``)
or with mixed leaky/non-leaky or mixed current/no-current neurons has no NIR node and is
an error.  ``nir.write`` / ``nir.read`` list the nodes by name, and ``from_nir`` allocates
populations in node order: after a file round trip each population's words are the same,
at neurons allocated in name order.  Learned weights (``weights=``) reproduce exactly if,
with the rule's bounds passed through ``stdp=``, they select the program's weight scale
(they always do when the bounds dominate).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from plasticore import fixed as F

from .network import CompileError
from .nir_import import METHODS

if TYPE_CHECKING:
    from nir import NIRGraph, NIRNode

    from .program import Program

__all__ = ["to_nir"]

#: Weights of exactly these LSB values are exported as these values (module docstring).
_NUDGE = {-64: -64.4, -128: -127.6}


def _nir() -> ModuleType:
    try:
        import nir
    except ImportError:                                      # pragma: no cover
        raise CompileError("NIR export needs the 'nir' package (pip install nir).") from None
    return nir


def _tau(raw: np.ndarray, dt: float, method: str) -> np.ndarray:
    """The time constant that ``from_nir(method=...)`` maps back onto decay word ``raw``."""
    a = raw.astype(np.float64) / F.DECAY_ONE
    with np.errstate(divide="ignore"):
        if method == "exp":
            tau = np.where(a >= 1, np.inf, -dt / np.log(np.where(a > 0, a, 0.5)))
            return np.where(a <= 0, dt / 20, tau)
        return np.where(a >= 1, np.inf, dt / np.where(a < 1, 1 - a, 1.0))


def _uniform(flags: np.ndarray, what: str, name: str) -> bool:
    if flags.all() or not flags.any():
        return bool(flags.all())
    raise CompileError(f"Population {name!r} mixes neurons {what} and without; no NIR node "
                       f"describes it.")


def _neuron_node(nir: ModuleType, program: Program, name: str, sl: slice,
                 method: str) -> tuple[NIRNode, np.ndarray]:
    """The NIR node of population ``name`` and the Affine bias that reproduces its bias word
    (zero if it has none)."""
    words = program.config.neurons
    dt = program.dt
    lsb, v0 = program.lsb_per_volt[sl], program.v_offset[sl]
    av, ai = np.asarray(words["alpha_v"][sl]), np.asarray(words["alpha_i"][sl])
    th = np.asarray(words["threshold"][sl]) / lsb
    reset = np.asarray(words["v_reset"][sl]) / lsb
    bias_step = np.asarray(words["bias"][sl]) / lsb
    no_leak = _uniform(av >= F.DECAY_ONE, "without leak", name)
    current = _uniform(ai > 0, "with synaptic current", name)
    if no_leak and current:
        raise CompileError(f"Population {name!r} has a synaptic current but no membrane leak, "
                           f"which the importer's CubaLIF cannot express (its weight factor "
                           f"1 - alpha_mem would be 0).")
    if no_leak:
        node = nir.IF(r=np.full(av.size, 1 / dt), v_threshold=th, v_reset=reset)
        return node, bias_step
    tau_m = _tau(av, dt, method)
    a_m = _import_alpha(tau_m, dt, method)
    r = 1 / (1 - a_m)
    if not current:
        node = nir.LIF(tau=tau_m, r=r, v_leak=v0.copy(), v_threshold=v0 + th,
                       v_reset=v0 + reset)
        return node, bias_step
    tau_s = _tau(ai, dt, method)
    a_s = _import_alpha(tau_s, dt, method)
    node = nir.CubaLIF(tau_syn=tau_s, tau_mem=tau_m, r=r, v_leak=v0.copy(),
                       v_threshold=v0 + th, v_reset=v0 + reset, w_in=1 / (1 - a_s))
    return node, bias_step * (1 - a_s)


def _import_alpha(tau: np.ndarray, dt: float, method: str) -> np.ndarray:
    """The ``alpha`` the importer computes from ``tau`` (as ``nir_import`` does)."""
    return np.exp(-dt / tau) if method == "exp" else 1 - dt / tau


def _weight_matrix(program: Program, weights: ArrayLike | None) -> np.ndarray:
    n = program.n
    if weights is None:
        return np.asarray(program.config.weights, np.int64)
    w = np.asarray(weights)
    if w.shape != (n, n):
        raise CompileError(f"The weight matrix has shape {w.shape}; the program's core has "
                           f"({n}, {n}) (row = pre).")
    if not np.issubdtype(w.dtype, np.integer):
        if not np.all(np.isfinite(w)) or not np.all(w == np.rint(w)):
            raise CompileError("The weight matrix must hold integer weight words (as read "
                               "back by read_weights()).")
    w = w.astype(np.int64)
    if w.min(initial=0) < F.WEIGHT.min or w.max(initial=0) > F.WEIGHT.max:
        raise CompileError(f"The weight matrix has words outside [{F.WEIGHT.min}, "
                           f"{F.WEIGHT.max}].")
    return w


def _volts(raw: np.ndarray, wlsb: np.ndarray) -> np.ndarray:
    """Integer weights (pre, post) to volts, with the scale-keeping nudges."""
    lsbs = raw.astype(np.float64)
    for k, v in _NUDGE.items():
        lsbs[raw == k] = v
    return lsbs * wlsb[None, :]


def to_nir(program: Program, weights: ArrayLike | None = None, *,
           method: str = "exp") -> NIRGraph:
    """The NIR graph of ``program`` (module docstring: what is exported, the conversion,
    and what NIR cannot carry).

    Parameters
    ----------
    weights : int (n, n) array, optional
        Weight words, row = pre, e.g. ``chip.read_weights()`` after learning; default the
        program's own.  Only the synapses of the program's projections are exported.
    method : ``"exp"`` or ``"euler"``
        The discretisation the graph is meant to be imported with (``from_nir(method=)``).
    """
    nir = _nir()
    if method not in METHODS:
        raise CompileError(f"NIR discretisation method must be 'exp' or 'euler', "
                           f"not {method!r}.")
    w_all = _weight_matrix(program, weights)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    biases: dict[str, np.ndarray] = {}
    for name, pop in program.populations.items():
        sl = slice(pop["start"], pop["stop"])
        if pop["input"]:
            nodes[name] = nir.Input(input_type=np.array([pop["stop"] - pop["start"]]))
            continue
        nodes[name], bias = _neuron_node(nir, program, name, sl, method)
        if np.any(bias != 0):
            biases[name] = bias
    for pname, pr in program.projections.items():
        pre, post = program.populations[pr["pre"]], program.populations[pr["post"]]
        block = w_all[pre["start"]:pre["stop"], post["start"]:post["stop"]]
        raw = np.where(np.asarray(pr["mask"], bool), block, 0)
        w = _volts(raw, program.weight_lsb[post["start"]:post["stop"]]).T
        if pr["post"] in biases:
            nodes[pname] = nir.Affine(weight=w, bias=biases.pop(pr["post"]))
        else:
            nodes[pname] = nir.Linear(weight=w)
        edges += [(pr["pre"], pname), (pname, pr["post"])]
    for name, bias in biases.items():                   # a bias without a projection
        size = bias.size
        bname = _free(nodes, f"{name}.bias")
        nodes[bname] = nir.Affine(weight=np.zeros((size, size)), bias=bias)
        edges += [(name, bname), (bname, name)]
    for name in program.record.get("spikes", []):
        size = program.populations[name]["stop"] - program.populations[name]["start"]
        oname = _free(nodes, f"{name}.out")
        nodes[oname] = nir.Output(output_type=np.array([size]))
        edges.append((name, oname))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _free(nodes: dict[str, Any], name: str) -> str:
    """``name``, or ``name`` with a number if a node has it already."""
    out, k = name, 1
    while out in nodes:
        k += 1
        out = f"{name}{k}"
    return out


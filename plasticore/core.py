"""Core geometry and the layouts of every word the core stores.

The layouts here are :class:`amaranth.lib.data.StructLayout` s whose fields are the
:class:`~plasticore.fixed.Format` s of :mod:`plasticore.fixed`.  The gateware stores and
views its memories through them; the host packs and unpacks the same words with
:meth:`Table.pack` / :meth:`Table.unpack`, which go through ``layout.const(...)`` and
``layout.from_bits(...)``.  The first field is the least significant bits (and so the first
byte on the wire, little-endian).

Per neuron the core keeps three words:

* :data:`NEURON_PARAMS` -- the LIF parameters (host-written configuration);
* :data:`LEARNING_PARAMS` -- the STDP parameters (host-written configuration);
* :data:`NEURON_STATE` -- the dynamic state, written by the core every step.

and per synapse one :data:`SYNAPSE` word (weight and plasticity enable bit), N x N of them,
row = pre-synaptic neuron, column = post-synaptic neuron.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

import numpy as np
import numpy.typing as npt
from amaranth.hdl import ShapeLike
from amaranth.lib import data

if TYPE_CHECKING:
    # mypy does not see amaranth.lib.enum.Enum as an enum (amaranth ships no type
    # information: its members would be plain ints); the standard one has the same members.
    import enum
else:
    from amaranth.lib import enum

from . import fixed as F

__all__ = [
    "N_MIN", "N_MAX", "N_DEFAULT", "CoreParams", "ResetMode", "Target", "Rounding",
    "OPTIONS", "OPTION_FIELDS", "NEURON_PARAMS", "LEARNING_PARAMS", "NEURON_STATE", "RULE_PARAMS",
    "TRIPLET_STATE", "SYNAPSE", "Table", "word_bytes",
    "CoreConfig",
]

N_MIN = 8
N_MAX = 1024
N_DEFAULT = 256


class ResetMode(enum.Enum, shape=2):
    """What a spike does to the membrane potential (``docs/model.md``, section 4.1)."""
    #: ``V <- v_reset``
    VALUE = 0
    #: ``V <- sat(V - threshold)``: keeps the overshoot, so rate coding stays linear.
    SUBTRACT = 1
    #: snnTorch's subtract reset: the neuron fires on ``V > threshold`` (strictly), the spike
    #: leaves ``V`` as it is, and the next update that starts from ``V > threshold`` subtracts
    #: the threshold after the decay (``V <- sat(decay(V) + I + bias - threshold)``).
    DEFERRED = 2


class Target(enum.Enum, shape=1):
    """Where the STDP updates of the synapses into a neuron go."""
    #: ``W`` itself (two-factor STDP).
    WEIGHT = 0
    #: The synapse's eligibility ``e``; a modulator moves ``W`` by ``round(r e)``.
    ELIGIBILITY = 1


class Rounding(enum.Enum, shape=1):
    """How the updates of the synapses into a neuron are rounded to whole LSBs."""
    #: To nearest, ties up (deterministic).
    NEAREST = 0
    #: Up with probability equal to the discarded fraction (unbiased), with counter-based
    #: random bits (:func:`plasticore.fixed.random_bits`).
    STOCHASTIC = 1


#: Elaboration options of a core, in the order of their bits in the IDENTITY ``options``
#: field: what a program may need beyond the pair rule with nearest rounding.
OPTIONS = ("stochastic", "eligibility", "triplet")


@dataclass(frozen=True)
class CoreParams:
    """Elaboration parameters of one core.

    ``n`` is the number of neurons, 8 to 1024.  All neurons share one N x N weight matrix;
    inputs are neurons that the host forces to fire.

    ``stochastic``, ``eligibility``, ``triplet`` are the learning options (:data:`OPTIONS`)
    a gateware build has: stochastic rounding, three-factor learning with per-synapse
    eligibility, triplet STDP.  A build without an option refuses programs that need it
    (:meth:`CoreConfig.needs`).  The reference model and the virtual chip have them all.
    """
    n: int = N_DEFAULT
    stochastic: bool = False
    eligibility: bool = False
    triplet: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)):
            raise TypeError(f"Number of neurons must be an integer, not {self.n!r}")
        if not N_MIN <= self.n <= N_MAX:
            raise ValueError(f"Number of neurons must be between {N_MIN} and {N_MAX}, "
                             f"not {self.n}")
        object.__setattr__(self, "n", int(self.n))
        for name in OPTIONS:
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Option {name} must be True or False, not "
                                f"{getattr(self, name)!r}")

    @classmethod
    def full(cls, n: int = N_DEFAULT) -> CoreParams:
        """A core of ``n`` neurons with every option."""
        return cls(n, **{name: True for name in OPTIONS})

    @property
    def options(self) -> frozenset[str]:
        """The names of the options this core has."""
        return frozenset(name for name in OPTIONS if getattr(self, name))

    @property
    def options_mask(self) -> int:
        """The options as bits (bit k = ``OPTIONS[k]``), as IDENTITY reports them."""
        return sum(1 << k for k, name in enumerate(OPTIONS) if getattr(self, name))

    @staticmethod
    def options_from_mask(mask: int) -> frozenset[str]:
        return frozenset(name for k, name in enumerate(OPTIONS) if mask >> k & 1)

    @property
    def synapses(self) -> int:
        return self.n * self.n

    @property
    def index_width(self) -> int:
        """Bits of a neuron index."""
        return max(1, (self.n - 1).bit_length())


NEURON_PARAMS = data.StructLayout({
    "threshold": F.THRESHOLD,
    "v_reset": F.V_RESET,
    "bias": F.BIAS,
    "alpha_v": F.DECAY,
    "alpha_i": F.DECAY,
    "refractory": F.REFRACTORY,
    "w_shift": F.W_SHIFT,
    "reset_mode": ResetMode,
})

LEARNING_PARAMS = data.StructLayout({
    # Pre-synaptic trace x of this neuron: read when a neuron it projects to spikes.
    "alpha_x": F.DECAY,
    "x_inc": F.TRACE_INC,
    # Post-synaptic trace y of this neuron: read when a neuron projecting to it spikes.
    "alpha_y": F.DECAY,
    "y_inc": F.TRACE_INC,
    # The rule of the synapses *into* this neuron (its column of the weight matrix).
    "a_plus": F.AMPLITUDE,
    "a_minus": F.AMPLITUDE,
    "w_min": F.WEIGHT,
    "w_max": F.WEIGHT,
})

#: The learning word of the options (:data:`OPTIONS`): the rounding mode and the target of
#: the rule of the synapses into this neuron, its eligibility decay, and triplet STDP
#: (Pfister & Gerstner 2006): the slow traces of this neuron and the triplet amplitudes of
#: the synapses into it; the modulator a spike of this neuron adds (three-factor).  A word of
#: its own (region RULE_PARAMS) so that a build without options keeps today's parameter
#: words; all zero is the pair rule to the weight with nearest rounding.
RULE_PARAMS = data.StructLayout({
    "rounding": Rounding,
    "target": Target,
    "alpha_e": F.DECAY,
    "alpha_x2": F.DECAY,
    "x2_inc": F.TRACE_INC,
    "alpha_y2": F.DECAY,
    "y2_inc": F.TRACE_INC,
    "a3_plus": F.AMPLITUDE,
    "a3_minus": F.AMPLITUDE,
    # Three-factor learning: what a spike of this neuron adds to its step's modulator r
    # (non-zero: a modulator neuron, e.g. a reward or dopamine population).
    "mod_weight": F.MODULATOR,
})

#: The RULE_PARAMS fields of each option: a core without the option holds them at zero.
OPTION_FIELDS = {"stochastic": ("rounding",), "eligibility": ("target", "alpha_e", "mod_weight"),
                 "triplet": ("alpha_x2", "x2_inc", "alpha_y2", "y2_inc", "a3_plus",
                             "a3_minus")}
TRIPLET_FIELDS = OPTION_FIELDS["triplet"]

#: The slow traces of a neuron (triplet STDP).
TRIPLET_STATE = data.StructLayout({
    "x2": F.TRACE,
    "y2": F.TRACE,
})

NEURON_STATE = data.StructLayout({
    "v": F.V,
    "i": F.I,
    "acc": F.ACC,
    "ref": F.REFRACTORY,
    "x": F.TRACE,
    "y": F.TRACE,
})

SYNAPSE = data.StructLayout({
    "weight": F.WEIGHT,
    "plastic": 1,
    "elig": F.ELIGIBILITY,
})

def word_bytes(layout: data.Layout) -> int:
    """Bytes of one word of ``layout`` in memory images and on the wire: its size rounded
    up to whole bytes, little-endian, padding bits zero."""
    return (data.Layout.cast(layout).size + 7) // 8


def _field_range(shape: ShapeLike) -> tuple[int, int]:
    if isinstance(shape, F.Format):
        return shape.min, shape.max
    if isinstance(shape, type) and issubclass(shape, enum.Enum):
        values = [m.value for m in shape]
        return min(values), max(values)
    width = data.Layout.cast(shape).size if isinstance(shape, data.Layout) else int(shape)
    return 0, (1 << width) - 1


class Table:
    """One word per neuron of a layout, held as one int64 array per field.

    This is how the reference model, the compiler and the driver hold parameters and state.
    Assigning a field checks its range and raises :class:`~plasticore.fixed.RangeError`
    naming the field and neuron; nothing is clipped.

    >>> t = Table(NEURON_PARAMS, 8)
    >>> t["threshold"][:] = 1 << 16
    >>> words = t.pack()          # list of ints, one per neuron, LSB = first field
    >>> Table.unpack(NEURON_PARAMS, words)["threshold"][0]
    65536
    """

    def __init__(self, layout: data.StructLayout, n: int,
                 **fields: npt.ArrayLike | enum.Enum) -> None:
        self.layout = layout
        self.n = int(n)
        self._fields: dict[str, np.ndarray] = {}
        for name, _ in layout:
            self._fields[name] = np.zeros(self.n, dtype=np.int64)
        for name, value in fields.items():
            self[name] = value

    @property
    def names(self) -> list[str]:
        return list(self._fields)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._fields[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a field of this layout; fields are "
                           f"{', '.join(self._fields)}") from None

    def __setitem__(self, name: str, value: npt.ArrayLike | enum.Enum) -> None:
        arr = self[name]
        shape = self.layout[name].shape
        values = np.asarray(value.value if isinstance(value, enum.Enum) else value)
        if values.dtype == object:
            values = np.vectorize(lambda v: v.value if isinstance(v, enum.Enum) else v)(values)
        lo, hi = _field_range(shape)
        fmt = shape if isinstance(shape, F.Format) else F.Format(name, 64, True, lo=lo, hi=hi)
        checked = fmt.check(np.broadcast_to(values, arr.shape), what=f"field {name!r}")
        arr[:] = checked

    def validate(self) -> None:
        """Raise :class:`~plasticore.fixed.RangeError` if any field holds an illegal value
        (possible only if the arrays were modified in place)."""
        for name in self._fields:
            self[name] = self._fields[name].copy()

    def copy(self) -> Table:
        t = Table(self.layout, self.n)
        for name, arr in self._fields.items():
            t._fields[name][:] = arr
        return t

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Table) and other.layout == self.layout and other.n == self.n
                and all(np.array_equal(self[k], other[k]) for k in self._fields))

    def row(self, index: int) -> dict[str, int]:
        """The fields of neuron ``index`` as a dict of ints."""
        return {name: int(arr[index]) for name, arr in self._fields.items()}

    def pack(self) -> list[int]:
        """One integer word per neuron, packed through the Amaranth layout."""
        self.validate()
        return [int(self.layout.const(self.row(k)).as_bits()) for k in range(self.n)]

    @classmethod
    def unpack(cls, layout: data.StructLayout, words: Iterable[int]) -> Self:
        """Inverse of :meth:`pack`."""
        words = list(words)
        t = cls(layout, len(words))
        for k, word in enumerate(words):
            view = layout.from_bits(int(word))
            for name, _ in layout:
                value = getattr(view, name) if not name.isdigit() else view[name]
                t._fields[name][k] = value.value if isinstance(value, enum.Enum) else int(value)
        t.validate()
        return t

    def to_bytes(self) -> bytes:
        """The packed words as bytes, :func:`word_bytes` per word, little-endian: the one
        byte form of a table (wire payloads, program files, memory images)."""
        size = word_bytes(self.layout)
        return b"".join(w.to_bytes(size, "little") for w in self.pack())

    @classmethod
    def from_bytes(cls, layout: data.StructLayout, raw: bytes) -> Self:
        """Inverse of :meth:`to_bytes`.  Raises :class:`ValueError` if ``raw`` is not a
        whole number of words or a word has padding bits set, and
        :class:`~plasticore.fixed.RangeError` if a field holds an illegal value."""
        size = word_bytes(layout)
        raw = bytes(raw)
        if len(raw) % size:
            raise ValueError(f"{len(raw)} bytes are not a whole number of {size}-byte words")
        words = [int.from_bytes(raw[k:k + size], "little") for k in range(0, len(raw), size)]
        for k, word in enumerate(words):
            if word >> layout.size:
                raise ValueError(f"word {k} has bits set above its layout's {layout.size} bits")
        return cls.unpack(layout, words)

    def __repr__(self) -> str:
        return f"<Table {self.n} x {len(self._fields)} fields: {', '.join(self._fields)}>"


class CoreConfig:
    """Everything the host writes into a core before a run: the compiled program.

    Attributes
    ----------
    core : CoreParams
    neurons : Table of NEURON_PARAMS
    learning : Table of LEARNING_PARAMS
    rules : Table of RULE_PARAMS (all zero: the pair rule to the weights, nearest rounding)
    weights : int64 array (n, n), row = pre-synaptic, column = post-synaptic
    plastic : bool array (n, n), the per-synapse plasticity enable bits
    elig : int64 array (n, n), the per-synapse eligibility (ELIGIBILITY; zero by default)
    seed : int, the SEED of stochastic rounding

    :meth:`validate` checks every value against its format and raises
    :class:`~plasticore.fixed.RangeError` or :class:`ValueError` naming the problem.
    """

    def __init__(self, core: CoreParams | int | None = None, neurons: Table | None = None,
                 learning: Table | None = None, weights: npt.ArrayLike | None = None,
                 plastic: npt.ArrayLike | None = None, *, rules: Table | None = None,
                 elig: npt.ArrayLike | None = None, seed: int = 0) -> None:
        self.core = core if isinstance(core, CoreParams) else CoreParams(core or N_DEFAULT)
        n = self.core.n
        self.neurons = neurons if neurons is not None else Table(NEURON_PARAMS, n)
        self.learning = learning if learning is not None else Table(LEARNING_PARAMS, n)
        self.rules = rules if rules is not None else Table(RULE_PARAMS, n)
        self.weights = (np.zeros((n, n), np.int64) if weights is None
                        else np.array(weights, dtype=np.int64))
        self.plastic = (np.zeros((n, n), bool) if plastic is None
                        else np.array(plastic, dtype=bool))
        self.elig = (np.zeros((n, n), np.int64) if elig is None
                     else np.array(elig, dtype=np.int64))
        self.seed = seed
        self.validate()

    @property
    def n(self) -> int:
        return self.core.n

    def validate(self) -> Self:
        n = self.core.n
        for name, table, layout in (("neurons", self.neurons, NEURON_PARAMS),
                                    ("learning", self.learning, LEARNING_PARAMS),
                                    ("rules", self.rules, RULE_PARAMS)):
            if not isinstance(table, Table) or table.layout is not layout or table.n != n:
                raise ValueError(f"{name} must be a Table of {n} words of its layout")
            table.validate()
        for name, arr in (("weights", self.weights), ("plastic", self.plastic),
                          ("elig", self.elig)):
            if arr.shape != (n, n):
                raise ValueError(f"{name} must have shape ({n}, {n}), not {arr.shape}")
        F.WEIGHT.check(self.weights, "weights")
        F.ELIGIBILITY.check(self.elig, "eligibility")
        self.seed = F.SEED.check(self.seed, "rounding seed")
        return self

    def needs(self) -> frozenset[str]:
        """The :data:`OPTIONS` a core must have to run this program: ``stochastic`` if a
        neuron's rule rounds stochastically, ``eligibility`` if a rule targets the
        eligibility, an eligibility is not zero or a neuron is a modulator neuron
        (``mod_weight``), ``triplet`` if a triplet parameter is not zero."""
        rp = self.rules
        out = set()
        if (rp["rounding"] == Rounding.STOCHASTIC.value).any():
            out.add("stochastic")
        if any(rp[name].any() for name in OPTION_FIELDS["eligibility"]) or self.elig.any():
            out.add("eligibility")
        if any(rp[name].any() for name in TRIPLET_FIELDS):
            out.add("triplet")
        return frozenset(out)

    def copy(self) -> CoreConfig:
        return CoreConfig(self.core, self.neurons.copy(), self.learning.copy(),
                          self.weights.copy(), self.plastic.copy(), rules=self.rules.copy(),
                          elig=self.elig.copy(), seed=self.seed)

    def __eq__(self, other: object) -> bool:
        # The options of ``core`` are the target's, not the program's: not compared.
        return (isinstance(other, CoreConfig) and self.core.n == other.core.n
                and self.neurons == other.neurons and self.learning == other.learning
                and self.rules == other.rules and self.seed == other.seed
                and np.array_equal(self.weights, other.weights)
                and np.array_equal(self.plastic, other.plastic)
                and np.array_equal(self.elig, other.elig))

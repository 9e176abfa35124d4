"""Numeric formats and the fixed-point operations of the core.

This module is the single definition of every number the core stores or computes with.  A
:class:`Format` is at the same time

* an Amaranth shape (it is a :class:`~amaranth.hdl.ShapeCastable`, so ``Signal(V)`` works and
  it can be a field of an :mod:`amaranth.lib.data` layout), and
* a description the reference model and the host use for integer arithmetic: its range,
  :meth:`Format.saturate` and :meth:`Format.check`.

The operations below (:func:`decay`, :func:`stdp_delta`) are the exact integer specification
of what the gateware computes.  They accept Python ints or NumPy integer arrays (``int64``)
and use only ``+ - *``, comparisons and arithmetic right shifts, which mean the same thing in
Python, NumPy and Amaranth.  No value wraps: every narrowing is an explicit saturation.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt
from amaranth.hdl import Const, Shape, ShapeCastable, Value, ValueLike, signed, unsigned

__all__ = [
    "Format", "RangeError",
    "DECAY_FRAC", "DECAY_ONE", "TRACE_FRAC", "TRACE_ONE", "AMP_FRAC", "STDP_SHIFT",
    "decay", "stdp_delta",
    "V", "I", "BIAS", "THRESHOLD", "V_RESET", "ACC", "DECAY", "REFRACTORY", "W_SHIFT",
    "WEIGHT", "TRACE", "TRACE_INC", "AMPLITUDE", "FORMATS",
]


class RangeError(ValueError):
    """A value does not fit the format it is meant for.  Nothing is clipped or wrapped."""


class Format(ShapeCastable):
    """An integer format: width, signedness, the legal range and the fixed-point scale.

    Parameters
    ----------
    name : str
        What the value is, used in error messages (``"membrane potential V"``).
    width : int
        Number of bits in the gateware and on the wire.
    signed : bool
        Two's complement if true.
    frac : int
        Fraction bits: the real value of a raw integer ``r`` is ``r / 2**frac``.  Zero for
        plain integers.
    lo, hi : int or None
        Legal range, if narrower than what ``width`` bits can hold (a decay factor is 16 bits
        wide but may not exceed 1.0).  Defaults to the full range of the width.

    Saturation
    ----------
    Every arithmetic result that is narrowed to this format goes through :meth:`saturate`,
    which clamps to ``[min, max]``.  Host input goes through :meth:`check`, which raises
    :class:`RangeError` instead: values the user asked for are never silently changed.
    """

    def __init__(self, name: str, width: int, signed: bool, *, frac: int = 0,
                 lo: int | None = None, hi: int | None = None) -> None:
        if not isinstance(width, int) or width < 1:
            raise TypeError(f"Format width must be a positive integer, not {width!r}")
        self.name = name
        self.width = width
        self.signed = bool(signed)
        self.frac = frac
        full_lo = -(1 << (width - 1)) if signed else 0
        full_hi = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
        self.min = full_lo if lo is None else lo
        self.max = full_hi if hi is None else hi
        if not full_lo <= self.min <= self.max <= full_hi:
            raise ValueError(f"Range [{lo}, {hi}] of {name} does not fit {width} bits")

    # -- Amaranth shape protocol ------------------------------------------------------------

    def as_shape(self) -> Shape:
        return signed(self.width) if self.signed else unsigned(self.width)

    def __call__(self, target: ValueLike) -> Value:
        return Value.cast(target).as_signed() if self.signed else Value.cast(target)

    def const(self, init: int | None) -> Const:
        return Const(0 if init is None else int(init), self.as_shape())

    def from_bits(self, raw: int) -> int:
        raw = int(raw)
        if self.signed and raw >= 1 << (self.width - 1):
            raw -= 1 << self.width
        return raw

    # -- integer arithmetic ----------------------------------------------------------------

    @property
    def one(self) -> int:
        """The raw integer that represents 1.0."""
        return 1 << self.frac

    @overload
    def saturate(self, x: int) -> int: ...
    @overload
    def saturate(self, x: np.ndarray) -> np.ndarray: ...

    def saturate(self, x: int | np.ndarray) -> int | np.ndarray:
        """Clamp ``x`` (int or integer array) to ``[min, max]``: the core's only narrowing."""
        if isinstance(x, np.ndarray):
            return np.clip(x, self.min, self.max)
        return min(max(int(x), self.min), self.max)

    def contains(self, x: npt.ArrayLike) -> bool:
        """True if every element of ``x`` lies in ``[min, max]``."""
        a = np.asarray(x)
        return bool(a.size == 0 or (a.min() >= self.min and a.max() <= self.max))

    @overload
    def check(self, x: int, what: str | None = None) -> int: ...
    @overload
    def check(self, x: np.ndarray, what: str | None = None) -> np.ndarray: ...
    @overload
    def check(self, x: npt.ArrayLike, what: str | None = None) -> int | np.ndarray: ...

    def check(self, x: npt.ArrayLike, what: str | None = None) -> int | np.ndarray:
        """Return ``x`` as int64 array (or int) if it is integral and in range, else raise.

        ``what`` names the value in the error message (``"threshold of neuron 3"``); the
        format's own name is used otherwise.
        """
        what = what or self.name
        a = np.asarray(x)
        if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
            if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                a = a.astype(np.int64)
            else:
                raise RangeError(f"{what} must be an integer for format {self.name} "
                                 f"({self.describe()}), got {x!r}")
        if a.size and (a.min() < self.min or a.max() > self.max):
            bad = a[(a < self.min) | (a > self.max)].ravel()[0]
            raise RangeError(f"{what} = {int(bad)} is outside {self.describe()}")
        return int(a) if a.ndim == 0 else a.astype(np.int64)

    def to_real(self, raw: npt.ArrayLike) -> np.ndarray:
        """Real value of a raw integer (float or float array)."""
        return np.asarray(raw, dtype=np.float64) / (1 << self.frac)

    def describe(self) -> str:
        kind = "signed" if self.signed else "unsigned"
        q = f", {self.frac} fraction bits" if self.frac else ""
        return f"{self.name}: {kind} {self.width}-bit{q}, range [{self.min}, {self.max}]"

    def __repr__(self) -> str:
        return f"Format({self.name!r}, {self.width}, signed={self.signed}, frac={self.frac}, " \
               f"lo={self.min}, hi={self.max})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Format) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, int, bool, int, int, int]:
        return (self.name, self.width, self.signed, self.frac, self.min, self.max)


# -- the formats -------------------------------------------------------------------------------

#: Membrane potential.  24 bits (NeuroCoreX: 18) leave 7 bits of headroom above a threshold
#: placed at 2**16, with 2**-16 threshold resolution.
V = Format("membrane potential V", 24, True)
#: Synaptic current; the same range as V because it is added to V every step.
I = Format("synaptic current I", 24, True)
BIAS = Format("bias", 24, True)
THRESHOLD = Format("threshold", 24, True)
V_RESET = Format("reset potential", 24, True)

DECAY_FRAC = 15
DECAY_ONE = 1 << DECAY_FRAC
#: Per-step retention factor alpha = exp(-dt/tau) in UQ1.15: 1.0 (32768) is "no leak" (an IF
#: neuron, or a trace that never decays), 0 is "forget everything each step".  15 bits of
#: resolution: tau up to ~32,000 steps is distinguishable from no decay.
DECAY = Format("decay factor", 16, False, frac=DECAY_FRAC, lo=0, hi=DECAY_ONE)

#: Refractory period in timesteps (0 = none).
REFRACTORY = Format("refractory period", 8, False)
#: Weight scale: the summed weights arriving at a neuron are shifted left by this amount
#: before they are added to I.  Per neuron, so populations can use different scales.
W_SHIFT = Format("weight shift", 4, False)

WEIGHT = Format("weight", 8, True)
#: Pending synaptic input: the sum of one row of weights per spike.  18 bits hold the sum
#: of 1,024 weights exactly (1024 * -128 = -2**17), so it never saturates for N <= 1024.
ACC = Format("pending synaptic input", 18, True)

TRACE_FRAC = 12
TRACE_ONE = 1 << TRACE_FRAC
#: STDP traces are non-negative magnitudes in UQ4.12: 1.0 = 4096, headroom to 16.0 for the
#: sum of many recent spikes.  Stored as magnitudes so that the truncating decay cannot bias
#: them (a negative trace decayed with a floor shift drifts away from zero).
TRACE = Format("STDP trace", 16, False, frac=TRACE_FRAC)
TRACE_INC = Format("trace increment", 16, False, frac=TRACE_FRAC)

AMP_FRAC = 4
#: STDP amplitude in weight LSBs, UQ8.4: resolution 1/16 LSB, maximum 255.9375 LSB.
AMPLITUDE = Format("STDP amplitude", 12, False, frac=AMP_FRAC)
#: Shift that brings amplitude * trace (UQ8.4 * UQ4.12) back to weight LSBs.
STDP_SHIFT = AMP_FRAC + TRACE_FRAC

FORMATS = {name: obj for name, obj in globals().items() if isinstance(obj, Format)}


# -- operations ------------------------------------------------------------------------------

@overload
def decay(x: int, alpha: int) -> int: ...
@overload
def decay(x: np.ndarray, alpha: int | np.ndarray) -> np.ndarray: ...
@overload
def decay(x: int, alpha: np.ndarray) -> np.ndarray: ...

def decay(x: int | np.ndarray, alpha: int | np.ndarray) -> int | np.ndarray:
    r"""Multiply ``x`` by ``alpha / 2**15`` and truncate toward zero.

    .. math:: \mathrm{decay}(x, \alpha) = \operatorname{sgn}(x)\,
              \left\lfloor |x|\,\alpha / 2^{15} \right\rfloor

    Truncation toward zero (not a floor shift) makes decay symmetric: both positive and
    negative values reach exactly 0, and ``|decay(x)| <= |x|`` for ``alpha <= 1.0``.  The
    gateware computes it as ``(x * alpha + (x < 0 ? 2**15 - 1 : 0)) >> 15`` with an
    arithmetic shift, which is the same integer.  The result always fits the format of ``x``
    because ``alpha <= 1.0``.
    """
    if isinstance(x, np.ndarray):
        return (x * alpha + (x < 0) * (DECAY_ONE - 1)) >> DECAY_FRAC
    return (x * alpha + (DECAY_ONE - 1 if x < 0 else 0)) >> DECAY_FRAC


@overload
def stdp_delta(amplitude: int, trace: int) -> int: ...
@overload
def stdp_delta(amplitude: np.ndarray, trace: int | np.ndarray) -> np.ndarray: ...
@overload
def stdp_delta(amplitude: int, trace: np.ndarray) -> np.ndarray: ...

def stdp_delta(amplitude: int | np.ndarray, trace: int | np.ndarray) -> int | np.ndarray:
    r"""Weight change of one STDP update, in weight LSBs, rounded to nearest (ties up).

    .. math:: \Delta w = \left\lfloor (A \cdot x + 2^{15}) / 2^{16} \right\rfloor

    with ``A`` an :data:`AMPLITUDE` (UQ8.4) and ``x`` a :data:`TRACE` (UQ4.12).  Both are
    non-negative, so the result is in ``[0, 4095]``; the caller applies its sign and clips
    the weight to the post-synaptic neuron's bounds.
    """
    return (amplitude * trace + (1 << (STDP_SHIFT - 1))) >> STDP_SHIFT

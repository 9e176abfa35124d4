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
    "ELIG_FRAC", "MOD_FRAC", "TRIPLET_SHIFT", "W_ROUND_SHIFT", "E_ROUND_SHIFT", "MOD_SHIFT",
    "ELIGIBILITY", "MODULATOR", "SEED", "HASH_STEP", "Kind",
    "mix32", "step_key", "random_bits", "stdp_product", "round_shift", "modulation_delta",
    "decay_elig",
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

#: Eligibility trace of a synapse (three-factor learning), signed 7-bit with 2 fraction
#: bits: 1/4 weight LSB resolution, range [-16.0, +15.75] weight LSBs.  7 bits because the
#: synapse word then fills an iCE40 SPRAM word exactly (8 weight + 1 plastic + 7 = 16 bits).
ELIG_FRAC = 2
ELIGIBILITY = Format("eligibility e", 7, True, frac=ELIG_FRAC)
#: Modulator r (reward, dopamine): signed 8-bit, 4 fraction bits, range [-8.0, +7.9375].
MOD_FRAC = 4
MODULATOR = Format("modulator r", 8, True, frac=MOD_FRAC)
#: Seed of the counter-based random bits of stochastic rounding.
SEED = Format("rounding seed", 32, False)

#: The triplet term ``A3 * trace2`` is kept at full precision: ``A2`` is scaled by
#: ``2**TRIPLET_SHIFT`` (the fraction bits of trace2) before the sum.
TRIPLET_SHIFT = TRACE_FRAC
#: Shift that brings the full triplet product ``x * (A2 * 2**12 + A3 * trace2)`` (28 fraction
#: bits: UQ8.4 x UQ4.12 x UQ4.12 scaled) to weight LSBs, and to eligibility LSBs.
W_ROUND_SHIFT = STDP_SHIFT + TRIPLET_SHIFT
E_ROUND_SHIFT = W_ROUND_SHIFT - ELIG_FRAC
#: Shift that brings ``r * e`` to weight LSBs.
MOD_SHIFT = MOD_FRAC + ELIG_FRAC

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


# -- three-factor, triplet and stochastic rounding -----------------------------------------
#
# Random bits come from a counter-based hash: a pure function of (seed, step, pre, post,
# kind), so they do not depend on the order in which the hardware visits synapses or on its
# number of lanes.  The mixer is Chris Wellons' "lowbias32" (two 32-bit multiplications by
# constants, three xor-shifts; bias 0.107 in his avalanche measure), a bijection on 32 bits.

_M32 = 0xFFFFFFFF
#: Multipliers of :func:`mix32`.
MIX_MUL = (0x21F0AAAD, 0x735A2D97)
#: Added to the step counter before it is mixed (so step 0 of seed 0 is not the zero key).
HASH_STEP = 0x9E3779B9


class Kind:
    """Which update of a synapse the random bits are for (bits 20-21 of the hash key)."""
    DEPRESS = 0
    POTENTIATE = 1
    MODULATE = 2


@overload
def mix32(x: int) -> int: ...
@overload
def mix32(x: np.ndarray) -> np.ndarray: ...

def mix32(x: int | np.ndarray) -> int | np.ndarray:
    """lowbias32: ``x ^= x >> 16; x *= 0x21f0aaad; x ^= x >> 15; x *= 0x735a2d97;
    x ^= x >> 15``, all modulo 2**32.  Works on ints and on int64/uint64 arrays."""
    if isinstance(x, np.ndarray):
        x = x.astype(np.uint64) & np.uint64(_M32)
        x ^= x >> np.uint64(16)
        x = (x * np.uint64(MIX_MUL[0])) & np.uint64(_M32)
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(MIX_MUL[1])) & np.uint64(_M32)
        x ^= x >> np.uint64(15)
        return x.astype(np.int64)
    x = int(x) & _M32
    x ^= x >> 16
    x = (x * MIX_MUL[0]) & _M32
    x ^= x >> 15
    x = (x * MIX_MUL[1]) & _M32
    x ^= x >> 15
    return x


def step_key(seed: int, step: int) -> int:
    """The per-step key ``mix32(seed ^ mix32((step + HASH_STEP) mod 2**32))``: computed once
    per timestep (``step`` = the step counter before it increments)."""
    return mix32((int(seed) & _M32) ^ mix32((int(step) + HASH_STEP) & _M32))


def random_bits(key: int, pre: int | np.ndarray, post: int | np.ndarray,
                kind: int) -> int | np.ndarray:
    """32 random bits of one synapse update: ``mix32(key ^ (pre | post << 10 | kind << 20))``
    with ``key`` = :func:`step_key` and ``kind`` a :class:`Kind`."""
    return mix32(np.bitwise_xor(int(key), np.asarray(pre, dtype=np.int64)
                                | (np.asarray(post, dtype=np.int64) << 10) | (kind << 20))
                 if isinstance(pre, np.ndarray) or isinstance(post, np.ndarray)
                 else int(key) ^ (int(pre) | int(post) << 10 | kind << 20))


def stdp_product(a2: int | np.ndarray, a3: int | np.ndarray, trace2: int | np.ndarray,
                 trace: int | np.ndarray) -> int | np.ndarray:
    r"""The unrounded triplet STDP update ``Q = trace * (a2 * 2**12 + a3 * trace2)``, in units
    of ``2**-W_ROUND_SHIFT`` weight LSBs (non-negative, < 2**45).

    ``a2``, ``a3`` are AMPLITUDEs (UQ8.4), ``trace`` and ``trace2`` TRACEs (UQ4.12).  With
    ``a3 = 0``, ``round_shift(Q, W_ROUND_SHIFT, nearest)`` is exactly :func:`stdp_delta`."""
    return trace * ((a2 << TRIPLET_SHIFT) + a3 * trace2)


def round_shift(q: int | np.ndarray, shift: int, bits: int | np.ndarray,
                stochastic: bool | np.ndarray) -> int | np.ndarray:
    r"""``q / 2**shift`` rounded to an integer (arithmetic shift: also for negative ``q``).

    Nearest (ties up): ``(q + 2**(shift-1)) >> shift``.  Stochastic: ``(q + u) >> shift``
    with ``u`` the low ``shift`` bits of ``bits``: rounds up with probability equal to the
    discarded fraction, so ``E[result] = q / 2**shift`` exactly if ``u`` is uniform."""
    u = np.bitwise_and(bits, (1 << shift) - 1)
    add = np.where(stochastic, u, 1 << (shift - 1))
    out = (q + add) >> shift
    return int(out) if np.ndim(out) == 0 and not isinstance(q, np.ndarray) else out


def modulation_delta(r: int | np.ndarray, e: int | np.ndarray, bits: int | np.ndarray,
                     stochastic: bool | np.ndarray) -> int | np.ndarray:
    r"""Weight change of a modulation, in weight LSBs: ``round(r * e / 2**MOD_SHIFT)``
    (``r`` a MODULATOR, ``e`` an ELIGIBILITY; in [-128, 128]), rounded by ``bits[0:6]``."""
    return round_shift(np.multiply(r, e), MOD_SHIFT, bits, stochastic)


def decay_elig(e: int | np.ndarray, alpha: int | np.ndarray, bits: int | np.ndarray,
               stochastic: bool | np.ndarray) -> int | np.ndarray:
    r"""Eligibility decay at a modulation: ``e * alpha / 2**15`` truncated toward zero
    (:func:`decay`, nearest mode) or stochastically rounded with ``bits[16:31]``.  The result
    fits ELIGIBILITY because ``alpha <= 1.0``."""
    prod = np.multiply(e, alpha)
    u = (np.asarray(bits) >> 16) & (DECAY_ONE - 1)
    down = (prod + (np.asarray(e) < 0) * (DECAY_ONE - 1)) >> DECAY_FRAC
    out = np.where(stochastic, (prod + u) >> DECAY_FRAC, down)
    return int(out) if np.ndim(out) == 0 and not isinstance(e, np.ndarray) else out

"""Property tests of the numeric formats and fixed-point operations (plasticore.fixed)."""

from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Signal, signed, unsigned
from hypothesis import given
from hypothesis import strategies as st

from plasticore import fixed as F

ALPHA = st.integers(F.DECAY.min, F.DECAY.max)
STATE = st.integers(F.V.min, F.V.max)


def trunc_toward_zero(q: Fraction) -> int:
    return int(q)            # int() of a Fraction truncates toward zero


@given(STATE, ALPHA)
def test_decay_is_exact_truncation_toward_zero(x, a):
    assert F.decay(x, a) == trunc_toward_zero(Fraction(x * a, F.DECAY_ONE))


@given(STATE, ALPHA)
def test_decay_never_grows_and_keeps_sign(x, a):
    d = F.decay(x, a)
    assert abs(d) <= abs(x)
    assert d == 0 or (d > 0) == (x > 0)
    assert F.V.contains(d)


@given(STATE)
def test_decay_one_is_identity_and_zero_clears(x):
    assert F.decay(x, F.DECAY_ONE) == x
    assert F.decay(x, 0) == 0


@given(STATE, ALPHA, ALPHA)
def test_decay_monotone_in_alpha(x, a, b):
    lo, hi = sorted((a, b))
    assert abs(F.decay(x, lo)) <= abs(F.decay(x, hi))


@given(st.lists(st.tuples(STATE, ALPHA), min_size=1, max_size=50))
def test_decay_array_equals_scalar(pairs):
    xs = np.array([p[0] for p in pairs], np.int64)
    al = np.array([p[1] for p in pairs], np.int64)
    assert F.decay(xs, al).tolist() == [F.decay(int(x), int(a)) for x, a in pairs]


@given(st.integers(F.AMPLITUDE.min, F.AMPLITUDE.max), st.integers(F.TRACE.min, F.TRACE.max))
def test_stdp_delta_rounds_to_nearest_ties_up(a, x):
    exact = Fraction(a * x, 1 << F.STDP_SHIFT)
    d = F.stdp_delta(a, x)
    assert d == int(exact + Fraction(1, 2))        # floor(exact + 1/2), exact >= 0
    assert abs(d - exact) <= Fraction(1, 2)
    assert 0 <= d <= 4095


@given(st.integers(0, F.AMPLITUDE.max))
def test_stdp_delta_of_unit_trace_is_the_amplitude_in_lsb(a):
    # A trace of exactly 1.0 turns an amplitude of A/16 LSB into round(A/16) LSB.
    assert F.stdp_delta(a, F.TRACE_ONE) == (a + 8) // 16


FORMATS = list(F.FORMATS.values())


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_format_is_an_amaranth_shape(fmt):
    shape = Signal(fmt).shape()
    assert shape == (signed(fmt.width) if fmt.signed else unsigned(fmt.width))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_format_bits_round_trip_at_corners(fmt):
    for x in {fmt.min, fmt.max, 0 if fmt.contains(0) else fmt.min, fmt.min + 1, fmt.max - 1}:
        raw = fmt.const(x).value & ((1 << fmt.width) - 1)
        assert fmt.from_bits(raw) == x


@given(st.sampled_from(FORMATS), st.integers(-(1 << 40), 1 << 40))
def test_saturate_clamps_and_is_identity_inside(fmt, x):
    s = fmt.saturate(x)
    assert fmt.min <= s <= fmt.max
    if fmt.min <= x <= fmt.max:
        assert s == x
    else:
        assert s == (fmt.min if x < fmt.min else fmt.max)
    assert fmt.saturate(np.array([x]))[0] == s


@given(st.sampled_from(FORMATS), st.integers(-(1 << 40), 1 << 40))
def test_check_accepts_exactly_the_range(fmt, x):
    if fmt.min <= x <= fmt.max:
        assert fmt.check(x) == x
    else:
        with pytest.raises(F.RangeError, match=rf"= {x} is outside"):
            fmt.check(x)


def test_check_refuses_fractions_nan_and_bool():
    with pytest.raises(F.RangeError, match="must be an integer"):
        F.WEIGHT.check(3.5)
    with pytest.raises(F.RangeError, match="must be an integer"):
        F.WEIGHT.check(np.array([1.0, np.nan]))
    with pytest.raises(F.RangeError, match="must be an integer"):
        F.WEIGHT.check(True)
    assert F.WEIGHT.check(np.array([3.0, -2.0])).tolist() == [3, -2]


def test_check_names_the_value():
    with pytest.raises(F.RangeError, match=r"threshold of neuron 3 = 99999999 is outside "
                                           r"threshold: signed 24-bit"):
        F.THRESHOLD.check(99999999, "threshold of neuron 3")


def test_decay_range_is_narrower_than_its_width():
    assert (F.DECAY.min, F.DECAY.max, F.DECAY.width) == (0, 32768, 16)
    with pytest.raises(F.RangeError):
        F.DECAY.check(32769)


def test_formats_at_least_as_precise_as_neurocorex():
    # NeuroCoreX: 18-bit state, 8-bit weights.
    assert F.V.width >= 18 and F.I.width >= 18 and F.WEIGHT.width >= 8
    assert F.DECAY_FRAC >= 12                     # at least 12-bit decay resolution

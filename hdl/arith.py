"""Combinational fixed-point building blocks shared by the datapaths.

Each function returns an Amaranth expression that computes, bit for bit, the integer
operation of the same name in :mod:`plasticore.fixed` (or :mod:`numpy`).  They add no
registers; the components that use them decide where the pipeline registers go.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Value

from plasticore import fixed as F

__all__ = ["saturate", "clip", "decay_round", "stdp_round"]


def saturate(value, fmt: F.Format):
    """``fmt.saturate(value)``: clamp a wide signed or unsigned expression to ``[min, max]``
    of ``fmt`` and narrow it to ``fmt``'s width (the only narrowing the core does).

    When ``fmt`` spans the whole range of its width (every format of the core does), the
    value is out of range exactly when its bits above the format disagree with the format's
    sign (or, unsigned, are not all zero): a bit test, no comparator carry chain in the
    datapath's longest paths."""
    value = Value.cast(value)
    shape = value.shape()
    w = fmt.width
    full = (fmt.min, fmt.max) == ((-(1 << (w - 1)), (1 << (w - 1)) - 1) if fmt.signed
                                  else (0, (1 << w) - 1))
    if not full or shape.width <= w:
        lowest = -(1 << (shape.width - 1)) if shape.signed else 0
        # Leave out a comparison that is constant (an unsigned sum is never below 0): it
        # would be optimised away anyway, and lint rightly flags it.
        if lowest < fmt.min:
            value = Mux(value < fmt.min, fmt.min, value)
        return fmt(Mux(value > fmt.max, fmt.max, value)[:w])
    negative = value[-1] if shape.signed else 0
    # Bits that must all equal the sign: from the format's sign bit (signed) or its first
    # bit above (unsigned) up to the top.
    top = value[w - 1:] if fmt.signed else value[w:]
    fits = Mux(negative, top.all(), ~top.any()) if shape.signed else ~top.any()
    if not fmt.signed and shape.signed:
        fits = ~negative & ~value[w:].any()
    return fmt(Mux(fits, value[:w], Mux(negative, fmt.min, fmt.max) & ((1 << w) - 1)))


def clip(value, lo, hi, fmt: F.Format):
    """``numpy.clip(value, lo, hi)`` narrowed to ``fmt``: ``min(max(value, lo), hi)``.

    NumPy applies the lower bound first, so ``lo > hi`` gives ``hi``; so does this.  ``lo``
    and ``hi`` must be values of ``fmt``, which makes the narrowing exact."""
    value = Value.cast(value)
    lower = Mux(value < lo, lo, value)
    return fmt(Mux(lower > hi, hi, lower)[:fmt.width])


def decay_round(product, negative):
    """Second half of :func:`plasticore.fixed.decay`: ``(x * alpha + (x < 0 ? 2**15 - 1 :
    0)) >> 15`` given the registered product ``x * alpha`` and the sign of ``x``.

    The sign is passed separately because the product is 0 (not negative) when alpha is 0.
    The result has the width of the product; it fits the format of ``x`` because alpha is at
    most 1.0, so the caller may narrow it without saturation."""
    product = Value.cast(product)
    return (product + Mux(negative, F.DECAY_ONE - 1, 0)) >> F.DECAY_FRAC


def stdp_round(product):
    """Second half of :func:`plasticore.fixed.stdp_delta`: ``(A * x + 2**15) >> 16`` given
    the registered product ``A * x`` (both factors unsigned).  The result is in [0, 4095]."""
    product = Value.cast(product)
    return ((product + (1 << (F.STDP_SHIFT - 1))) >> F.STDP_SHIFT)[:12]

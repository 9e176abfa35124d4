"""The counter-based random bits of stochastic rounding (:func:`plasticore.fixed.random_bits`)
in gateware: the per-step key and one hash per synapse lane.

``mix32`` (lowbias32) is split into two halves with a register after each multiplication by
a constant (on an ECP5 each is a few DSP blocks; the xor-shifts are LUTs):

    half1(x) = (x ^ x >> 16) * 0x21F0AAAD          (mod 2**32)
    half2(y) = (y ^ y >> 15) * 0x735A2D97
    fin(z)   =  z ^ z >> 15                         mix32(x) = fin(half2(half1(x)))
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F

__all__ = ["half1", "half2", "fin", "StepKey", "LaneHash"]


def half1(x):
    x = Value.cast(x)[:32]
    return ((x ^ (x >> 16)) * F.MIX_MUL[0])[:32]


def half2(y):
    y = Value.cast(y)[:32]
    return ((y ^ (y >> 15)) * F.MIX_MUL[1])[:32]


def fin(z):
    z = Value.cast(z)[:32]
    return z ^ (z >> 15)


class StepKey(wiring.Component):
    """``key = mix32(seed ^ mix32(step + HASH_STEP))`` (:func:`plasticore.fixed.step_key`),
    recomputed every cycle through a pipeline of four registered halves.

    Latency and throughput
    ----------------------
    ``key`` is valid :attr:`LATENCY` cycles after ``step`` and ``seed`` last changed.  The
    core changes them only while idle or at the end of a step, and the first synapse issue
    of a step comes at least ``N + 6 >= 14`` cycles after its start.
    """

    LATENCY = 4

    def __init__(self):
        super().__init__({"step": In(32), "seed": In(32), "key": Out(32)})

    def elaborate(self, platform):
        m = Module()
        a, b, c, d = (Signal(32, name=f"k{k}") for k in range(4))
        m.d.sync += [a.eq(half1((self.step + F.HASH_STEP)[:32])), b.eq(half2(a)),
                     c.eq(half1(self.seed ^ fin(b))), d.eq(half2(c))]
        m.d.comb += self.key.eq(fin(d))
        return m


class LaneHash(wiring.Component):
    """``u = mix32(key ^ (pre | post << 10 | kind << 20))`` for the synapse a lane issues.

    Latency and throughput
    ----------------------
    One per cycle; the inputs of the issue cycle give ``u`` two cycles later (registered
    after each multiplication, ``fin`` combinational): the cycle in which the lane rounds
    the synapse's update (the lane's first stage registers the memory data, one cycle after
    the issue).
    """

    LATENCY = 2

    def __init__(self, index_width: int):
        super().__init__({"key": In(32), "pre": In(index_width), "post": In(index_width),
                          "kind": In(2), "u": Out(32)})

    def elaborate(self, platform):
        m = Module()
        word = Signal(32)
        m.d.comb += word.eq(self.pre | (self.post << 10) | (self.kind << 20))
        h1, h2 = Signal(32), Signal(32)
        m.d.sync += [h1.eq(half1(self.key ^ word)), h2.eq(half2(h1))]
        m.d.comb += self.u.eq(fin(h2))
        return m

"""The slow traces of triplet STDP (option triplet): their update in the neuron pass.

Pfister & Gerstner (2006), "Triplets of spikes in a model of spike timing-dependent
plasticity", J. Neurosci. 26(38), minimal all-to-all model: besides the pair traces ``x``,
``y`` every neuron keeps a slower pre trace ``x2`` and post trace ``y2``
(``docs/model.md`` sections 4.4, 4.5).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import TRIPLET_STATE

from .arith import saturate
from .neuron import NeuronUpdate
from .synapse import DEP_PROD

__all__ = ["SlowTraceUpdate"]


class SlowTraceUpdate(wiring.Component):
    r"""The slow traces of one neuron per cycle, beside :class:`.NeuronUpdate` (same
    latency, same inputs' timing), as :mod:`plasticore.sim.reference` computes them::

        x2' <- decay(x2, alpha_x2)          (out ``o_x2_dec``: what the row pass reads)
        y2' <- decay(y2, alpha_y2)
        pot <- a3_plus * y2'                (out ``o_pot``: the triplet part of the
                                             potentiation amplitude of the neuron's column)
        x2  <- sat(x2' + (spike ? x2_inc : 0))
        y2  <- sat(y2' + (spike ? y2_inc : 0))   (out ``o_state``: the end-of-step values)

    Traces are non-negative, so each decay is a product and a shift (truncation).  The
    column pass potentiates ``W[j, i]`` by ``round(x_j * (a_plus_i 2^12 + pot_i), 28)``
    (docs/model.md 4.5); ``pot`` < 2^28 is kept whole (no rounding before the sum).

    With ``clear`` set beside a neuron's inputs its outputs are all zero (the core's RESET).

    Latency and throughput
    ----------------------
    One neuron per cycle, no stalls.  ``state``, ``alpha_x2``, ``alpha_y2`` and ``clear``
    presented in cycle ``t`` (with :class:`.NeuronUpdate`'s ``i_valid``), ``a3_plus`` in
    cycle ``t + 1`` (with its ``mid``: ``NeuronUpdate.MID_CYC``), ``spike``, ``x2_inc`` and
    ``y2_inc`` in cycle ``t + 3`` (its ``o_spike`` and ``late``) give the outputs in cycle ``t + 3``
    (:attr:`LATENCY` = :attr:`.NeuronUpdate.LATENCY`; combinational from registers and those
    inputs).  Three multipliers, all registered: the two decays (16 x 16 bits) in the first
    stage, ``a3_plus * y2'`` (12 x 16) in the third.

    Members
    -------
    state : In(TRIPLET_STATE)
        ``x2``, ``y2`` of the neuron as left by the previous step.
    alpha_x2, alpha_y2, clear : In
        Its slow decay factors; clear its outputs.
    a3_plus : In(AMPLITUDE)
        Its triplet potentiation amplitude, one cycle later.
    spike, x2_inc, y2_inc : In
        Whether it fired and its slow-trace increments, three cycles later.
    o_state, o_x2_dec, o_pot : Out
        The new slow traces, ``x2'`` and ``a3_plus * y2'``.
    """

    #: Cycles from ``state`` to the outputs.
    LATENCY = NeuronUpdate.LATENCY

    def __init__(self):
        super().__init__({
            "state": In(TRIPLET_STATE), "alpha_x2": In(F.DECAY), "alpha_y2": In(F.DECAY),
            "clear": In(1), "a3_plus": In(F.AMPLITUDE),
            "spike": In(1), "x2_inc": In(F.TRACE_INC), "y2_inc": In(F.TRACE_INC),
            "o_state": Out(TRIPLET_STATE), "o_x2_dec": Out(F.TRACE), "o_pot": Out(DEP_PROD),
        })

    def elaborate(self, platform):
        m = Module()
        s = self.state
        # stage 1: the decay products (UQ4.12 x UQ1.15: 32 bits)
        p1_px2, p1_py2 = Signal(32), Signal(32)
        p1_clear = Signal()
        m.d.sync += [p1_px2.eq(s.x2 * self.alpha_x2), p1_py2.eq(s.y2 * self.alpha_y2),
                     p1_clear.eq(self.clear)]
        # stage 2: the shifts (alpha <= 1.0: the narrowing is exact)
        p2_x2, p2_y2 = Signal(F.TRACE), Signal(F.TRACE)
        p2_clear = Signal()
        m.d.sync += [p2_x2.eq(p1_px2 >> F.DECAY_FRAC), p2_y2.eq(p1_py2 >> F.DECAY_FRAC),
                     p2_clear.eq(p1_clear)]
        # a3_plus arrives in cycle t + MID_CYC = t + 1 (with the neuron's mid): held a cycle
        p2_a3 = Signal(F.AMPLITUDE)
        m.d.sync += p2_a3.eq(self.a3_plus)
        # stage 3: the triplet amplitude's product; a cleared neuron leaves it all zero
        p3_x2, p3_y2 = Signal(F.TRACE), Signal(F.TRACE)
        p3_pot = Signal(DEP_PROD)
        m.d.sync += [p3_x2.eq(p2_x2), p3_y2.eq(p2_y2), p3_pot.eq(p2_a3 * p2_y2)]
        with m.If(p2_clear):
            m.d.sync += [p3_x2.eq(0), p3_y2.eq(0), p3_pot.eq(0)]
        # outputs: the increments of a spike
        x2_inc = self.x2_inc & self.spike.replicate(F.TRACE_INC.width)
        y2_inc = self.y2_inc & self.spike.replicate(F.TRACE_INC.width)
        m.d.comb += [
            self.o_state.x2.eq(saturate(p3_x2 + x2_inc, F.TRACE)),
            self.o_state.y2.eq(saturate(p3_y2 + y2_inc, F.TRACE)),
            self.o_x2_dec.eq(p3_x2), self.o_pot.eq(p3_pot),
        ]
        return m

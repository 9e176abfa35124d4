"""The pipelined synapse datapath: transmission and both STDP updates, one synapse per cycle."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import SYNAPSE, CoreParams

from .arith import clip, stdp_round

__all__ = ["SynapseUpdate"]


class SynapseUpdate(wiring.Component):
    r"""Steps 2 and 3 of :mod:`plasticore.sim.reference` for one synapse ``W[j, i]``.

    Row pass (``row`` = 1), for a spiking pre-synaptic neuron ``j``::

        acc[i] <- acc[i] + W[j, i]                                   (always)
        W[j, i] <- clip(W[j, i] - stdp_delta(a_minus_i, y'_i), w_min_i, w_max_i)
                                                 (if learning and plastic[j, i])

    Column pass (``row`` = 0), for a spiking post-synaptic neuron ``i``::

        W[j, i] <- clip(W[j, i] + stdp_delta(a_plus_i, x_j), w_min_i, w_max_i)
                                                 (if learning and plastic[j, i])

    The caller supplies ``amp`` (``a_minus_i`` or ``a_plus_i``), ``trace`` (``y'_i`` or
    ``x_j``) and the bounds; the one 12x16-bit multiplier is shared by both passes.
    Transmission adds the weight as read, i.e. before this step's learning.

    Latency and throughput
    ----------------------
    One synapse per cycle, no stalls.  Inputs presented with ``i_valid`` in cycle ``t``
    (the cycle the memories deliver the read data) produce the write requests ``w_we`` /
    ``acc_we`` in cycle ``t + LATENCY`` (``LATENCY`` = 1, the multiplier's output register),
    which the memories commit at the end of that cycle.  A read-modify-write of the same
    ``acc[i]`` is therefore safe if it is issued at least ``LATENCY + 1`` = 2 cycles after the
    previous one; the row pass revisits ``acc[i]`` every N >= 8 cycles.

    Members
    -------
    i_valid, row, learning, addr, post, w, acc, amp, trace, w_min, w_max : In
        One synapse: its memory address, its post-synaptic index ``i``, the SYNAPSE word
        and ``acc[i]`` as read, and the rule operands described above.
    w_we, w_addr, w_data, acc_we, acc_addr, acc_data : Out
        The write requests for the synapse memory and the pending-input memory.
    """

    #: Cycles from ``i_valid`` to the write requests.
    LATENCY = 1

    def __init__(self, params: CoreParams):
        self.core_params = params
        addr = unsigned(max(1, (params.synapses - 1).bit_length()))
        idx = unsigned(params.index_width)
        super().__init__({
            "i_valid": In(1), "row": In(1), "learning": In(1), "addr": In(addr),
            "post": In(idx), "w": In(SYNAPSE), "acc": In(F.ACC), "amp": In(F.AMPLITUDE),
            "trace": In(F.TRACE), "w_min": In(F.WEIGHT), "w_max": In(F.WEIGHT),
            "w_we": Out(1), "w_addr": Out(addr), "w_data": Out(SYNAPSE),
            "acc_we": Out(1), "acc_addr": Out(idx), "acc_data": Out(F.ACC),
        })

    def elaborate(self, platform):
        m = Module()

        p1_valid = Signal()
        p1_row = Signal()
        p1_write = Signal()
        p1_addr = Signal.like(self.addr)
        p1_post = Signal.like(self.post)
        p1_w = Signal(SYNAPSE)
        p1_prod = Signal(28)                      # UQ8.4 x UQ4.12 amplitude * trace
        p1_acc = Signal(F.ACC)
        p1_min = Signal(F.WEIGHT)
        p1_max = Signal(F.WEIGHT)
        m.d.sync += [
            p1_valid.eq(self.i_valid), p1_row.eq(self.row),
            p1_write.eq(self.i_valid & self.learning & self.w.plastic),
            p1_addr.eq(self.addr), p1_post.eq(self.post), p1_w.eq(self.w),
            p1_prod.eq(self.amp * self.trace),
            # Cannot overflow: the accumulation starts from 0 each step and the sum of at most
            # 1,024 weights lies in [-2**17, 2**17 - 1024] (see ACC in plasticore.fixed).
            p1_acc.eq(self.acc + self.w.weight),
            p1_min.eq(self.w_min), p1_max.eq(self.w_max),
        ]

        delta = stdp_round(p1_prod)
        moved = Mux(p1_row, p1_w.weight - delta, p1_w.weight + delta)     # 14-bit signed
        m.d.comb += [
            self.w_we.eq(p1_write), self.w_addr.eq(p1_addr),
            self.w_data.weight.eq(clip(moved, p1_min, p1_max, F.WEIGHT)),
            self.w_data.plastic.eq(p1_w.plastic),
            self.acc_we.eq(p1_valid & p1_row), self.acc_addr.eq(p1_post),
            self.acc_data.eq(p1_acc),
        ]
        return m

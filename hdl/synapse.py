"""One synapse lane: transmission and both STDP updates of one synapse per cycle."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import SYNAPSE

from .arith import clip, saturate, stdp_round

__all__ = ["SynapseUpdate", "DEP", "DEP_PROD", "TRIPLET_AMP", "TRIPLET_PROD", "DELTA_MAX"]

#: A depression precomputed by the neuron pass: ``min(stdp_delta(a_minus_i, y'_i), 255)``.
#: Saturating at 255 is exact: ``W - 255 <= -128 <= w_min`` for every 8-bit weight, so the
#: clip gives ``w_min`` (or ``w_max`` if ``w_min > w_max``) for any larger delta too.
DEP = unsigned(8)
#: With stochastic rounding the depression is kept unrounded, ``a_minus_i * y'_i`` (UQ8.4 x
#: UQ4.12), and rounded per synapse by the lane.
DEP_PROD = unsigned(28)
#: Option triplet: the multiplier operand that replaces the amplitude, ``a_plus_i 2^12 +
#: a3_plus_i y2'_i`` (columns, < 2^29) or ``a3_minus_i y'_i`` (rows, < 2^28) ...
TRIPLET_AMP = unsigned(29)
#: ... and the unrounded update ``Q`` (docs/model.md 4.5), < 2^45.
TRIPLET_PROD = unsigned(45)
#: A rounded update magnitude saturates here, exactly: ``W -/+ 255`` is beyond every weight
#: bound (and ``e -/+ 255`` beyond the eligibility's rails), so the clip (saturation) gives
#: the same result for any larger magnitude.
DELTA_MAX = 255


class SynapseUpdate(wiring.Component):
    r"""Steps 2 and 3 of :mod:`plasticore.sim.reference` for one synapse ``W[j, i]``: one
    lane of the core's two-lane synapse datapath.

    Row pass (``row`` = 1), for a spiking pre-synaptic neuron ``j``::

        acc[i] <- acc[i] + W[j, i]                                   (always)
        W[j, i] <- clip(W[j, i] - dep_i, w_min_i, w_max_i)           (if write)

    with ``dep_i`` = ``stdp_delta(a_minus_i, y'_i)`` saturated to :data:`DEP` (computed once
    per neuron and step by the neuron pass, on this lane's multiplier).  Column pass
    (``row`` = 0), for a spiking post-synaptic neuron ``i``::

        W[j, i] <- clip(W[j, i] + stdp_delta(a_plus_i, x_j), w_min_i, w_max_i)   (if write)

    ``write`` is ``i_valid & learning & plastic[j, i]``.  Transmission adds the weight as
    read, i.e. before this step's learning.

    Latency and throughput
    ----------------------
    One synapse per cycle, no stalls.  Inputs presented in cycle ``t`` (the cycle the
    memories deliver the read data) give ``acc_data`` (and ``delta``) in cycle ``t + 1``
    (registered inputs, combinational sum) and the weight write request ``w_we`` in cycle
    ``t + 2`` (:attr:`LATENCY`; registered, so that the single-port synapse RAM is written
    an odd number of cycles after it was read).  ``amp * trace`` is registered whatever
    ``i_valid`` is: the core also uses this lane's multiplier to compute ``dep``.

    With ``stochastic`` (the core's option) ``dep`` is the unrounded :data:`DEP_PROD` and
    both updates are rounded by :func:`plasticore.fixed.round_shift` in the lane: to nearest,
    or, if ``stoch`` (the post neuron's rounding mode), with the random bits ``u`` of the
    synapse (``(P + u[12:28]) >> 16``, the same integer as the reference's
    ``(P * 2**12 + u[0:28]) >> 28``).  ``u`` is due one cycle after the other inputs.

    Members
    -------
    i_valid, row, learning, bank, addr, w, acc, dep, amp, trace, w_min, w_max : In
        One synapse: where it lives (``bank``, ``addr``, carried to the write), the SYNAPSE
        word and ``acc[i]`` as read, the depression (rows), the operands of the
        potentiation (columns) and the bounds.
    acc_data, delta : Out
        ``acc + weight`` and ``stdp_round(amp * trace)`` of the inputs one cycle earlier.
    w_we, w_bank, w_addr, w_data : Out
        The weight write request.
    """

    #: Cycles from the inputs to the weight write request.
    LATENCY = 2

    def __init__(self, addr_width: int, banks: int = 4, *, stochastic: bool = False,
                 eligibility: bool = False, triplet: bool = False):
        self.stochastic = stochastic
        self.eligibility = eligibility
        self.triplet = triplet
        #: The lane rounds the depression itself (from the unrounded DEP_PROD).
        self.unrounded = stochastic or eligibility or triplet
        ports = {
            "i_valid": In(1), "row": In(1), "learning": In(1), "bank": In(range(banks)),
            "addr": In(addr_width), "w": In(SYNAPSE), "acc": In(F.ACC),
            "dep": In(DEP_PROD if self.unrounded else DEP),
            "amp": In(TRIPLET_AMP if triplet else F.AMPLITUDE), "trace": In(F.TRACE),
            "w_min": In(F.WEIGHT), "w_max": In(F.WEIGHT),
            "acc_data": Out(F.ACC), "delta": Out(12),
            "prod": Out(TRIPLET_PROD if triplet else 28),
            "w_we": Out(1), "w_bank": Out(range(banks)), "w_addr": Out(addr_width),
            "w_data": Out(SYNAPSE),
        }
        if stochastic:
            ports.update({"stoch": In(1), "u": In(32)})
        if eligibility:
            ports.update({"target": In(1), "alpha_e": In(F.DECAY), "mod": In(1),
                          "r": In(F.MODULATOR)})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()

        p1_row = Signal()
        p1_write = Signal()
        p1_bank = Signal.like(self.bank)
        p1_addr = Signal.like(self.addr)
        p1_w = Signal(SYNAPSE)
        p1_prod = Signal(len(self.prod))          # UQ8.4 x UQ4.12 amplitude * trace
        p1_acc = Signal(F.ACC)
        p1_dep = Signal(DEP_PROD if self.unrounded else DEP)
        p1_min = Signal(F.WEIGHT)
        p1_max = Signal(F.WEIGHT)
        m.d.sync += [
            p1_row.eq(self.row),
            p1_write.eq(self.i_valid & self.learning & self.w.plastic),
            p1_bank.eq(self.bank), p1_addr.eq(self.addr), p1_w.eq(self.w),
            p1_prod.eq(self.amp * self.trace),
            p1_acc.eq(self.acc), p1_dep.eq(self.dep),
            p1_min.eq(self.w_min), p1_max.eq(self.w_max),
        ]
        m.d.comb += [
            self.prod.eq(p1_prod),
            # Cannot overflow: the accumulation starts from 0 each step and the sum of at most
            # 1,024 weights lies in [-2**17, 2**17 - 1024] (see ACC in plasticore.fixed).
            self.acc_data.eq(p1_acc + p1_w.weight),
        ]
        p1_stoch = Signal()
        u = Signal(32)
        if self.stochastic:
            m.d.sync += p1_stoch.eq(self.stoch)
            m.d.comb += u.eq(self.u)
        if self.triplet:
            dep, de_row, de_col = self._triplet_rounding(m, p1_row, p1_prod, p1_dep, p1_stoch,
                                                         u)
        elif self.unrounded:
            # round_shift: nearest adds 2**15, stochastic the random bits 12-27 (16 bits).
            add_w = Mux(p1_stoch, u[12:28], 1 << (F.STDP_SHIFT - 1))
            dep_full = (p1_dep + add_w) >> F.STDP_SHIFT               # 0 .. 4096
            dep = Mux(dep_full > 255, 255, dep_full[:8])
            m.d.comb += self.delta.eq(((p1_prod + add_w) >> F.STDP_SHIFT)[:12])
            add_e = Mux(p1_stoch, u[12:26], 1 << (F.STDP_SHIFT - F.ELIG_FRAC - 1))
            shift_e = F.STDP_SHIFT - F.ELIG_FRAC
            de_row = (p1_dep + add_e) >> shift_e                  # 0 .. 16384
            de_col = (p1_prod + add_e) >> shift_e
        else:
            dep, de_row, de_col = p1_dep, None, None
            m.d.comb += self.delta.eq(stdp_round(p1_prod))

        moved = Mux(p1_row, p1_w.weight - dep, p1_w.weight + self.delta)   # 14-bit signed
        w_new = Signal(F.WEIGHT)
        e_new = Signal(F.ELIGIBILITY)
        m.d.comb += [w_new.eq(clip(moved, p1_min, p1_max, F.WEIGHT)), e_new.eq(p1_w.elig)]
        if self.eligibility:
            self._eligibility(m, p1_row, p1_w, de_row, de_col, p1_min, p1_max, p1_stoch, u,
                              w_new, e_new)
        m.d.sync += [
            self.w_we.eq(p1_write), self.w_bank.eq(p1_bank), self.w_addr.eq(p1_addr),
            self.w_data.weight.eq(w_new), self.w_data.plastic.eq(p1_w.plastic),
        ]
        if self.eligibility:
            m.d.sync += self.w_data.elig.eq(e_new)
        return m

    def _triplet_rounding(self, m, p1_row, p1_prod, p1_dep, p1_stoch, u):
        """Option triplet: ``Q`` of the synapse and its rounded magnitudes, saturated at
        :data:`DELTA_MAX`: to the weight (the depression ``dep``, the potentiation on
        ``delta``) and to the eligibility (rows, columns: the same)."""
        q = Signal(TRIPLET_PROD)
        m.d.comb += q.eq(Mux(p1_row, (p1_dep << F.TRIPLET_SHIFT) + p1_prod, p1_prod))
        add_w = Mux(p1_stoch, u[:F.W_ROUND_SHIFT], 1 << (F.W_ROUND_SHIFT - 1))
        add_e = Mux(p1_stoch, u[:F.E_ROUND_SHIFT], 1 << (F.E_ROUND_SHIFT - 1))
        dw = (q + add_w) >> F.W_ROUND_SHIFT                   # < 2^17 + 1
        de = (q + add_e) >> F.E_ROUND_SHIFT                   # < 2^19 + 1
        dw_sat = Signal(8)
        de_sat = Signal(8)
        m.d.comb += [dw_sat.eq(Mux(dw > DELTA_MAX, DELTA_MAX, dw[:8])),
                     de_sat.eq(Mux(de > DELTA_MAX, DELTA_MAX, de[:8])),
                     self.delta.eq(dw_sat)]
        return dw_sat, de_sat, de_sat

    def _eligibility(self, m, p1_row, p1_w, de_row, de_col, p1_min, p1_max, p1_stoch, u,
                     w_new, e_new):
        """Option eligibility (docs/model.md 4.5, 4.6): for a post neuron with target
        ELIGIBILITY the STDP terms move ``e`` (rounded at shift 14: 2 fraction bits more)
        and keep ``W``; a modulation (``mod``) moves ``W`` by ``round(r e, 6)`` and decays
        ``e``; synapses of WEIGHT neurons keep both in a modulation."""
        p1_target, p1_mod = Signal(), Signal()
        p1_alpha = Signal(F.DECAY)
        p1_r = Signal(F.MODULATOR)
        m.d.sync += [p1_target.eq(self.target), p1_mod.eq(self.mod),
                     p1_alpha.eq(self.alpha_e), p1_r.eq(self.r)]
        e, w = p1_w.elig, p1_w.weight
        e_stdp = saturate(Mux(p1_row, e - de_row, e + de_col), F.ELIGIBILITY)
        # modulation: r * e has 4 + 2 fraction bits; e * alpha_e 15
        pm = p1_r * e
        d_mod = (pm + Mux(p1_stoch, u[:F.MOD_SHIFT], 1 << (F.MOD_SHIFT - 1))) >> F.MOD_SHIFT
        w_mod = clip(w + d_mod, p1_min, p1_max, F.WEIGHT)
        pe = e * p1_alpha
        e_down = (pe + Mux(e < 0, F.DECAY_ONE - 1, 0)) >> F.DECAY_FRAC
        e_mod = Mux(p1_stoch, (pe + u[16:31]) >> F.DECAY_FRAC, e_down)
        with m.If(p1_mod):
            with m.If(p1_target):
                m.d.comb += [w_new.eq(w_mod), e_new.eq(e_mod)]
            with m.Else():
                m.d.comb += [w_new.eq(w), e_new.eq(e)]
        with m.Elif(p1_target):
            m.d.comb += [w_new.eq(w), e_new.eq(e_stdp)]

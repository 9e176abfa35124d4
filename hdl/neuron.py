"""The pipelined LIF neuron datapath: step 1 of the reference timestep for one neuron per cycle."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import NEURON_STATE, CoreParams, ResetMode

from .arith import decay_round, saturate

__all__ = ["NeuronUpdate", "EARLY", "MID", "LATE"]

#: The parameters the first stage needs (the four decay factors, multiplied at once).
EARLY = data.StructLayout({"alpha_v": F.DECAY, "alpha_i": F.DECAY, "alpha_x": F.DECAY,
                           "alpha_y": F.DECAY})

#: The parameters of stage 3 (integration, threshold, depression operand) and of the output
#: stage (reset, refractory period, trace increments).  The core keeps them in memories of
#: their own and reads them when the neuron reaches the stage that uses them (addresses
#: ``mid_index``, ``late_index``), instead of carrying ~210 bits through pipeline registers.
#: ``reset_mode`` is in both: stage 2 forms the DEFERRED mode's subtraction and strict
#: firing level for stage 3 (2 bits fill MID's 60 to 62 of its four 16-bit block RAMs on
#: iCE40).
MID = data.StructLayout({"bias": F.BIAS, "threshold": F.THRESHOLD, "a_minus": F.AMPLITUDE,
                         "reset_mode": ResetMode})
LATE = data.StructLayout({"v_reset": F.V_RESET, "reset_mode": ResetMode,
                          "refractory": F.REFRACTORY, "x_inc": F.TRACE_INC,
                          "y_inc": F.TRACE_INC})


class NeuronUpdate(wiring.Component):
    r"""Step 1 of :mod:`plasticore.sim.reference` (the neuron update) for one neuron.

    The inputs are the words the core reads from its memories for neuron ``index``; the
    outputs are what it writes back::

        I   <- sat(decay(I, alpha_i) + (acc << w_shift))
        if ref > 0:  ref <- ref - 1; V held      else:  V <- sat(decay(V, alpha_v) + I + bias - sub)
        spike <- forced or (not refractory and V >= threshold + d)
        if spike:    V <- v_reset or sat(V - threshold) or V;  ref <- refractory
        (DEFERRED: d = 1, sub = threshold if the old V >= threshold + 1; else d = sub = 0;
         both are formed in stage 2, beside the decays, and registered for stage 3)
        x   <- sat(decay(x, alpha_x) + (spike ? x_inc : 0))
        y'  <- decay(y, alpha_y)            (out ``y_dec``: what depression reads this step)
        y   <- sat(y' + (spike ? y_inc : 0))  (out ``state.y``: the end-of-step value)
        acc <- 0                            (transmission accumulates into it afterwards)

    With ``clear`` set beside a neuron's inputs, its outputs are all zero instead (state,
    spike, ``y_dec``): the core's RESET command is a pass of cleared neurons.

    Latency and throughput
    ----------------------
    Fully pipelined: one neuron per cycle, no stalls.  ``i_valid``, ``index``, ``early``,
    ``w_shift``, ``state``, ``forced`` and ``clear`` presented in cycle ``t``, ``mid`` in
    cycle ``t + MID_CYC`` and ``late`` in cycle ``t + LATE_CYC`` give the outputs with
    ``o_valid`` in cycle ``t + LATENCY`` (``LATENCY`` = 3, ``MID_CYC`` = 1, ``LATE_CYC`` = 3;
    the outputs are combinational from the last stage's registers).  ``mid_index``
    (``late_index``) names, one cycle ahead, the neuron whose ``mid`` (``late``) parameters
    are due next: the address of a synchronous memory read.  The four multipliers
    (24x16, 24x16, 16x16, 16x16 bits) are in the first stage, registered, so that they map
    onto DSP blocks.

    Members
    -------
    i_valid, index, early, w_shift, state, forced, clear : In
        Neuron ``index``: its decay factors and input weight shift, its NEURON_STATE word as
        left by the previous step, and its forced-spike bit.
    mid : In(MID), late : In(LATE)
        The rest of its parameters, ``MID_CYC`` = 1 and ``LATE_CYC`` = 3 cycles later.
    mid_index, late_index : Out
        The neuron whose ``mid`` (``late``) parameters are due in the next cycle.
    o_valid, o_index, o_state, o_spike, o_y_dec : Out
        The same neuron ``LATENCY`` cycles later: new state (``acc`` = 0), spike, and the
        decayed post trace ``y'`` before this step's increment.
    dep_amp, dep_trace : Out
        ``a_minus`` and ``y'`` of the same neuron one cycle *before* ``o_valid``: the
        operands of its depression ``stdp_delta(a_minus, y')``, which the core multiplies on
        a synapse lane's multiplier (registered) so that the product is ready with
        ``o_valid``.
    """

    #: Cycles from ``i_valid`` to ``o_valid``.
    LATENCY = 3
    #: Cycles from ``i_valid`` to the neuron's ``mid`` parameters (``mid_index`` is ``index``:
    #: read with the state, so that the DEFERRED comparison gets a stage of its own).
    MID_CYC = 1
    #: Cycles from ``i_valid`` to the neuron's ``late`` parameters.
    LATE_CYC = 3

    def __init__(self, params: CoreParams):
        self.core_params = params
        idx = unsigned(params.index_width)
        super().__init__({
            "i_valid": In(1), "index": In(idx), "early": In(EARLY), "w_shift": In(F.W_SHIFT),
            "mid": In(MID), "late": In(LATE),
            "state": In(NEURON_STATE), "forced": In(1), "clear": In(1),
            "mid_index": Out(idx), "late_index": Out(idx),
            "o_valid": Out(1), "o_index": Out(idx), "o_state": Out(NEURON_STATE),
            "o_spike": Out(1), "o_y_dec": Out(F.TRACE),
            "dep_amp": Out(F.AMPLITUDE), "dep_trace": Out(F.TRACE),
        })

    def elaborate(self, platform):
        m = Module()
        e, s = self.early, self.state

        # -- stage 1: the four decay products, registered (DSP output register) ----------------
        p1_valid = Signal()
        p1_clear = Signal()
        p1_index = Signal.like(self.index)
        p1_pi = Signal(range(-(1 << 39), 1 << 39))         # I * alpha_i: 24 x 16 bits
        p1_pv = Signal(range(-(1 << 39), 1 << 39))
        p1_px = Signal(32)
        p1_py = Signal(32)
        p1_ineg = Signal()
        p1_vneg = Signal()
        p1_v = Signal(F.V)
        p1_accs = Signal(signed(F.ACC.width + 15))         # acc << w_shift (<= 15)
        p1_ref = Signal(F.REFRACTORY)
        p1_forced = Signal()
        m.d.sync += [
            p1_valid.eq(self.i_valid), p1_clear.eq(self.clear), p1_index.eq(self.index),
            p1_pi.eq(s.i * e.alpha_i), p1_pv.eq(s.v * e.alpha_v),
            p1_px.eq(s.x * e.alpha_x), p1_py.eq(s.y * e.alpha_y),
            p1_ineg.eq(s.i < 0), p1_vneg.eq(s.v < 0),
            # The input shift is done here, beside the multiplications, to keep it off the
            # stage-2 path (rounding, sum, saturation).
            p1_v.eq(s.v), p1_accs.eq(s.acc << self.w_shift), p1_ref.eq(s.ref),
            p1_forced.eq(self.forced),
        ]

        # -- stage 2: finish the decays; the new synaptic current --------------------------------
        p2_valid = Signal()
        p2_clear = Signal()
        p2_index = Signal.like(self.index)
        p2_i = Signal(F.I)
        p2_dv = Signal(F.V)
        p2_x = Signal(F.TRACE)
        p2_y = Signal(F.TRACE)
        p2_v = Signal(F.V)
        p2_ref = Signal(F.REFRACTORY)
        p2_forced = Signal()
        # acc << w_shift is at most 18 + 15 = 33 bits; the sum with decay(I) fits 34 bits.
        i_sum = decay_round(p1_pi, p1_ineg) + p1_accs
        m.d.sync += [
            p2_valid.eq(p1_valid), p2_clear.eq(p1_clear), p2_index.eq(p1_index),
            p2_i.eq(saturate(i_sum, F.I)),
            # |decay(x)| <= |x| for alpha <= 1.0, so these narrowings are exact.
            p2_dv.eq(decay_round(p1_pv, p1_vneg)),
            p2_x.eq(p1_px >> F.DECAY_FRAC),
            p2_y.eq(p1_py >> F.DECAY_FRAC),
            p2_v.eq(p1_v), p2_ref.eq(p1_ref), p2_forced.eq(p1_forced),
        ]
        p2_bias, p2_level, p2_a_minus = self._mid_operands(m, p1_v)
        m.d.comb += [self.mid_index.eq(self.index), self.late_index.eq(p2_index),
                     self.dep_amp.eq(p2_a_minus), self.dep_trace.eq(p2_y)]

        # -- stage 3: membrane integration and the threshold test --------------------------------
        p3_valid = Signal()
        p3_index = Signal.like(self.index)
        p3_i = Signal(F.I)
        p3_v = Signal(F.V)
        p3_ref = Signal(F.REFRACTORY)
        p3_spike = Signal()
        p3_x = Signal(F.TRACE)
        p3_y = Signal(F.TRACE)
        p3_threshold = Signal(F.THRESHOLD)
        refractory = p2_ref != 0
        v_int = saturate(p2_dv + p2_i + p2_bias, F.V)     # 27-bit sum
        v_new = Signal(F.V)
        m.d.comb += v_new.eq(Mux(refractory, p2_v, v_int))
        m.d.sync += [
            # The output stage subtracts the threshold only for SUBTRACT neurons, whose
            # firing level is the threshold itself (DEFERRED's + 1 is never used there).
            p3_valid.eq(p2_valid), p3_index.eq(p2_index), p3_threshold.eq(p2_level[:-1]),
            p3_i.eq(p2_i), p3_v.eq(v_new), p3_ref.eq(p2_ref - refractory),
            p3_spike.eq(p2_forced | (~refractory & (v_new >= p2_level))),
            p3_x.eq(p2_x), p3_y.eq(p2_y),
        ]
        # A cleared neuron leaves stage 3 all zero (a synchronous reset: free on FPGAs), so
        # every output below is zero: no spike, hence no reset and no trace increment.
        with m.If(p2_clear):
            m.d.sync += [p3_i.eq(0), p3_v.eq(0), p3_ref.eq(0), p3_spike.eq(0), p3_x.eq(0),
                         p3_y.eq(0)]

        # -- outputs: reset on spike, trace increments (combinational) --------------------------
        o = self.o_state
        late = self.late
        v_after = Signal(F.V)
        with m.If(late.reset_mode == ResetMode.SUBTRACT):
            m.d.comb += v_after.eq(saturate(p3_v - p3_threshold, F.V))
        with m.Elif(late.reset_mode == ResetMode.DEFERRED):
            m.d.comb += v_after.eq(p3_v)
        with m.Else():
            m.d.comb += v_after.eq(late.v_reset)
        x_inc = late.x_inc & p3_spike.replicate(F.TRACE_INC.width)
        y_inc = late.y_inc & p3_spike.replicate(F.TRACE_INC.width)
        m.d.comb += [
            self.o_valid.eq(p3_valid), self.o_index.eq(p3_index), self.o_spike.eq(p3_spike),
            o.i.eq(p3_i),
            o.v.eq(Mux(p3_spike, v_after, p3_v)),
            o.ref.eq(Mux(p3_spike, late.refractory, p3_ref)),
            o.acc.eq(0),
            o.x.eq(saturate(p3_x + x_inc, F.TRACE)),
            o.y.eq(saturate(p3_y + y_inc, F.TRACE)),
            self.o_y_dec.eq(p3_y),
        ]
        return m

    def _mid_operands(self, m, v_old):
        """What stage 3 needs of the MID parameters, registered in the cycle they arrive
        (``t + MID_CYC``, beside the decay rounding): the bias operand with DEFERRED's
        subtraction applied (25 bits) and the firing level (25 bits), and ``a_minus``.

        This keeps the comparison of the old V with the threshold out of stage 3: in series
        with the sum (RAM -> compare -> select -> sum -> saturate -> compare) it limited
        the iCE40 at N = 256 to 14.6 MHz, against 19.5-21.6 MHz without it."""
        p2_bias = Signal(signed(F.BIAS.width + 1))         # bias, or bias - threshold
        p2_level = Signal(signed(F.THRESHOLD.width + 1))   # threshold (+ 1 for DEFERRED)
        p2_a_minus = Signal(F.AMPLITUDE)
        level, bias = _deferred_reset(self.mid, v_old)
        m.d.sync += [p2_bias.eq(bias), p2_level.eq(level), p2_a_minus.eq(self.mid.a_minus)]
        return p2_bias, p2_level, p2_a_minus


def _deferred_reset(mid, v_old):
    """The firing level (``threshold + 1`` for DEFERRED, whose comparison is strict, else
    ``threshold``; 25 bits) and the bias operand of the update (``bias - threshold`` for a
    DEFERRED neuron whose old ``V`` is above the threshold, else ``bias``; 25 bits)."""
    deferred = mid.reset_mode == ResetMode.DEFERRED
    return (mid.threshold + deferred,
            Mux(deferred & (v_old > mid.threshold), mid.bias - mid.threshold, mid.bias))

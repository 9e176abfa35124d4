"""The all-to-all LIF core with on-chip pair STDP: its memories, datapaths and components
wired together (:class:`Core`), and its cycle budget (:func:`step_cycles`).

The parts: :class:`.core_memory.CoreMemories` (the memories, in this module's hierarchy),
:class:`.core_sequencer.Sequencer`, :class:`.core_access.AccessPort` (with its
:class:`.core_access.AddressDivider`), :class:`.core_monitor.CollisionMonitor`, the
:class:`.NeuronUpdate` datapath and two :class:`.SynapseUpdate` lanes.  What is left here is
the wiring of the memory ports: who drives each address, data and enable, in which phase.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    RULE_PARAMS,
    SYNAPSE,
    TRIPLET_STATE,
    CoreParams,
)

from .access import DATA_WIDTH, Phase, Region, request_layout
from .arith import saturate
from .core_access import AccessPort
from .core_memory import (
    BOUNDS,
    NEURON_WORD,
    PAR_LATE,
    PAR_MID,
    RULE_WORD,
    CoreMemories,
    Geometry,
    dep_layout,
    field_mask,
    gather,
    half,
    half_en,
    par_early_layout,
    par_late_layout,
    par_mid_layout,
    slist_layout,
    unrounded_dep,
)
from .core_monitor import CollisionMonitor
from .core_sequencer import (
    COL_PROLOGUE_CYC,
    FINISH_CYC,
    MOD_PROLOGUE_CYC,
    NEURON_DRAIN_CYC,
    ROW_PROLOGUE_CYC,
    SYNAPSE_DRAIN_CYC,
    Sequencer,
)
from .neuron import EARLY, LATE, MID, NeuronUpdate
from .rng import LaneHash, StepKey
from .synapse import DEP, DEP_PROD, SynapseUpdate
from .triplet import SlowTraceUpdate

__all__ = ["Core", "Geometry", "IMPLEMENTED_OPTIONS", "NEURON_WORD", "PAR_MID", "PAR_LATE",
           "BOUNDS", "step_cycles",
           "NEURON_DRAIN_CYC", "ROW_PROLOGUE_CYC", "COL_PROLOGUE_CYC", "SYNAPSE_DRAIN_CYC",
           "FINISH_CYC"]


#: The learning options (:data:`plasticore.core.OPTIONS`) the gateware implements.
IMPLEMENTED_OPTIONS = ("stochastic", "eligibility", "triplet")


def step_cycles(n: int, spikes: int, learning: bool, modulated: bool = False) -> int:
    """Exact clock cycles of one timestep (``busy`` high, Register.CYCLES) of a core of ``n``
    neurons in which ``spikes`` neurons fire; ``modulated``: the step carries a modulator
    (option eligibility); see :class:`Core`."""
    cycles = Core.neuron_pass_cyc(n) + Core.FINISH_CYC
    if spikes:
        cycles += Core.row_pass_cyc(n, spikes)
        if learning:
            cycles += Core.column_pass_cyc(n, spikes)
    if modulated and learning:
        cycles += Core.mod_pass_cyc(n)
    return cycles


class Core(wiring.Component):
    r"""One core of N all-to-all connected LIF neurons with pair STDP, as specified by
    :mod:`plasticore.sim.reference` (bit-exact).

    A timestep runs four phases, one at a time, each a pipelined loop:

    1. **Neuron pass** (:class:`.NeuronUpdate`): every neuron, one per cycle; spiking
       neurons are appended to the spike list; ``acc`` is cleared; the neuron's depression
       ``dep = min(stdp_delta(a_minus, y'), 255)`` is computed on lane 0's multiplier.
    2. **Row pass** (two :class:`.SynapseUpdate` lanes, ``row`` = 1): for each spiking neuron
       ``j`` (spike-list order) and every ``i``, two ``i`` per cycle: ``acc[i] += W[j, i]``
       and, if learning, ``W[j, i] <- clip(W[j, i] - dep_i)``.
    3. **Column pass** (learning only): for each spiking neuron ``i`` and every ``j``, two
       ``j`` per cycle: the potentiation of ``W[j, i]`` by ``stdp_delta(a_plus_i, x_j)``.
    4. **Finish**: the step counter increments; ``done`` pulses.

    The synapse matrix is in four single-port banks (:class:`Geometry`).  A row or column
    starts at pair 0, 1, 2 or 3 and wraps around, chosen so that bank reads keep alternating
    between the bank halves across the change of row and so that ``acc`` pairs are never
    read again within 2 cycles of their read-modify-write; the order within a row does not
    matter (each ``acc[i]`` gets one addition per row; each synapse one update per pass).
    Rows and columns follow each other without bubbles (the next spike-list entry and its
    parameters are prefetched); only the start of a pass and its pipeline drain cost cycles.

    Latency and throughput
    ----------------------
    With S neurons firing and ``P = 2 * ceil(N / 4)`` lane pairs per row, the step takes
    exactly :func:`step_cycles` cycles::

        neuron pass   N + 4          N + NEURON_DRAIN_CYC
        row pass      2 + S*P + 3    ROW_PROLOGUE_CYC + S*P + SYNAPSE_DRAIN_CYC  (S > 0)
        column pass   3 + S*P + 3    COL_PROLOGUE_CYC + S*P + SYNAPSE_DRAIN_CYC  (learning)
        finish        1              FINISH_CYC
        modulation    1 + N*P + 3    MOD_PROLOGUE_CYC + N*P + SYNAPSE_DRAIN_CYC
                                     (option eligibility: a modulated step, learning on)

    (:meth:`neuron_pass_cyc`, :meth:`row_pass_cyc`, :meth:`column_pass_cyc`,
    :attr:`FINISH_CYC`; the constants are :mod:`.core_sequencer`'s, whose FSM waits them
    out), i.e. two synapses per cycle in the row and column passes.  A RESET
    takes N + 5 cycles (:meth:`reset_cyc`): a neuron pass whose outputs are cleared.
    Access-port requests are accepted one per cycle while idle (a read's response follows
    one cycle after its request), except SYNAPSE requests when N is not a power of two,
    which first divide their address by N (``req.ready`` is low for ``index_width + 1``
    cycles); requests stall while ``busy``.

    Options
    -------
    ``CoreParams(stochastic, eligibility, triplet)`` (:data:`IMPLEMENTED_OPTIONS`;
    ``docs/architecture.md``, "Learning options"): stochastic rounding, three-factor
    learning (the modulation pass above), triplet STDP (the slow traces ``x2, y2`` updated
    by :class:`.triplet.SlowTraceUpdate` beside the neuron pass, the general update on the
    lanes).  Only the modulation pass adds cycles; a build without an option has the pair
    rule's datapath.

    Limits
    ------
    N >= 8 (``CoreParams`` enforces 8..1024) gives P >= 4 pairs per row, which the rotation
    rule and the prefetch of the next row (2 cycles) or column (3 cycles) rely on.  Memories
    power up as zero; there is no reset of memory contents other than the RESET command.

    Members
    -------
    req : In(stream.Signature(request_layout(params)))
        Read or write one word; see :mod:`.access` and ``docs/architecture.md``.  Writing a
        :class:`.Command` to :attr:`.Register.COMMAND` starts a step or a reset.
    rsp : Out(stream.Signature(DATA_WIDTH))
        One response per read request, in order.
    busy : Out(1)
        High while a step or reset runs; requests stall meanwhile.
    done : Out(1)
        One-cycle pulse at the last busy cycle of a step or reset.
    phase : Out(Phase)
        The running phase, for measurements.
    collision : Out(1)
        Sticky, for verification: set if a memory was ever written at the address it was
        read at, in a cycle whose read data is used, or a synapse bank was asked to read
        while it was written.  The design never does either (the tests check it after every
        step), which is what allows the board builds to declare read/write collisions
        don't-care (no bypass logic) and the synapse banks to be single-port RAMs.
    """

    #: Cycles of the finish phase (step counter, ``done``).
    FINISH_CYC = FINISH_CYC
    #: Cycles from the last synapse issue to its weight write: memory read + lane latency.
    SYNAPSE_DRAIN = SYNAPSE_DRAIN_CYC

    @staticmethod
    def neuron_pass_cyc(n):
        """Cycles of the neuron pass: N issues, then the drain (memory read and
        NeuronUpdate.LATENCY cycles) until the last write-back."""
        return n + NEURON_DRAIN_CYC

    @staticmethod
    def row_pass_cyc(n, spikes):
        """Cycles of the row pass: the prologue that fetches the first spike-list entry, S*P
        issues, then the drain until the last weight write."""
        return ROW_PROLOGUE_CYC + spikes * Geometry(n).pairs + SYNAPSE_DRAIN_CYC

    @staticmethod
    def column_pass_cyc(n, spikes):
        """Cycles of the column pass: the prologue that fetches the first entry and its
        learning parameters, S*P issues, then the drain as in the row pass."""
        return COL_PROLOGUE_CYC + spikes * Geometry(n).pairs + SYNAPSE_DRAIN_CYC

    @staticmethod
    def mod_pass_cyc(n):
        """Cycles of the modulation pass (option eligibility; a modulated step with learning
        on): its prologue, N*P issues (every synapse, two per cycle), the drain."""
        return MOD_PROLOGUE_CYC + n * Geometry(n).pairs + SYNAPSE_DRAIN_CYC

    @staticmethod
    def reset_cyc(n):
        """Cycles of a RESET command: a neuron pass of cleared neurons and the finish cycle."""
        return Core.neuron_pass_cyc(n) + FINISH_CYC

    def __init__(self, params: CoreParams | int):
        if not isinstance(params, CoreParams):
            params = CoreParams(params)
        missing = sorted(params.options - set(IMPLEMENTED_OPTIONS))
        if missing:
            raise NotImplementedError(
                f"The gateware does not implement the learning option(s) {', '.join(missing)} "
                f"yet (only {', '.join(IMPLEMENTED_OPTIONS)}); the reference model and the "
                f"virtual chip have them.")
        self.core_params = params
        self.geometry = Geometry(params.n)
        super().__init__({
            "req": In(stream.Signature(request_layout(params))),
            "rsp": Out(stream.Signature(DATA_WIDTH)),
            "busy": Out(1),
            "done": Out(1),
            "phase": Out(Phase),
            "collision": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        params = self.core_params
        mem = CoreMemories(m, params)
        m.submodules.neuron = neuron = NeuronUpdate(params)
        if params.triplet:
            m.submodules.slow = SlowTraceUpdate()
        lanes = [SynapseUpdate(self.geometry.bank_addr_shape.width,
                               stochastic=params.stochastic, eligibility=params.eligibility,
                               triplet=params.triplet)
                 for _ in range(2)]
        m.submodules.lane0, m.submodules.lane1 = lanes
        m.submodules.seq = seq = Sequencer(params)
        m.submodules.access = access = AccessPort(params)
        wiring.connect(m, wiring.flipped(self.req), access.req)
        wiring.connect(m, access.rsp, wiring.flipped(self.rsp))
        m.d.comb += [
            self.phase.eq(seq.phase), self.busy.eq(seq.busy), self.done.eq(seq.done),
            access.idle.eq(seq.phase == Phase.IDLE),
            access.step_count.eq(seq.step_count), access.spike_count.eq(seq.spike_count),
            access.cycles.eq(seq.cycles),
            seq.start.eq(access.start), seq.learning.eq(access.learning),
            seq.step_count_we.eq(access.step_count_we),
            seq.step_count_data.eq(self.req.payload.data),
            seq.spike.eq(neuron.o_valid & neuron.o_spike),
            seq.mid_index.eq(neuron.mid_index), seq.late_index.eq(neuron.late_index),
            seq.entry.eq(mem.sl_r.data[:params.index_width]), seq.a_plus.eq(mem.plate.a_plus),
            seq.rounding.eq(mem.plate.rounding if params.stochastic else 0),
            seq.bounds_pair.eq(mem.bnd_r.data),
            seq.host_addr.eq(self.req.payload.addr), seq.host_bank_addr.eq(access.syn_addr),
        ]
        self._read_addresses(m, mem, seq, access)
        self._neuron_inputs(m, mem, seq, neuron)
        self._lane_inputs(m, mem, seq, neuron, lanes, access.learning)
        self._write_backs(m, mem, seq, neuron, lanes)
        self._host_writes(m, mem, access)
        bank_re, bank_we = self._banks(m, mem, seq, access, lanes)
        self._monitor(m, mem, seq, access, bank_re, bank_we)
        self._response_data(m, mem, access)
        if params.stochastic:
            self._random_bits(m, mem, seq, access, lanes)
        if params.eligibility:
            self._eligibility(m, mem, seq, access, lanes)
        if params.triplet:
            self._triplet(m, mem, seq, access, neuron, lanes)
        return m

    def _triplet(self, m, mem, seq, access, neuron, lanes):
        """Triplet STDP: the slow traces (``trip``) updated beside the neuron pass, ``x2'`` into
        the spike list (rows), ``a3_minus y'`` on lane 1's multiplier and ``a3_plus y2'`` into
        ``dep``; the rows' and columns' multiplier operands; host access to TRIPLET_STATE."""
        slow = m.submodules.slow
        idle = seq.phase == Phase.IDLE
        req = self.req.payload
        late, mid = mem.plate, mem.pmid
        m.d.comb += [
            mem.trip_r.addr.eq(seq.neu_addr),
            slow.state.eq(mem.trip_r.data), slow.clear.eq(seq.rd_clear),
            slow.alpha_x2.eq(mem.early.alpha_x2), slow.alpha_y2.eq(mem.early.alpha_y2),
            slow.a3_plus.eq(mid.a3_plus),
            slow.spike.eq(neuron.o_spike), slow.x2_inc.eq(late.x2_inc),
            slow.y2_inc.eq(late.y2_inc),
            seq.entry_x2.eq(data.View(slist_layout(self.core_params), mem.sl_r.data).x2),
            access.trip_word.eq(mem.trip_r.data),
            mem.trip_w.addr.eq(Mux(idle, req.addr, neuron.o_index)),
            mem.trip_w.data.eq(Mux(idle, req.data[:TRIPLET_STATE.size], slow.o_state)),
            mem.trip_w.en.eq(Mux(idle, access.write & (req.region == Region.TRIPLET_STATE),
                                 neuron.o_valid)),
        ]
        dep = dep_layout(self.core_params)
        words = [data.View(dep, mem.dep_r.data[la * dep.size:][:dep.size]) for la in range(2)]
        m.d.comb += seq.pot_pair.eq(Cat(words[0].pot, words[1].pot))
        for la, lane in enumerate(lanes):
            # rows: Q = prod 2^12 + prod3 x2'_j; columns: Q = x_j (a_plus 2^12 + pot)
            trace = mem.x_r.data[la * F.TRACE.width:][:F.TRACE.width]
            m.d.comb += [lane.amp.eq(Mux(seq.rd_row, words[la].prod3, seq.rd_amp)),
                         lane.trace.eq(Mux(seq.rd_row, seq.rd_x2, trace))]
        # The neuron pass borrows lane 1's multiplier for a3_minus y' as lane 0's for
        # a_minus y' (restated: the assignments above override _lane_inputs').
        # ``mid`` arrives NeuronUpdate.MID_CYC = 1 cycle after the neuron's state, the depression
        # operands (dep_amp, dep_trace) one cycle later: a3_minus is registered to meet them.
        a3_minus = Signal.like(mid.a3_minus)
        m.d.sync += a3_minus.eq(mid.a3_minus)
        with m.If(seq.phase == Phase.NEURON):
            m.d.comb += [lanes[0].amp.eq(neuron.dep_amp), lanes[0].trace.eq(neuron.dep_trace),
                         lanes[1].amp.eq(a3_minus), lanes[1].trace.eq(neuron.dep_trace)]

    def _eligibility(self, m, mem, seq, access, lanes):
        """Three-factor learning: the ``rule`` pair memory (target, alpha_e) to the sequencer
        (columns) and the lanes (rows and the modulation pass: their own post neuron's;
        columns: the column's), the step's modulator, and the host's RULE_PARAMS writes."""
        modulate, r = self._modulator(m, mem, seq, access)
        m.d.comb += [seq.modulate.eq(modulate), seq.rule_pair.eq(mem.rule_r.data),
                     mem.rule_r.addr.eq(seq.rule_addr)]
        for la, lane in enumerate(lanes):
            rule = data.View(RULE_WORD, mem.rule_r.data[la * RULE_WORD.size:][:RULE_WORD.size])
            m.d.comb += [lane.target.eq(Mux(seq.rd_row, rule.target, seq.rd_target)),
                         lane.alpha_e.eq(rule.alpha_e), lane.mod.eq(seq.rd_mod),
                         lane.r.eq(r)]
        req = self.req.payload
        wrule = gather(m, RULE_WORD, [data.View(RULE_PARAMS, req.data[:RULE_PARAMS.size])])
        m.d.comb += [mem.rule_w.addr.eq(req.addr >> 1), mem.rule_w.data.eq(Cat(wrule, wrule))]
        with m.If(access.write & (req.region == Region.RULE_PARAMS)):
            m.d.comb += half_en(mem.rule_w, req.addr[0])

    def _modulator(self, m, mem, seq, access):
        """The step's modulator (docs/model.md 4.6): ``(modulate, r)``, the step is modulated
        (the host's modulator, or a modulator neuron fired) and ``r = sat(host r + the
        mod_weight of every neuron that fired)``.  The sum runs over the neuron pass, one
        neuron per cycle at its write-back (its late parameters are then on par_l's read
        port), in 8 + log2(N) + 1 bits: no overflow before the one saturation.  The
        sequencer decides on the modulation pass after the learning passes, or at the end of
        a neuron pass without spikes (no modulator neuron fired): ``modulate`` is complete
        by then.  ``r`` is registered, valid two cycles after the neuron pass, before the
        modulation pass's first issue (MOD_PROLOGUE_CYC = 1, then the bank read)."""
        neuron = m.submodules.neuron
        mw = mem.plate.mod_weight
        fires = (seq.phase == Phase.NEURON) & neuron.o_valid & neuron.o_spike
        total = Signal(signed(F.MODULATOR.width + self.core_params.index_width + 1))
        fired = Signal()                    # a modulator neuron fired this step
        with m.If(seq.phase == Phase.IDLE):
            m.d.sync += [total.eq(0), fired.eq(0)]
        with m.Elif(fires):
            m.d.sync += [total.eq(total + mw), fired.eq(fired | (mw != 0))]
        host = Mux(access.modulate, access.modulator, 0)
        r = Signal(F.MODULATOR)
        m.d.sync += r.eq(saturate(host + total, F.MODULATOR))
        return access.modulate | fired, r

    def _random_bits(self, m, mem, seq, access, lanes):
        """Stochastic rounding: the per-step key, each lane's random bits (of the synapse it
        issues, two cycles ahead of its rounding) and the rounding mode of its post neuron
        (rows: the ``dep`` word's; columns: the column's)."""
        m.submodules.step_key = key = StepKey()
        m.d.comb += [key.step.eq(seq.step_count), key.seed.eq(access.seed)]
        stoch_bit = dep_layout(self.core_params)["stoch"].offset
        for la, lane in enumerate(lanes):
            m.submodules[f"hash{la}"] = h = LaneHash(self.core_params.index_width)
            own = (seq.issue_q << 1) | la                    # neuron 2q + l of the line
            m.d.comb += [
                h.key.eq(key.key), h.kind.eq(Mux(seq.issue_mod, 2, ~seq.issue_row)),
                h.pre.eq(Mux(seq.issue_row, seq.issue_line, own)),
                h.post.eq(Mux(seq.issue_row, own, seq.issue_line)),
                lane.u.eq(h.u),
            ]
            word = mem.dep_r.data[la * mem.dep_width:][:mem.dep_width]
            stoch = word[stoch_bit]
            m.d.comb += lane.stoch.eq(Mux(seq.rd_row, stoch, seq.rd_stoch))

    def _read_addresses(self, m, mem, seq, access):
        """Read ports: the sequencer's addresses while busy, the host's while idle.  They
        run every cycle of a command; while idle only on a host read, so that the read data
        (the response) holds while the host is not ready for it."""
        idle = seq.phase == Phase.IDLE
        for port in mem.read_ports:
            m.d.comb += port.en.eq(access.read | ~idle)
        m.d.comb += [
            mem.pa_r.addr.eq(seq.neu_addr), mem.neu_r.addr.eq(seq.neu_addr),
            mem.pm_r.addr.eq(seq.pm_addr), mem.pl_r.addr.eq(seq.pl_addr),
            mem.sl_r.addr.eq(seq.sl_addr), mem.acc_r.addr.eq(seq.acc_addr),
            mem.x_r.addr.eq(seq.x_addr), mem.bnd_r.addr.eq(seq.bnd_addr),
            mem.dep_r.addr.eq(seq.dep_addr),
        ]

    def _neuron_inputs(self, m, mem, seq, neuron):
        """The neuron datapath takes the words read for the neuron issued one cycle ago."""
        neu, rd_half = mem.neu, seq.rd_index[0]
        m.d.comb += [
            neuron.i_valid.eq(seq.rd_n), neuron.index.eq(seq.rd_index),
            neuron.clear.eq(seq.rd_clear),
            neuron.early.eq(gather(m, EARLY, [mem.early])), neuron.w_shift.eq(neu.w_shift),
            neuron.mid.eq(gather(m, MID, [mem.pmid])),
            neuron.late.eq(gather(m, LATE, [mem.plate])),
            neuron.state.v.eq(neu.v), neuron.state.i.eq(neu.i),
            neuron.state.ref.eq(neu.ref), neuron.state.y.eq(neu.y),
            neuron.state.acc.eq(half(mem.acc_r.data, F.ACC.width, rd_half)),
            neuron.state.x.eq(half(mem.x_r.data, F.TRACE.width, rd_half)),
            neuron.forced.eq(neu.frc),
        ]

    def _lane_inputs(self, m, mem, seq, neuron, lanes, learning):
        """Each synapse lane takes its half of the pair words and its bank's read data."""
        bank_data = [port.data for port, _ in mem.banks]
        for la, lane in enumerate(lanes):
            bounds = data.View(BOUNDS, mem.bnd_r.data[la * BOUNDS.size:][:BOUNDS.size])
            w_read = Signal(SYNAPSE, name=f"lane{la}_w")
            with m.Switch(seq.rd_bank[la]):
                for b in range(4):
                    with m.Case(b):
                        m.d.comb += w_read.as_value().eq(bank_data[b])   # zero-extended
            m.d.comb += [
                lane.i_valid.eq(seq.rd_s & seq.rd_in[la]), lane.row.eq(seq.rd_row),
                lane.learning.eq(learning), lane.bank.eq(seq.rd_bank[la]),
                lane.addr.eq(seq.rd_addr[la]), lane.w.eq(w_read),
                lane.acc.eq(mem.acc_r.data[la * F.ACC.width:][:F.ACC.width]),
                lane.dep.eq(mem.dep_r.data[la * mem.dep_width:][:len(lane.dep)]),
                lane.amp.eq(seq.rd_amp),
                lane.trace.eq(mem.x_r.data[la * F.TRACE.width:][:F.TRACE.width]),
                lane.w_min.eq(Mux(seq.rd_row, bounds.w_min, seq.rd_min)),
                lane.w_max.eq(Mux(seq.rd_row, bounds.w_max, seq.rd_max)),
            ]
        # The neuron pass borrows lane 0's multiplier for the depression a_minus * y'; its
        # operands come one cycle before the neuron's write-back, the product with it.
        # (Option triplet: _triplet overrides the lanes' operands of the passes.)
        with m.If(seq.phase == Phase.NEURON):
            m.d.comb += [lanes[0].amp.eq(neuron.dep_amp), lanes[0].trace.eq(neuron.dep_trace)]

    def _write_backs(self, m, mem, seq, neuron, lanes):
        """Write ports of the per-neuron memories, driven by the datapaths (the host's
        writes, :meth:`_host_writes`, take over while idle)."""
        idle = seq.phase == Phase.IDLE
        req = self.req.payload
        o = neuron.o_state
        o_half = neuron.o_index[0]
        o_pair = neuron.o_index >> 1
        dep_max = (1 << DEP.width) - 1
        if unrounded_dep(self.core_params):
            # the unrounded depression and the neuron's rounding mode (its late parameters
            # are on par_l's read port at the write-back); triplet: its two products
            stoch = mem.plate.rounding if self.core_params.stochastic else 0
            dep_new = Signal(dep_layout(self.core_params))
            m.d.comb += [dep_new.prod.eq(lanes[0].prod[:DEP_PROD.width]),
                         dep_new.stoch.eq(stoch)]
            if self.core_params.triplet:
                m.d.comb += [dep_new.prod3.eq(lanes[1].prod[:DEP_PROD.width]),
                             dep_new.pot.eq(m.submodules.slow.o_pot)]
        else:
            dep_new = Mux(lanes[0].delta > dep_max, dep_max, lanes[0].delta[:DEP.width])
        with m.If(neuron.o_valid):
            # Everything but the parameter w_shift kept in the same word.
            m.d.comb += [mem.neu_w.en.eq(field_mask(NEURON_WORD, ("v", "i", "ref", "y", "spk",
                                                                  "frc"))),
                         half_en(mem.x_w, o_half), half_en(mem.acc_w, o_half),
                         half_en(mem.dep_w, o_half)]
        m.d.comb += mem.sl_w.en.eq(neuron.o_valid & neuron.o_spike)
        with m.If(seq.acc_we):
            m.d.comb += mem.acc_w.en.eq(0b11)

        # Write addresses and data: the host's while idle, the datapaths' otherwise (one
        # 2-way multiplexer per bit); the enables say which words (or parts) change.
        wstate = data.View(NEURON_STATE, req.data[:NEURON_STATE.size])
        wnpar = data.View(NEURON_PARAMS, req.data[:NEURON_PARAMS.size])
        # The write data of both parameter regions is wired at once, field by field from the
        # request word read as either layout; the bit enables choose what a write changes,
        # so there is no multiplexer on the ~210 parameter bits.
        wneu = gather(m, NEURON_WORD, [wstate, wnpar, data.View(
            data.StructLayout({"spk": 1, "frc": 1}), Cat(req.data[0], req.data[0]))])
        host_pair = req.addr >> 1
        acc_we = seq.acc_we
        m.d.comb += [
            mem.neu_w.addr.eq(Mux(idle, req.addr, neuron.o_index)),
            mem.neu_w.data.eq(Mux(idle, wneu, Cat(o.v, o.i, o.ref, o.y, neuron.o_spike, 0))),
            mem.x_w.addr.eq(Mux(idle, host_pair, o_pair)),
            mem.x_w.data.eq(Mux(idle, Cat(wstate.x, wstate.x), Cat(o.x, o.x))),
            mem.acc_w.addr.eq(Mux(idle, host_pair, Mux(acc_we, seq.acc_pair, o_pair))),
            mem.acc_w.data.eq(Mux(idle, Cat(wstate.acc, wstate.acc),
                                  Mux(acc_we, Cat(lanes[0].acc_data, lanes[1].acc_data), 0))),
            mem.dep_w.addr.eq(o_pair), mem.dep_w.data.eq(Cat(dep_new, dep_new)),
            mem.sl_w.addr.eq(Mux(idle, req.addr, seq.spike_count)),
            mem.sl_w.data.eq(Mux(idle, req.data[:self.core_params.index_width],
                                 self._spike_entry(m, neuron))),
        ]

    def _spike_entry(self, m, neuron):
        """The spike-list entry of the neuron at the write-back: its index, and with the
        triplet option its ``x2'`` (:func:`.core_memory.slist_layout`)."""
        if not self.core_params.triplet:
            return neuron.o_index
        return Cat(neuron.o_index, m.submodules.slow.o_x2_dec)

    def _host_writes(self, m, mem, access):
        """The memory map of host writes: which memory words (bits) a write to a region
        changes; the host's write data of the parameter memories and bounds."""
        req = self.req.payload
        wlearn = data.View(LEARNING_PARAMS, req.data[:LEARNING_PARAMS.size])
        wnpar = data.View(NEURON_PARAMS, req.data[:NEURON_PARAMS.size])
        wrules = data.View(RULE_PARAMS, req.data[:RULE_PARAMS.size])
        wbnd = gather(m, BOUNDS, [wlearn])
        m.d.comb += [mem.bnd_w.addr.eq(req.addr >> 1), mem.bnd_w.data.eq(Cat(wbnd, wbnd))]
        params = [wnpar, wlearn, wrules]
        cp = self.core_params
        par_ports = ((mem.pa_w, par_early_layout(cp)), (mem.pm_w, par_mid_layout(cp)),
                     (mem.pl_w, par_late_layout(cp)))
        for port, layout in par_ports:
            m.d.comb += [port.addr.eq(req.addr), port.data.eq(gather(m, layout, params))]
        state_bits = field_mask(NEURON_WORD, ("v", "i", "ref", "y"))
        w_half = req.addr[0]
        with m.If(access.write), m.Switch(req.region):
            with m.Case(Region.NEURON_PARAMS):
                names = [name for name, _ in NEURON_PARAMS]
                m.d.comb += [port.en.eq(field_mask(layout, names)) for port, layout in par_ports]
                m.d.comb += mem.neu_w.en.eq(field_mask(NEURON_WORD, names))
            with m.Case(Region.LEARNING_PARAMS):
                names = [name for name, _ in LEARNING_PARAMS]
                m.d.comb += [port.en.eq(field_mask(layout, names)) for port, layout in par_ports]
                m.d.comb += half_en(mem.bnd_w, w_half)
            with m.Case(Region.NEURON_STATE):
                m.d.comb += [mem.neu_w.en.eq(state_bits), half_en(mem.acc_w, w_half),
                             half_en(mem.x_w, w_half)]
            with m.Case(Region.RULE_PARAMS):
                # only the fields of the core's options are stored (the dispatcher refuses
                # the others unless they are 0)
                names = [name for name, _ in RULE_PARAMS]
                m.d.comb += [port.en.eq(field_mask(layout, names)) for port, layout in par_ports]
            with m.Case(Region.SPIKES):
                m.d.comb += mem.neu_w.en.eq(field_mask(NEURON_WORD, ("spk",)))
            with m.Case(Region.FORCED):
                m.d.comb += mem.neu_w.en.eq(field_mask(NEURON_WORD, ("frc",)))
            with m.Case(Region.SPIKE_LIST):
                m.d.comb += mem.sl_w.en.eq(1)

    def _banks(self, m, mem, seq, access, lanes):
        """Synapse bank ports.  Reads: the pair issued this cycle (each lane's address goes to
        its bank) or, while idle, the host's address.  Writes: the lanes' write-backs, or the
        host's write, which uses the read address path.  Returns the banks' read and write
        requests (for the collision monitor)."""
        idle = seq.phase == Phase.IDLE
        req = self.req.payload
        baddr = self.geometry.bank_addr_shape
        host_syn = access.write & (req.region == Region.SYNAPSE)
        bank_re = [Signal(name=f"syn{b}_re") for b in range(4)]
        bank_we = [Signal(name=f"syn{b}_we") for b in range(4)]
        for b, (rport, wport) in enumerate(mem.banks):
            lane_we = Signal(name=f"syn{b}_lane_we")
            waddr = Signal(baddr, name=f"syn{b}_waddr")
            wdata = Signal(SYNAPSE, name=f"syn{b}_wdata")
            m.d.comb += [waddr.eq(lanes[1].w_addr), wdata.eq(lanes[1].w_data)]
            for lane in lanes:
                with m.If(lane.w_we & (lane.w_bank == b)):
                    m.d.comb += lane_we.eq(1)
            with m.If(lanes[0].w_bank == b):
                m.d.comb += [waddr.eq(lanes[0].w_addr), wdata.eq(lanes[0].w_data)]
            raddr = Mux(seq.lane_bank[1] == b, seq.lane_addr[1], seq.lane_addr[0])
            issued = seq.issue_s & ((seq.lane_bank[0] == b) | (seq.lane_bank[1] == b))
            m.d.comb += [
                bank_re[b].eq(Mux(idle, access.read, issued)),
                bank_we[b].eq(lane_we | (host_syn & (access.syn_bank == b))),
                rport.addr.eq(Mux(lane_we, waddr, raddr)), wport.addr.eq(rport.addr),
                rport.en.eq(bank_re[b] & ~bank_we[b]),
                wport.en.eq(bank_we[b]),
                wport.data.eq(Mux(lane_we, wdata.as_value(),
                                  req.data[:SYNAPSE.size])[:mem.bank_width]),
            ]
        return bank_re, bank_we

    def _monitor(self, m, mem, seq, access, bank_re, bank_we):
        """The collision monitor (verification only; unconnected on boards)."""
        read = access.read
        issue_n = seq.issue_n
        row_s = seq.issue_s & seq.issue_row
        col_s = seq.issue_s & ~seq.issue_row
        in_lines = (seq.phase == Phase.ROWS) | (seq.phase == Phase.COLS)
        watched = {"neu": (issue_n | read, mem.neu_r, mem.neu_w),
                   "pend": (issue_n | row_s | read, mem.acc_r, mem.acc_w),
                   "xtr": (issue_n | col_s | read, mem.x_r, mem.x_w),
                   "dep": (row_s | (col_s if self.core_params.triplet else 0), mem.dep_r,
                           mem.dep_w),
                   "bounds": (row_s | read, mem.bnd_r, mem.bnd_w),
                   "par_a": (issue_n | in_lines | read, mem.pa_r, mem.pa_w),
                   "par_m": (seq.busy | read, mem.pm_r, mem.pm_w),
                   "par_l": (seq.busy | read, mem.pl_r, mem.pl_w),
                   "slist": (in_lines | read, mem.sl_r, mem.sl_w)}
        if self.core_params.triplet:
            watched["trip"] = (issue_n | read, mem.trip_r, mem.trip_w)
        m.submodules.monitor = monitor = CollisionMonitor(
            {name: len(r.addr) for name, (_, r, _) in watched.items()}, conflicts=4)
        for name, (used, rport, wport) in watched.items():
            port = getattr(monitor, name)
            m.d.comb += [port.used.eq(used), port.raddr.eq(rport.addr),
                         port.waddr.eq(wport.addr), port.we.eq(wport.en.any())]
        m.d.comb += [monitor.conflict.eq(Cat(bank_re[b] & bank_we[b] for b in range(4))),
                     self.collision.eq(monitor.collision)]

    def _response_data(self, m, mem, access):
        """The memories' read data, for the access port's responses."""
        if self.core_params.eligibility:
            m.d.comb += access.rule_pair.eq(mem.rule_r.data)
        m.d.comb += [
            *(access.syn_data[b].as_value().eq(port.data)
              for b, (port, _) in enumerate(mem.banks)),
            access.early.eq(mem.early), access.mid.eq(mem.pmid), access.late.eq(mem.plate),
            access.neu_word.eq(mem.neu), access.acc_pair.eq(mem.acc_r.data),
            access.bounds_pair.eq(mem.bnd_r.data), access.x_pair.eq(mem.x_r.data),
            access.entry.eq(mem.sl_r.data),
        ]

"""The core's sequencer: the phases of a timestep, and the latencies that set its length.

The cycle counts of every phase are named here once; the sequencer's FSM waits them out and
:func:`plasticore.hdl.core.step_cycles` (with ``Core.neuron_pass_cyc`` etc.) adds them up,
so that changing one changes both.
"""

from __future__ import annotations

from contextlib import contextmanager

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import CoreParams

from .access import Command, Phase, request_layout
from .core_memory import BOUNDS, RULE_WORD, Geometry, half
from .neuron import NeuronUpdate
from .synapse import DEP_PROD, TRIPLET_AMP, SynapseUpdate

__all__ = ["Sequencer", "MEM_READ_CYC", "NEURON_DRAIN_CYC", "ROW_PROLOGUE_CYC",
           "COL_PROLOGUE_CYC", "MOD_PROLOGUE_CYC", "SYNAPSE_DRAIN_CYC", "FINISH_CYC"]

#: Cycles from a memory read address to its data: every memory has synchronous read ports.
MEM_READ_CYC = 1
#: Cycles of the neuron pass after its last issue: the memory read, then
#: NeuronUpdate.LATENCY cycles until the last neuron's write-back (and its spike's count).
NEURON_DRAIN_CYC = MEM_READ_CYC + NeuronUpdate.LATENCY
#: Cycles before the row pass's first issue: read spike-list entry 0, then take it as the
#: first row.
ROW_PROLOGUE_CYC = MEM_READ_CYC + 1
#: Cycles before the column pass's first issue: read spike-list entry 0, then read that
#: neuron's learning parameters (``par_l``, ``bounds``), then take both for the first column.
COL_PROLOGUE_CYC = 2 * MEM_READ_CYC + 1
#: Cycles before the modulation pass's first issue (option eligibility): the first line
#: (row 0) is set up; it needs no prefetch.
MOD_PROLOGUE_CYC = 1
#: Cycles of a synapse pass after its last issue: the memory read, then
#: SynapseUpdate.LATENCY cycles until the last weight write.
SYNAPSE_DRAIN_CYC = MEM_READ_CYC + SynapseUpdate.LATENCY
#: Cycles of the finish phase (step counter, ``done``) and of a RESET's last cycle.
FINISH_CYC = 1


class Sequencer(wiring.Component):
    """The core's control: runs a STEP (neuron, row and column passes, finish) or a RESET
    (a pass of cleared neurons), issues the work of every cycle, and keeps the counters.

    Each pass is a pipelined loop, one issue per cycle: the neuron pass issues neuron
    ``index`` (``issue_n``); the row (column) pass issues the lane pair ``q`` of the line
    of spike-list entry ``k`` (``issue_s``, ``issue_row``).  A line starts at pair 0-3 and
    wraps around (the rotation rule of :meth:`_next_first_pair`); the next entry and, for
    columns, its learning parameters are prefetched, so lines follow each other without a bubble.

    Latency and throughput
    ----------------------
    With N neurons, P lane pairs per line (:class:`.core_memory.Geometry`) and S spikes::

        neuron pass   N issues + NEURON_DRAIN_CYC
        row pass      ROW_PROLOGUE_CYC + S*P issues + SYNAPSE_DRAIN_CYC  (S > 0)
        column pass   COL_PROLOGUE_CYC + S*P issues + SYNAPSE_DRAIN_CYC  (S > 0, learning)
        finish        FINISH_CYC
        RESET         N issues + NEURON_DRAIN_CYC + FINISH_CYC

    ``busy`` is high from the cycle after ``start`` to the last cycle, in which ``done``
    pulses; ``cycles`` then holds the number of busy cycles.  The four drains (RESET,
    neuron, row, column) are one mechanism: :meth:`_enter_drain` loads a counter with the
    drain's length at a pass's last issue, :meth:`_drain_state` counts it down; the two
    prologues are one too (:meth:`_prologue_state`).

    Members
    -------
    start : In(Command)
        The command written this cycle (sampled in idle).
    learning : In(1)
        Learning enable: the column pass runs only if set.
    step_count_we, step_count_data : In
        A host write of ``step_count`` (overridden by the sequencer's own updates).
    spike : In(1)
        The neuron datapath's output neuron fired (``o_valid & o_spike``).
    mid_index, late_index : In
        Neuron addresses of ``par_m`` and ``par_l`` during the neuron pass.
    entry : In
        The spike-list read data (one cycle after ``sl_addr``).
    a_plus, bounds_pair : In
        ``par_l.a_plus`` and the ``bounds`` pair word as read (column parameters).
    phase, busy, done, step_count, spike_count, cycles : Out
        Status (``phase`` for measurements; the counters for the CONTROL registers).
    host_addr, host_bank_addr : In
        The host's request address and, for a SYNAPSE request, its bank address.
    neu_addr, pm_addr, pl_addr, sl_addr, acc_addr, x_addr, dep_addr, bnd_addr : Out
        Read addresses of the memories (``neu_addr`` also for ``par_a``): while idle the
        host's (``host_addr``, halved for the pair memories), while busy the pass's (0 when
        a memory is not read).
    issue_n, issue_clear, issue_s, issue_row, lane_bank, lane_addr : Out
        This cycle's issue: a neuron (to be cleared), or a lane pair of a row (column) with
        its two banks and bank addresses (``host_bank_addr`` on both lanes while idle).
    rd_n, rd_clear, rd_s, rd_row, rd_index, rd_bank, rd_addr, rd_in, rd_amp, rd_min, rd_max : Out
        The issue of the previous cycle, beside the memories' read data: neuron index,
        lanes' banks and addresses, whether a lane is a real neuron (< N), and the column's
        learning parameters.
    acc_we, acc_pair : Out
        The row pass's write of the ``pend`` pair read one cycle earlier.
    issue_line, issue_q : Out
        The line (row or column neuron) and lane pair of this cycle's synapse issue: lane l
        visits neuron ``2 * issue_q + l`` of the line (for the random bits of the synapse).
    rounding, rd_stoch : In, Out (option stochastic)
        ``par_l.rounding`` as read (column parameters); the column's rounding mode beside
        the read data.
    modulate, rule_pair, rule_addr, issue_mod, rd_mod, rd_target : (option eligibility)
        The step is modulated (then, if learning, a modulation pass over all N rows follows
        the learning passes); the ``rule`` pair word as read and its read address; this
        cycle's issue (and the previous cycle's) belongs to the modulation pass; the
        column's target.
    entry_x2, rd_x2, pot_pair : In, Out, In (option triplet)
        The ``x2'`` field of the spike-list entry as read; the row's ``x2'`` beside the read
        data; the ``pot`` fields of the ``dep`` pair word as read (the column pass reads
        ``dep`` at the column's pair, and ``rd_amp`` is then ``a_plus 2^12 + pot``, 29 bits).
    """

    def __init__(self, params: CoreParams):
        self.core_params = params
        self.geometry = geo = Geometry(params.n)
        idx = unsigned(params.index_width)
        cnt = unsigned(params.n.bit_length())             # 0..N
        pair = geo.pair_shape
        baddr = geo.bank_addr_shape
        amp = TRIPLET_AMP if params.triplet else F.AMPLITUDE
        super().__init__({
            "start": In(Command), "learning": In(1),
            "step_count_we": In(1), "step_count_data": In(32),
            "spike": In(1), "mid_index": In(idx), "late_index": In(idx),
            "entry": In(idx), "a_plus": In(F.AMPLITUDE), "bounds_pair": In(2 * BOUNDS.size),
            "host_addr": In(request_layout(params).members["addr"]), "host_bank_addr": In(baddr),
            "phase": Out(Phase), "busy": Out(1), "done": Out(1),
            "step_count": Out(32), "spike_count": Out(cnt), "cycles": Out(32),
            "neu_addr": Out(idx), "pm_addr": Out(idx), "pl_addr": Out(idx),
            "sl_addr": Out(idx), "acc_addr": Out(pair), "x_addr": Out(pair),
            "dep_addr": Out(pair), "bnd_addr": Out(pair),
            "issue_n": Out(1), "issue_clear": Out(1), "issue_s": Out(1), "issue_row": Out(1),
            "lane_bank": Out(2).array(2), "lane_addr": Out(baddr).array(2),
            "rd_n": Out(1), "rd_clear": Out(1), "rd_s": Out(1), "rd_row": Out(1),
            "rd_index": Out(idx), "rd_bank": Out(2).array(2), "rd_addr": Out(baddr).array(2),
            "rd_in": Out(1).array(2), "rd_amp": Out(amp), "rd_min": Out(F.WEIGHT),
            "rd_max": Out(F.WEIGHT),
            "acc_we": Out(1), "acc_pair": Out(pair),
            "issue_line": Out(idx), "issue_q": Out(pair),
            "rounding": In(1), "rd_stoch": Out(1),
            "modulate": In(1), "rule_pair": In(2 * RULE_WORD.size), "rule_addr": Out(pair),
            "issue_mod": Out(1), "rd_mod": Out(1), "rd_target": Out(1),
            "entry_x2": In(F.TRACE), "rd_x2": Out(F.TRACE), "pot_pair": In(2 * DEP_PROD.width),
        })

    def elaborate(self, platform):
        m = Module()
        params, geo = self.core_params, self.geometry
        idx = unsigned(params.index_width)
        # `k` indexes the spike list, `c` counts within a neuron pass or a line (a row or a
        # column), `q` is the lane pair of the line, `q0` the pair it started at, `line` the
        # row (column) neuron, `rbase`/`cbase` the bank address of the line; `pre` counts a
        # prologue, `drain` a drain.
        self._k = Signal(unsigned(params.n.bit_length()))
        self._c = Signal(idx)
        self._q = Signal(geo.pair_shape)
        self._q0 = Signal(2)
        self._line = Signal(idx)
        self._rbase = Signal(geo.bank_addr_shape)
        self._cbase = Signal(geo.bank_addr_shape)
        self._pre = Signal(range(max(ROW_PROLOGUE_CYC, COL_PROLOGUE_CYC) + 1))
        self._drain = Signal(range(max(NEURON_DRAIN_CYC, SYNAPSE_DRAIN_CYC)))
        self._col_amp = Signal.like(self.rd_amp)
        self._line_x2 = Signal(F.TRACE)
        self._col_min = Signal(F.WEIGHT)
        self._col_max = Signal(F.WEIGHT)
        self._col_stoch = Signal()
        self._col_target = Signal()
        self._cycle_acc = Signal(32)
        # Expressions shared by the row and column states.
        k, q = self._k, self._q
        self._last_pair = self._c == geo.pairs - 1
        self._q_wrap = Mux(q == geo.pairs - 1, 0, q + 1)
        # The spike-list entry after the current one; 0 past the end, so that no read ever
        # addresses beyond a memory (Icarus would return X for it).
        self._next_k = Mux(k + 1 < self.spike_count, k + 1, 0)
        self._next_q0 = self._next_first_pair()
        self._take = self._take_column()
        self._host_reads(m)
        self._counters(m)
        self._issue_geometry(m)
        self._read_stage(m)
        self._fsm(m)
        return m

    # -- counters, issue geometry, read-data stage ------------------------------------------------

    def _host_reads(self, m):
        """While idle the read ports serve the host (the passes' addresses override these
        in the states that read)."""
        with m.If(self.phase == Phase.IDLE):
            m.d.comb += [port.eq(self.host_addr) for port in
                         (self.neu_addr, self.pm_addr, self.pl_addr, self.sl_addr)]
            m.d.comb += [port.eq(self.host_addr >> 1) for port in
                         (self.acc_addr, self.bnd_addr, self.x_addr, self.rule_addr)]

    def _counters(self, m):
        with m.If(self.spike):
            m.d.sync += self.spike_count.eq(self.spike_count + 1)
        with m.If(self.step_count_we):
            m.d.sync += self.step_count.eq(self.step_count_data)
        m.d.comb += self.busy.eq(self.phase != Phase.IDLE)
        with m.If(self.busy):
            m.d.sync += self._cycle_acc.eq(self._cycle_acc + 1)
        # The neuron pass reads the later parameters when a neuron reaches their stage.
        with m.If((self.phase == Phase.NEURON) | (self.phase == Phase.RESET)):
            m.d.comb += [self.pm_addr.eq(self.mid_index), self.pl_addr.eq(self.late_index)]

    def _issue_geometry(self, m):
        """Lane geometry of the pair issued this cycle: lane l takes neuron 2q + l of the line
        (rows: column i; columns: row j); its bank is in half (q + line/2) & 1 (Geometry)."""
        geo, q, line = self.geometry, self._q, self._line
        half_sel = q[0] ^ line[1]
        pair_index = Cat(Const(0, 1), q)                     # 2q
        self._lane_in = [Signal(name=f"lane{la}_in") for la in range(2)]
        for la in range(2):
            m.d.comb += [
                self.lane_bank[la].eq(Cat(line[0] ^ la, half_sel)),
                # Lanes past neuron N - 1 exist only when N is not a multiple of 4.
                self._lane_in[la].eq(1 if geo.padded == geo.n else pair_index + la < geo.n),
                self.lane_addr[la].eq(Mux(self.phase == Phase.IDLE, self.host_bank_addr,
                                          Mux(self.issue_row, self._rbase + (q >> 1),
                                              self._cbase + la * geo.quads))),
            ]

    def _read_stage(self, m):
        """The issue, one cycle later: what travels beside the memories' read data."""
        m.d.sync += [
            self.rd_n.eq(self.issue_n), self.rd_clear.eq(self.issue_clear),
            self.rd_s.eq(self.issue_s), self.rd_row.eq(self.issue_row),
            self.rd_index.eq(self._c), self.rd_amp.eq(self._col_amp),
            self.rd_min.eq(self._col_min), self.rd_max.eq(self._col_max),
            self.rd_stoch.eq(self._col_stoch), self.rd_mod.eq(self.issue_mod),
            self.rd_target.eq(self._col_target), self.rd_x2.eq(self._line_x2),
        ]
        m.d.comb += [self.issue_line.eq(self._line), self.issue_q.eq(self._q)]
        for la in range(2):
            m.d.sync += [self.rd_bank[la].eq(self.lane_bank[la]),
                         self.rd_addr[la].eq(self.lane_addr[la]),
                         self.rd_in[la].eq(self._lane_in[la])]
        # The row pass writes both accumulators of the pair one cycle after the read data.
        rd_q = Signal.like(self._q)
        m.d.sync += [rd_q.eq(self._q), self.acc_pair.eq(rd_q),
                     self.acc_we.eq(self.rd_s & self.rd_row & ~self.rd_mod)]

    # -- the FSM ------------------------------------------------------------------------------

    def _start_line(self, index, first):
        """Registers for a line on neuron ``index`` starting at pair ``first`` (0-3)."""
        geo = self.geometry
        return [self._line.eq(index), self._q.eq(first), self._q0.eq(first), self._c.eq(0),
                self._rbase.eq(index * geo.quads),
                self._cbase.eq(first * geo.pairs + (index >> 2))]

    def _next_first_pair(self, nxt=None):
        """The first pair of the next line (neuron ``nxt``, default the prefetched spike-list
        entry).  Bank rule: its bank half must differ from that of
        the last pair (q0 - 1) of this line, i.e. its parity is r below.  acc rule (rows): it
        must not be the last pair or the one before (read 1-2 cycles ago, still being
        written): q0 = 1 forbids pair 0, q0 = 2 forbids 0 and 1, q0 = 3 forbids 1; then r + 2
        (same parity, same bank half) is free."""
        q0 = self._q0
        nxt = self.entry if nxt is None else nxt
        r = q0[0] ^ self._line[1] ^ nxt[1]
        bumped = (q0 == 2) | ((q0 == 1) & ~r) | ((q0 == 3) & r)
        return Cat(r, bumped)

    def _take_column(self):
        """Learning parameters of column ``entry``: a_plus from ``par_l``, the bounds from
        its half of the ``bounds`` pair word."""
        col_bounds = data.View(BOUNDS, half(self.bounds_pair, BOUNDS.size, self.entry[0]))
        amp = self.a_plus
        if self.core_params.triplet:
            # the column's amplitude of docs/model.md 4.5: a_plus 2^12 + a3_plus y2' (< 2^29)
            pot = half(self.pot_pair, DEP_PROD.width, self.entry[0])
            amp = (self.a_plus << F.TRIPLET_SHIFT) + pot
        take = [self._col_amp.eq(amp), self._col_min.eq(col_bounds.w_min),
                self._col_max.eq(col_bounds.w_max)]
        if self.core_params.stochastic:
            take.append(self._col_stoch.eq(self.rounding))
        if self.core_params.eligibility:
            rule = data.View(RULE_WORD, half(self.rule_pair, RULE_WORD.size, self.entry[0]))
            take.append(self._col_target.eq(rule.target))
        return take

    def _enter_drain(self, m, state, cycles):
        """Leave the last issue of a pass for drain ``state``, which lasts ``cycles``."""
        m.d.sync += self._drain.eq(cycles - 1)
        m.next = state

    @contextmanager
    def _drain_state(self, m, state, phase):
        """Drain state ``state`` (in ``phase``): counts down what :meth:`_enter_drain`
        loaded; the ``with`` body runs in its last cycle."""
        with m.State(state):
            m.d.comb += self.phase.eq(phase)
            m.d.sync += self._drain.eq(self._drain - 1)
            with m.If(self._drain == 0):
                yield

    @contextmanager
    def _prologue_state(self, m, state, phase, cycles):
        """Prologue state ``state`` (in ``phase``) of ``cycles`` cycles: reads spike-list
        entry 0 and, for columns, its learning parameters; the ``with`` body runs in the
        last cycle."""
        with m.State(state):
            m.d.comb += [self.phase.eq(phase), self.sl_addr.eq(0)]
            if phase == Phase.COLS:
                m.d.comb += self._column_reads()
            m.d.sync += self._pre.eq(self._pre + 1)
            with m.If(self._pre == cycles - 1):
                yield

    def _column_reads(self):
        """Addresses of the learning parameters of column ``entry`` (the next column)."""
        reads = [self.pl_addr.eq(self.entry), self.bnd_addr.eq(self.entry >> 1),
                 self.rule_addr.eq(self.entry >> 1)]
        if self.core_params.triplet:
            reads.append(self.dep_addr.eq(self.entry >> 1))      # its ``pot``
        return reads

    def _fsm(self, m):
        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.comb += self.phase.eq(Phase.IDLE)
                m.d.sync += [self._c.eq(0), self._cycle_acc.eq(0)]
                with m.If(self.start == Command.STEP):
                    m.d.sync += self.spike_count.eq(0)
                    m.next = "NEURON"
                with m.Elif(self.start == Command.RESET):
                    m.next = "RESET"
            self._reset_states(m)
            self._neuron_states(m)
            self._row_states(m)
            self._column_states(m)
            if self.core_params.eligibility:
                self._modulation_states(m)
            with m.State("FINISH"):
                m.d.comb += [self.phase.eq(Phase.FINISH), self.done.eq(1)]
                m.d.sync += [self.step_count.eq(self.step_count + 1),
                             self.cycles.eq(self._cycle_acc + 1)]
                m.next = "IDLE"

    def _issue_neurons(self, m, drain):
        """Issue neuron c (one per cycle); after the last, drain into ``drain``."""
        c = self._c
        m.d.comb += [self.issue_n.eq(1), self.neu_addr.eq(c), self.acc_addr.eq(c >> 1),
                     self.x_addr.eq(c >> 1)]
        m.d.sync += c.eq(c + 1)
        with m.If(c == self.core_params.n - 1):
            self._enter_drain(m, drain, NEURON_DRAIN_CYC)

    def _reset_states(self, m):
        with m.State("RESET"):
            # A neuron pass of cleared neurons: its write-back zeroes v, i, ref, y, x, acc,
            # the spike and the forced bit of every neuron, with no write path of its own.
            m.d.comb += [self.phase.eq(Phase.RESET), self.issue_clear.eq(1)]
            self._issue_neurons(m, "RESET_DRAIN")
        with self._drain_state(m, "RESET_DRAIN", Phase.RESET):
            m.next = "RESET_DONE"
        with m.State("RESET_DONE"):
            m.d.comb += [self.phase.eq(Phase.FINISH), self.done.eq(1)]
            m.d.sync += [self.step_count.eq(0), self.spike_count.eq(0),
                         self.cycles.eq(self._cycle_acc + 1)]
            m.next = "IDLE"

    def _neuron_states(self, m):
        with m.State("NEURON"):
            m.d.comb += self.phase.eq(Phase.NEURON)
            self._issue_neurons(m, "NEURON_DRAIN")
        with self._drain_state(m, "NEURON_DRAIN", Phase.NEURON):
            # The last write-back and the final spike count land in the last drain cycle.
            m.d.sync += [self._pre.eq(0), self._k.eq(0)]
            # The last neuron's spike is counted at the end of this very cycle.
            with m.If((self.spike_count == 0) & ~self.spike):
                self._after_learning(m)
            with m.Else():
                m.next = "ROWS_PRE"

    def _line_state(self, m, state, phase, drain, extra):
        """Issue the lane pairs of the line (row or column) of spike-list entry ``k``, one
        pair per cycle; then the next entry's line, prefetched (``entry``); after the last
        entry, drain into ``drain``.  ``extra`` are the state's own statements."""
        q, c, k = self._q, self._c, self._k
        with m.State(state):
            m.d.comb += [self.phase.eq(phase), self.issue_s.eq(1)]
            # Prefetch the next line's neuron (valid from the line's second cycle on).
            m.d.comb += self.sl_addr.eq(self._next_k)
            m.d.sync += [c.eq(c + 1), q.eq(self._q_wrap)]
            last_pair = extra()
            with m.If(self._last_pair):
                m.d.sync += [k.eq(k + 1), *self._start_line(self.entry, self._next_q0),
                             *last_pair]
                with m.If(k + 1 == self.spike_count):
                    self._enter_drain(m, drain, SYNAPSE_DRAIN_CYC)

    def _row_states(self, m):
        # The row's x2' (option triplet) comes with its spike-list entry.
        take_x2 = [self._line_x2.eq(self.entry_x2)] if self.core_params.triplet else []
        with self._prologue_state(m, "ROWS_PRE", Phase.ROWS, ROW_PROLOGUE_CYC):
            m.d.sync += [*self._start_line(self.entry, 0), *take_x2]
            m.next = "ROWS"

        def row():
            m.d.comb += [self.issue_row.eq(1), self.acc_addr.eq(self._q),
                         self.dep_addr.eq(self._q), self.bnd_addr.eq(self._q),
                         self.rule_addr.eq(self._q)]
            return take_x2
        self._line_state(m, "ROWS", Phase.ROWS, "ROWS_DRAIN", row)
        with self._drain_state(m, "ROWS_DRAIN", Phase.ROWS):
            m.d.sync += [self._pre.eq(0), self._k.eq(0)]
            with m.If(self.learning):
                m.next = "COLS_PRE"
            with m.Else():
                m.next = "FINISH"

    def _column_states(self, m):
        with self._prologue_state(m, "COLS_PRE", Phase.COLS, COL_PROLOGUE_CYC):
            m.d.sync += [*self._start_line(self.entry, 0), *self._take]
            m.next = "COLS"

        def column():
            # Prefetch the next column's parameters too: valid from its third cycle on.
            geo, q = self.geometry, self._q
            m.d.comb += [self.x_addr.eq(q), *self._column_reads()]
            m.d.sync += self._cbase.eq(Mux(q == geo.pairs - 1, self._line >> 2,
                                           self._cbase + geo.pairs))
            return self._take
        self._line_state(m, "COLS", Phase.COLS, "COLS_DRAIN", column)
        with self._drain_state(m, "COLS_DRAIN", Phase.COLS):
            self._after_learning(m)

    def _after_learning(self, m):
        """After the learning passes (or a neuron pass without spikes): the modulation pass
        if the step is modulated and learning is on (option eligibility), else finish."""
        if self.core_params.eligibility:
            with m.If(self.modulate & self.learning):
                m.d.sync += self._pre.eq(0)
                m.next = "MOD_PRE"
            with m.Else():
                m.next = "FINISH"
        else:
            m.next = "FINISH"

    def _modulation_states(self, m):
        """Every row j = 0 .. N-1, every lane pair: the modulation of each synapse; rows
        follow each other without a bubble (the rotation rule with the next row j + 1)."""
        q, c = self._q, self._c
        with m.State("MOD_PRE"):
            m.d.comb += self.phase.eq(Phase.MOD)
            m.d.sync += self._start_line(0, 0)
            m.next = "MOD"
        with m.State("MOD"):
            m.d.comb += [self.phase.eq(Phase.MOD), self.issue_s.eq(1), self.issue_row.eq(1),
                         self.issue_mod.eq(1), self.bnd_addr.eq(q), self.rule_addr.eq(q),
                         self.dep_addr.eq(q)]
            m.d.sync += [c.eq(c + 1), q.eq(self._q_wrap)]
            nxt = (self._line + 1)[:len(self._line)]
            with m.If(self._last_pair):
                m.d.sync += self._start_line(nxt, self._next_first_pair(nxt))
                with m.If(self._line == self.core_params.n - 1):
                    self._enter_drain(m, "MOD_DRAIN", SYNAPSE_DRAIN_CYC)
        with self._drain_state(m, "MOD_DRAIN", Phase.MOD):
            m.next = "FINISH"

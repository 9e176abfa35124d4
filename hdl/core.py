"""The all-to-all LIF core with on-chip pair STDP: memories, sequencer and access port."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    SYNAPSE,
    CoreParams,
)
from plasticore.protocol import contract_hash

from .access import DATA_WIDTH, Command, Phase, Region, Register, request_layout
from .neuron import EARLY, LATE, MID, NeuronUpdate
from .synapse import DEP, SynapseUpdate

__all__ = ["Core", "Geometry", "NEURON_WORD", "PAR_MID", "PAR_LATE", "BOUNDS", "step_cycles"]

#: The neuron memory (``neu``), one word per neuron: the NEURON_STATE fields only the neuron
#: pass touches, the spike of the last step, the forced bit and the input weight shift
#: (a parameter the neuron's first stage needs; 78 bits, 5 block RAMs of 16 bits on iCE40).
NEURON_WORD = data.StructLayout({"v": F.V, "i": F.I, "ref": F.REFRACTORY, "y": F.TRACE,
                                 "spk": 1, "frc": 1, "w_shift": F.W_SHIFT})

#: The parameter memories, read by the neuron pass when a neuron reaches the stage that uses
#: them (see NeuronUpdate): ``par_a`` (:data:`.neuron.EARLY`, decay factors, 64 bits) with the
#: state, ``par_m`` (:data:`PAR_MID`, 60 bits) 2 cycles and ``par_l`` (:data:`PAR_LATE`,
#: 77 bits) 3 cycles later; the column pass reads ``a_plus`` from ``par_l``.  On an iCE40
#: that is 4 + 4 + 5 block RAMs, one fewer than NEURON_PARAMS and LEARNING_PARAMS apart.
PAR_MID = MID
PAR_LATE = data.StructLayout({**{name: field.shape for name, field in LATE},
                              "a_plus": F.AMPLITUDE})

#: The weight bounds of the synapses into a neuron: read by both lanes of the row pass.
BOUNDS = data.StructLayout({"w_min": F.WEIGHT, "w_max": F.WEIGHT})


def _field_mask(layout, names):
    """Bit-granular write enables of the fields of ``layout`` that are in ``names``."""
    mask = 0
    for name, field in layout:
        if name in names:
            mask |= ((1 << field.width) - 1) << field.offset
    return mask


def _gather(m, layout, views, name=None):
    """A Signal of ``layout`` whose fields come, by name, from the first of ``views``
    (``data.View`` s) that has them."""
    out = Signal(layout, name=name)
    for field, _ in layout:
        view = next(v for v in views if field in v.shape().members)
        m.d.comb += out[field].eq(view[field])
    return out


class Geometry:
    """Where the core keeps a synapse: the synapse matrix lives in four single-port banks.

    Synapse ``(j, i)`` (row j = pre, column i = post) is in bank
    ``2 * (((i >> 1) + (j >> 1)) & 1) + ((i + j) & 1)`` at address ``j * Q + (i >> 2)``,
    with ``Q = ceil(N / 4)``.  The two lanes visit a pair of synapses per cycle, ``(j, 2q)``
    and ``(j, 2q + 1)`` in a row, ``(2q, i)`` and ``(2q + 1, i)`` in a column: each pair
    lies in two different banks of the same half ``{0, 1}`` or ``{2, 3}``, and consecutive
    pairs alternate between the halves.  So every bank is read at most every other cycle, and
    the write-back of a read (2 cycles later: odd) never meets a read of the same bank: the
    banks can be single-port RAMs (the iCE40UP's 4 SPRAMs hold N = 256).

    The per-neuron memories the lanes read (``acc``, ``dep``, bounds, ``x``) hold neurons
    ``2q`` and ``2q + 1`` in one word ("pairs") at address ``q``.  Sizes are padded to
    ``NP = 4 * Q`` neurons; lanes of neurons ``>= N`` read but never write.
    """

    def __init__(self, n: int):
        self.n = n
        self.quads = (n + 3) // 4                      # Q: addresses per row in a bank
        self.padded = 4 * self.quads                   # NP
        self.pairs = self.padded // 2                  # P: lane pairs per row or column
        self.bank_depth = self.padded * self.quads

    @staticmethod
    def bank(j, i):
        return 2 * (((i >> 1) + (j >> 1)) & 1) + ((i + j) & 1)

    def address(self, j, i):
        return j * self.quads + (i >> 2)


def step_cycles(n: int, spikes: int, learning: bool) -> int:
    """Exact clock cycles of one timestep (``busy`` high, Register.CYCLES) of a core of ``n``
    neurons in which ``spikes`` neurons fire; see :class:`Core`."""
    cycles = Core.neuron_pass_cyc(n) + Core.FINISH_CYC
    if spikes:
        cycles += Core.row_pass_cyc(n, spikes)
        if learning:
            cycles += Core.column_pass_cyc(n, spikes)
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

        neuron pass   N + 4                 (4 = memory read + NeuronUpdate.LATENCY)
        row pass      2 + S*P + 3           (only if S > 0)
        column pass   3 + S*P + 3           (only if S > 0 and learning)
        finish        1

    (:meth:`neuron_pass_cyc`, :meth:`row_pass_cyc`, :meth:`column_pass_cyc`,
    :attr:`FINISH_CYC`), i.e. two synapses per cycle in the row and column passes.  A RESET
    takes N + 5 cycles (:meth:`reset_cyc`): a neuron pass whose outputs are cleared.
    Access-port requests are accepted one per cycle while idle (a read's response follows
    one cycle after its request), except SYNAPSE requests when N is not a power of two,
    which first divide their address by N (``index_width`` cycles, during which
    ``req.ready`` is low); requests stall while ``busy``.

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
    FINISH_CYC = 1
    #: Cycles from the last synapse issue to its weight write: memory read + lane latency.
    SYNAPSE_DRAIN = 1 + SynapseUpdate.LATENCY

    @staticmethod
    def neuron_pass_cyc(n):
        """Cycles of the neuron pass: N issues, then the memory read and
        NeuronUpdate.LATENCY cycles until the last write-back."""
        return n + 1 + NeuronUpdate.LATENCY

    @staticmethod
    def row_pass_cyc(n, spikes):
        """Cycles of the row pass: 2 to fetch the first spike-list entry, S*P issues, then
        the drain until the last weight write."""
        return 2 + spikes * Geometry(n).pairs + Core.SYNAPSE_DRAIN

    @staticmethod
    def column_pass_cyc(n, spikes):
        """Cycles of the column pass: 3 to fetch the first entry and its learning
        parameters, S*P issues, then the drain as in the row pass."""
        return 3 + spikes * Geometry(n).pairs + Core.SYNAPSE_DRAIN

    @staticmethod
    def reset_cyc(n):
        """Cycles of a RESET command: a neuron pass of cleared neurons and the finish cycle."""
        return Core.neuron_pass_cyc(n) + 1

    def __init__(self, params: CoreParams | int):
        if not isinstance(params, CoreParams):
            params = CoreParams(params)
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
        n_neurons = self.core_params.n
        geo = self.geometry
        iw = self.core_params.index_width
        idx_shape = unsigned(iw)
        cnt_shape = unsigned(n_neurons.bit_length())          # 0..N
        pair_shape = unsigned(max(1, (geo.pairs - 1).bit_length()))
        bank_addr_shape = unsigned(max(1, (geo.bank_depth - 1).bit_length()))

        # -- memories: one read port and one write port each (simple dual-port RAM) -----------
        def memory(name, shape, depth, granularity=None):
            mem = Memory(shape=shape, depth=depth, init=[])
            m.submodules[name] = mem
            kw = {} if granularity is None else {"granularity": granularity}
            return mem.read_port(), mem.write_port(**kw)

        # Synapse banks: single-port use (see Geometry); each bank's read and write ports share
        # one address, and a write suppresses the read, so a schedule error would show up as a
        # wrong weight in simulation instead of being hidden by the dual-port model.
        banks = [memory(f"syn{b}", SYNAPSE, geo.bank_depth) for b in range(4)]
        pa_r, pa_w = memory("par_a", EARLY.size, n_neurons, granularity=1)
        pm_r, pm_w = memory("par_m", PAR_MID.size, n_neurons, granularity=1)
        pl_r, pl_w = memory("par_l", PAR_LATE.size, n_neurons, granularity=1)
        neu_r, neu_w = memory("neu", NEURON_WORD.size, n_neurons, granularity=1)
        acc_r, acc_w = memory("pend", 2 * F.ACC.width, geo.pairs, granularity=F.ACC.width)
        dep_r, dep_w = memory("dep", 2 * DEP.width, geo.pairs, granularity=DEP.width)
        bnd_r, bnd_w = memory("bounds", 2 * BOUNDS.size, geo.pairs, granularity=BOUNDS.size)
        x_r, x_w = memory("xtr", 2 * F.TRACE.width, geo.pairs, granularity=F.TRACE.width)
        sl_r, sl_w = memory("slist", idx_shape, n_neurons)
        read_ports = [pa_r, pm_r, pl_r, neu_r, acc_r, dep_r, bnd_r, x_r, sl_r]

        early = data.View(EARLY, pa_r.data)
        pmid = data.View(PAR_MID, pm_r.data)
        plate = data.View(PAR_LATE, pl_r.data)
        neu = data.View(NEURON_WORD, neu_r.data)

        def half(value, width, which):
            """Neuron ``2q + which`` of a pair word."""
            return Mux(which, value[width:2 * width], value[:width])

        def half_en(port, which):
            """Write enables of one neuron of a pair word (granularity = one neuron)."""
            return port.en.eq(Cat(~which, which))

        m.submodules.neuron = neuron = NeuronUpdate(self.core_params)
        lanes = [SynapseUpdate(bank_addr_shape.width) for _ in range(2)]
        m.submodules.lane0, m.submodules.lane1 = lanes

        # -- registers ----------------------------------------------------------------------
        learning = Signal()
        step_count = Signal(32)
        spike_count = Signal(cnt_shape)
        cycles = Signal(32)
        cycle_acc = Signal(32)

        # Sequencer: `k` indexes the spike list, `c` counts within a neuron pass or a line
        # (a row or a column), `q` is the lane pair of the line, `q0` the pair it started at,
        # `line` the row (column) neuron, `rbase`/`cbase` the bank address of the line.
        k = Signal(cnt_shape)
        c = Signal(idx_shape)
        q = Signal(pair_shape)
        q0 = Signal(2)
        line = Signal(idx_shape)
        rbase = Signal(bank_addr_shape)
        cbase = Signal(bank_addr_shape)
        pre = Signal(range(4))
        drain = Signal(range(8))
        col_amp = Signal(F.AMPLITUDE)
        col_min = Signal(F.WEIGHT)
        col_max = Signal(F.WEIGHT)

        # Issue stage -> memory read data stage: what travels beside the read.
        issue_n = Signal()           # a neuron is issued this cycle
        issue_clear = Signal()       # ... to be cleared (RESET)
        issue_s = Signal()           # a lane pair is issued this cycle
        issue_row = Signal()
        lane_bank = [Signal(2, name=f"lane{la}_bank") for la in range(2)]
        host_bank = Signal(2)                        # where the host's synapse request goes
        host_baddr = Signal(bank_addr_shape)
        lane_addr = [Signal(bank_addr_shape, name=f"lane{la}_addr") for la in range(2)]
        lane_in = [Signal(name=f"lane{la}_in") for la in range(2)]
        p0_n = Signal()
        p0_clear = Signal()
        p0_s = Signal()
        p0_row = Signal()
        p0_index = Signal(idx_shape)
        p0_bank = [Signal(2, name=f"p0_bank{la}") for la in range(2)]
        p0_addr = [Signal(bank_addr_shape, name=f"p0_addr{la}") for la in range(2)]
        p0_in = [Signal(name=f"p0_in{la}") for la in range(2)]
        p0_amp = Signal(F.AMPLITUDE)
        p0_min = Signal(F.WEIGHT)
        p0_max = Signal(F.WEIGHT)
        m.d.sync += [p0_n.eq(issue_n), p0_clear.eq(issue_clear), p0_s.eq(issue_s),
                     p0_row.eq(issue_row), p0_index.eq(c), p0_amp.eq(col_amp), p0_min.eq(col_min),
                     p0_max.eq(col_max)]
        for la in range(2):
            m.d.sync += [p0_bank[la].eq(lane_bank[la]), p0_addr[la].eq(lane_addr[la]),
                         p0_in[la].eq(lane_in[la])]

        # Lane geometry of the pair issued this cycle: lane l takes neuron 2q + l of the line
        # (rows: column i; columns: row j); its bank is in half (q + line/2) & 1 (Geometry).
        half_sel = q[0] ^ line[1]
        pair_index = Cat(Const(0, 1), q)                     # 2q
        for la in range(2):
            m.d.comb += [
                lane_bank[la].eq(Cat(line[0] ^ la, half_sel)),
                # Lanes past neuron N - 1 exist only when N is not a multiple of 4.
                lane_in[la].eq(1 if geo.padded == n_neurons else pair_index + la < n_neurons),
                lane_addr[la].eq(Mux(self.phase == Phase.IDLE, host_baddr,
                                     Mux(issue_row, rbase + (q >> 1), cbase + la * geo.quads))),
            ]

        # -- datapath wiring ------------------------------------------------------------------
        p0_half = p0_index[0]
        m.d.comb += [
            neuron.i_valid.eq(p0_n), neuron.index.eq(p0_index), neuron.clear.eq(p0_clear),
            neuron.early.eq(early), neuron.w_shift.eq(neu.w_shift), neuron.mid.eq(pmid),
            neuron.late.eq(_gather(m, LATE, [plate])),
            neuron.state.v.eq(neu.v), neuron.state.i.eq(neu.i),
            neuron.state.ref.eq(neu.ref), neuron.state.y.eq(neu.y),
            neuron.state.acc.eq(half(acc_r.data, F.ACC.width, p0_half)),
            neuron.state.x.eq(half(x_r.data, F.TRACE.width, p0_half)),
            neuron.forced.eq(neu.frc),
        ]
        bank_data = [port.data for port, _ in banks]
        for la, lane in enumerate(lanes):
            bounds = data.View(BOUNDS, bnd_r.data[la * BOUNDS.size:][:BOUNDS.size])
            w_read = Signal(SYNAPSE, name=f"lane{la}_w")
            with m.Switch(p0_bank[la]):
                for b in range(4):
                    with m.Case(b):
                        m.d.comb += w_read.eq(bank_data[b])
            m.d.comb += [
                lane.i_valid.eq(p0_s & p0_in[la]), lane.row.eq(p0_row),
                lane.learning.eq(learning), lane.bank.eq(p0_bank[la]),
                lane.addr.eq(p0_addr[la]), lane.w.eq(w_read),
                lane.acc.eq(acc_r.data[la * F.ACC.width:][:F.ACC.width]),
                lane.dep.eq(dep_r.data[la * DEP.width:][:DEP.width]),
                lane.amp.eq(p0_amp),
                lane.trace.eq(x_r.data[la * F.TRACE.width:][:F.TRACE.width]),
                lane.w_min.eq(Mux(p0_row, bounds.w_min, p0_min)),
                lane.w_max.eq(Mux(p0_row, bounds.w_max, p0_max)),
            ]
        # The neuron pass borrows lane 0's multiplier for the depression a_minus * y'; its
        # operands come one cycle before the neuron's write-back, the product with it.
        with m.If(self.phase == Phase.NEURON):
            m.d.comb += [lanes[0].amp.eq(neuron.dep_amp), lanes[0].trace.eq(neuron.dep_trace)]
        dep_max = (1 << DEP.width) - 1
        dep_new = Mux(lanes[0].delta > dep_max, dep_max, lanes[0].delta[:DEP.width])

        # Write ports, driven by the datapaths; the host and the reset sweep take over below.
        o = neuron.o_state
        o_half = neuron.o_index[0]
        o_pair = neuron.o_index >> 1
        with m.If(neuron.o_valid):
            # Everything but the parameter w_shift kept in the same word.
            m.d.comb += [neu_w.en.eq(_field_mask(NEURON_WORD, ("v", "i", "ref", "y", "spk",
                                                              "frc"))),
                         half_en(x_w, o_half), half_en(acc_w, o_half),
                         half_en(dep_w, o_half)]
        m.d.comb += sl_w.en.eq(neuron.o_valid & neuron.o_spike)
        with m.If(neuron.o_valid & neuron.o_spike):
            m.d.sync += spike_count.eq(spike_count + 1)

        # The row pass writes both accumulators of the pair one cycle after the read data.
        p0_q = Signal(pair_shape)
        acc_we = Signal()
        acc_pair = Signal(pair_shape)
        m.d.sync += [p0_q.eq(q), acc_we.eq(p0_s & p0_row), acc_pair.eq(p0_q)]
        with m.If(acc_we):
            m.d.comb += acc_w.en.eq(0b11)

        # Bank ports.  Reads: the pair issued this cycle (each lane's address goes to its bank)
        # or, while idle, the host's address (on both lanes).  Writes: the lanes' write-backs,
        # or the host's write, which uses the read address path.
        bank_re = [Signal(name=f"syn{b}_re") for b in range(4)]
        bank_we = [Signal(name=f"syn{b}_we") for b in range(4)]
        host_we = [Signal(name=f"syn{b}_host_we") for b in range(4)]
        for b, (rport, wport) in enumerate(banks):
            lane_we = Signal(name=f"syn{b}_lane_we")
            waddr = Signal(bank_addr_shape, name=f"syn{b}_waddr")
            wdata = Signal(SYNAPSE, name=f"syn{b}_wdata")
            m.d.comb += [waddr.eq(lanes[1].w_addr), wdata.eq(lanes[1].w_data)]
            for lane in lanes:
                with m.If(lane.w_we & (lane.w_bank == b)):
                    m.d.comb += lane_we.eq(1)
            with m.If(lanes[0].w_bank == b):
                m.d.comb += [waddr.eq(lanes[0].w_addr), wdata.eq(lanes[0].w_data)]
            raddr = Mux(lane_bank[1] == b, lane_addr[1], lane_addr[0])
            m.d.comb += [
                bank_re[b].eq(issue_s & ((lane_bank[0] == b) | (lane_bank[1] == b))),
                bank_we[b].eq(lane_we | host_we[b]),
                rport.addr.eq(Mux(lane_we, waddr, raddr)), wport.addr.eq(rport.addr),
                rport.en.eq(bank_re[b] & ~bank_we[b]),
                wport.en.eq(bank_we[b]),
                wport.data.eq(Mux(lane_we, wdata, self.req.payload.data[:SYNAPSE.size])),
            ]

        # Read ports run every cycle of a pass; while idle only on a host read, so that the
        # read data (the response) holds while the host is not ready for it.
        host_read = Signal()
        for port in read_ports:
            m.d.comb += port.en.eq(host_read | (self.phase != Phase.IDLE))

        # -- collision monitor (verification only; unconnected on boards, so optimised away) ----
        def collides(rport, wport):
            return wport.en.any() & (rport.addr == wport.addr)

        row_s = issue_s & issue_row
        col_s = issue_s & ~issue_row
        in_lines = (self.phase == Phase.ROWS) | (self.phase == Phase.COLS)
        watched = [(issue_n | host_read, neu_r, neu_w),
                   (issue_n | row_s | host_read, acc_r, acc_w),
                   (issue_n | col_s | host_read, x_r, x_w), (row_s, dep_r, dep_w),
                   (row_s | host_read, bnd_r, bnd_w),
                   (issue_n | in_lines | host_read, pa_r, pa_w),
                   (self.busy | host_read, pm_r, pm_w), (self.busy | host_read, pl_r, pl_w),
                   (in_lines | host_read, sl_r, sl_w)]
        bad = [used & collides(r, w) for used, r, w in watched]
        bad += [bank_re[b] & bank_we[b] for b in range(4)]
        with m.If(Cat(*bad).any()):
            m.d.sync += self.collision.eq(1)

        # -- access port ------------------------------------------------------------------------
        req = self.req.payload
        rsp_region = Signal(Region)
        rsp_in_range = Signal()
        rsp_half = Signal()
        rsp_bank = Signal(2)
        ctrl_data = Signal(32)
        in_range = Signal()
        with m.Switch(req.region):
            with m.Case(Region.SYNAPSE):
                m.d.comb += in_range.eq(req.addr < self.core_params.synapses)
            with m.Case(Region.CONTROL):
                m.d.comb += in_range.eq(req.addr < len(Register))
            with m.Default():
                m.d.comb += in_range.eq(req.addr < n_neurons)

        # SYNAPSE addresses are j * N + i: a restoring division by N (one quotient bit per
        # cycle, `iw` cycles) finds j and i before the request is taken, unless N is a power
        # of two.
        is_syn = (req.region == Region.SYNAPSE) & in_range
        div_ok = Signal()                  # j and i of the SYNAPSE request are ready
        if n_neurons & (n_neurons - 1) == 0:
            # N a power of two: j and i are the address's bit fields.
            syn_j, syn_i = req.addr[iw:], req.addr[:iw]
            m.d.comb += div_ok.eq(1)
        else:
            div_run = Signal()
            div_cnt = Signal(range(iw + 1))
            div_rem = Signal(len(req.addr) + 1)
            div_d = Signal(len(req.addr) + 1)
            div_q = Signal(idx_shape)
            syn_j = div_q
            syn_i = div_rem[:iw]
            with m.If(div_run):
                with m.If(div_rem >= div_d):
                    m.d.sync += [div_rem.eq(div_rem - div_d), div_q.eq(Cat(1, div_q))]
                with m.Else():
                    m.d.sync += div_q.eq(Cat(0, div_q))
                m.d.sync += [div_d.eq(div_d >> 1), div_cnt.eq(div_cnt - 1)]
                with m.If(div_cnt == 1):
                    m.d.sync += [div_run.eq(0), div_ok.eq(1)]
            with m.Elif(self.req.valid & is_syn & ~div_ok & (self.phase == Phase.IDLE)):
                m.d.sync += [div_run.eq(1), div_cnt.eq(iw), div_rem.eq(req.addr),
                             div_d.eq(n_neurons << (iw - 1)), div_q.eq(0)]
            with m.If(self.req.valid & self.req.ready):
                m.d.sync += div_ok.eq(0)
        m.d.comb += [
            host_bank.eq(Geometry.bank(syn_j, syn_i)[:2]),
            host_baddr.eq(syn_j * geo.quads + (syn_i >> 2)),
        ]

        accept = Signal()
        start = Signal(Command)
        m.d.comb += [
            self.req.ready.eq((self.phase == Phase.IDLE) & (~self.rsp.valid | self.rsp.ready)
                              & (div_ok | ~is_syn)),
            accept.eq(self.req.valid & self.req.ready),
            host_read.eq(accept & ~req.write),
        ]

        with m.If(self.rsp.ready):
            m.d.sync += self.rsp.valid.eq(0)
        with m.If(host_read):
            m.d.sync += [self.rsp.valid.eq(1), rsp_region.eq(req.region),
                         rsp_in_range.eq(in_range), rsp_half.eq(req.addr[0]),
                         rsp_bank.eq(host_bank)]
            with m.Switch(req.addr):
                with m.Case(Register.INFO):
                    m.d.sync += ctrl_data.eq(n_neurons)
                with m.Case(Register.CONTROL):
                    m.d.sync += ctrl_data.eq(learning)
                with m.Case(Register.STEP_COUNT):
                    m.d.sync += ctrl_data.eq(step_count)
                with m.Case(Register.SPIKE_COUNT):
                    m.d.sync += ctrl_data.eq(spike_count)
                with m.Case(Register.CYCLES):
                    m.d.sync += ctrl_data.eq(cycles)
                with m.Case(Register.CONTRACT):
                    m.d.sync += ctrl_data.eq(contract_hash())
                with m.Default():
                    m.d.sync += ctrl_data.eq(0)

        # Host read addresses (in idle the datapaths do not use the read ports).
        with m.If(self.phase == Phase.IDLE):
            m.d.comb += [port.addr.eq(req.addr) for port in (pa_r, pm_r, pl_r, neu_r, sl_r)]
            m.d.comb += [port.addr.eq(req.addr >> 1) for port in (acc_r, bnd_r, x_r)]
            m.d.comb += [bank_re[b].eq(host_read) for b in range(4)]

        rsp_bounds = data.View(BOUNDS, half(bnd_r.data, BOUNDS.size, rsp_half))
        state_word = Signal(NEURON_STATE)
        npar_word = _gather(m, NEURON_PARAMS, [early, pmid, plate, neu])
        learn_word = _gather(m, LEARNING_PARAMS, [early, pmid, plate, rsp_bounds])
        m.d.comb += [
            state_word.v.eq(neu.v), state_word.i.eq(neu.i),
            state_word.ref.eq(neu.ref), state_word.y.eq(neu.y),
            state_word.acc.eq(half(acc_r.data, F.ACC.width, rsp_half)),
            state_word.x.eq(half(x_r.data, F.TRACE.width, rsp_half)),
        ]
        # Out-of-range reads answer 0 (the Switch's default), folded into its selection.
        with m.If(rsp_in_range), m.Switch(rsp_region):
            with m.Case(Region.SYNAPSE):
                with m.Switch(rsp_bank):
                    for b in range(4):
                        with m.Case(b):
                            m.d.comb += self.rsp.payload.eq(bank_data[b].as_value())
            with m.Case(Region.NEURON_PARAMS):
                m.d.comb += self.rsp.payload.eq(npar_word.as_value())
            with m.Case(Region.LEARNING_PARAMS):
                m.d.comb += self.rsp.payload.eq(learn_word.as_value())
            with m.Case(Region.NEURON_STATE):
                m.d.comb += self.rsp.payload.eq(state_word.as_value())
            with m.Case(Region.SPIKES):
                m.d.comb += self.rsp.payload.eq(neu.spk)
            with m.Case(Region.FORCED):
                m.d.comb += self.rsp.payload.eq(neu.frc)
            with m.Case(Region.SPIKE_LIST):
                m.d.comb += self.rsp.payload.eq(sl_r.data)
            with m.Case(Region.CONTROL):
                m.d.comb += self.rsp.payload.eq(ctrl_data)

        host_write = Signal()
        m.d.comb += host_write.eq(accept & req.write & in_range)
        wstate = data.View(NEURON_STATE, req.data[:NEURON_STATE.size])
        wlearn = data.View(LEARNING_PARAMS, req.data[:LEARNING_PARAMS.size])
        wnpar = data.View(NEURON_PARAMS, req.data[:NEURON_PARAMS.size])
        # The write data of both parameter regions is wired at once, field by field from the
        # request word read as either layout; the bit enables choose what a write changes,
        # so there is no multiplexer on the ~210 parameter bits.
        wneu = _gather(m, NEURON_WORD, [wstate, wnpar, data.View(
            data.StructLayout({"spk": 1, "frc": 1}), Cat(req.data[0], req.data[0]))])
        wbnd = _gather(m, BOUNDS, [wlearn])
        params = [wnpar, wlearn]
        for port, layout in ((pa_w, EARLY), (pm_w, PAR_MID), (pl_w, PAR_LATE)):
            m.d.comb += [port.addr.eq(req.addr), port.data.eq(_gather(m, layout, params))]

        # Write addresses and data: the host's while idle, the datapaths' otherwise (one
        # 2-way multiplexer per bit); the enables below say which words (or parts) change.
        idle = self.phase == Phase.IDLE
        host_pair = req.addr >> 1
        m.d.comb += [
            neu_w.addr.eq(Mux(idle, req.addr, neuron.o_index)),
            neu_w.data.eq(Mux(idle, wneu, Cat(o.v, o.i, o.ref, o.y, neuron.o_spike, 0))),
            x_w.addr.eq(Mux(idle, host_pair, o_pair)),
            x_w.data.eq(Mux(idle, Cat(wstate.x, wstate.x), Cat(o.x, o.x))),
            acc_w.addr.eq(Mux(idle, host_pair, Mux(acc_we, acc_pair, o_pair))),
            acc_w.data.eq(Mux(idle, Cat(wstate.acc, wstate.acc),
                              Mux(acc_we, Cat(lanes[0].acc_data, lanes[1].acc_data), 0))),
            dep_w.addr.eq(o_pair), dep_w.data.eq(Cat(dep_new, dep_new)),
            sl_w.addr.eq(Mux(idle, req.addr, spike_count)),
            sl_w.data.eq(Mux(idle, req.data, neuron.o_index)),
            bnd_w.addr.eq(host_pair), bnd_w.data.eq(Cat(wbnd, wbnd)),
        ]
        state_bits = _field_mask(NEURON_WORD, ("v", "i", "ref", "y"))
        w_half = req.addr[0]
        with m.If(host_write):
            with m.Switch(req.region):
                with m.Case(Region.SYNAPSE):
                    m.d.comb += [host_we[b].eq(host_bank == b) for b in range(4)]
                with m.Case(Region.NEURON_PARAMS):
                    npar_names = [name for name, _ in NEURON_PARAMS]
                    m.d.comb += [pa_w.en.eq(_field_mask(EARLY, npar_names)),
                                 pm_w.en.eq(_field_mask(PAR_MID, npar_names)),
                                 pl_w.en.eq(_field_mask(PAR_LATE, npar_names)),
                                 neu_w.en.eq(_field_mask(NEURON_WORD, npar_names))]
                with m.Case(Region.LEARNING_PARAMS):
                    learn_names = [name for name, _ in LEARNING_PARAMS]
                    m.d.comb += [
                        pa_w.en.eq(_field_mask(EARLY, learn_names)),
                        pm_w.en.eq(_field_mask(PAR_MID, learn_names)),
                        pl_w.en.eq(_field_mask(PAR_LATE, learn_names)),
                        half_en(bnd_w, w_half),
                    ]
                with m.Case(Region.NEURON_STATE):
                    m.d.comb += [
                        neu_w.en.eq(state_bits), half_en(acc_w, w_half), half_en(x_w, w_half),
                    ]
                with m.Case(Region.SPIKES):
                    m.d.comb += neu_w.en.eq(_field_mask(NEURON_WORD, ("spk",)))
                with m.Case(Region.FORCED):
                    m.d.comb += neu_w.en.eq(_field_mask(NEURON_WORD, ("frc",)))
                with m.Case(Region.SPIKE_LIST):
                    m.d.comb += sl_w.en.eq(1)
                with m.Case(Region.CONTROL):
                    with m.Switch(req.addr):
                        with m.Case(Register.CONTROL):
                            m.d.sync += learning.eq(req.data[0])
                        with m.Case(Register.STEP_COUNT):
                            m.d.sync += step_count.eq(req.data)
                        with m.Case(Register.COMMAND):
                            m.d.comb += start.as_value().eq(req.data)

        # -- sequencer --------------------------------------------------------------------------
        # The neuron pass reads the later parameters when a neuron reaches their stage.
        with m.If((self.phase == Phase.NEURON) | (self.phase == Phase.RESET)):
            m.d.comb += [pm_r.addr.eq(neuron.mid_index), pl_r.addr.eq(neuron.late_index)]
        m.d.comb += self.busy.eq(self.phase != Phase.IDLE)
        with m.If(self.busy):
            m.d.sync += cycle_acc.eq(cycle_acc + 1)
        last_neuron = c == n_neurons - 1
        last_pair = c == geo.pairs - 1
        # The spike-list entry after the current one; 0 past the end, so that no read ever
        # addresses beyond a memory (Icarus would return X for it).
        next_k = Mux(k + 1 < spike_count, k + 1, 0)
        next_line = sl_r.data
        q_wrap = Mux(q == geo.pairs - 1, 0, q + 1)

        # The first pair of the next line.  Bank rule: its bank half must differ from that of
        # the last pair (q0 - 1) of this line, i.e. its parity is r below.  acc rule (rows):
        # it must not be the last pair or the one before (read 1-2 cycles ago, still being
        # written): q0 = 1 forbids pair 0, q0 = 2 forbids 0 and 1, q0 = 3 forbids 1; then
        # r + 2 (same parity, same bank half) is free.
        r = q0[0] ^ line[1] ^ next_line[1]
        bumped = (q0 == 2) | ((q0 == 1) & ~r) | ((q0 == 3) & r)
        next_q0 = Cat(r, bumped)

        def start_line(index, first):
            """Registers for a line on neuron ``index`` starting at pair ``first`` (0-3)."""
            return [line.eq(index), q.eq(first), q0.eq(first), c.eq(0),
                    rbase.eq(index * geo.quads),
                    cbase.eq(first * geo.pairs + (index >> 2))]

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.comb += self.phase.eq(Phase.IDLE)
                m.d.sync += [c.eq(0), cycle_acc.eq(0)]
                with m.If(start == Command.STEP):
                    m.d.sync += spike_count.eq(0)
                    m.next = "NEURON"
                with m.Elif(start == Command.RESET):
                    m.next = "RESET"

            def issue_neurons(then):
                """Issue neuron c (one per cycle); after the last, drain into ``then``."""
                m.d.comb += issue_n.eq(1)
                m.d.comb += [port.addr.eq(c) for port in (pa_r, neu_r)]
                m.d.comb += [port.addr.eq(c >> 1) for port in (acc_r, x_r)]
                m.d.sync += c.eq(c + 1)
                with m.If(last_neuron):
                    m.d.sync += drain.eq(NeuronUpdate.LATENCY)
                    m.next = then

            with m.State("RESET"):
                # A neuron pass of cleared neurons: its write-back zeroes v, i, ref, y, x, acc,
                # the spike and the forced bit of every neuron, with no write path of its own.
                m.d.comb += [self.phase.eq(Phase.RESET), issue_clear.eq(1)]
                issue_neurons("RESET_DRAIN")

            with m.State("RESET_DRAIN"):
                m.d.comb += self.phase.eq(Phase.RESET)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "RESET_DONE"

            with m.State("RESET_DONE"):
                m.d.comb += [self.phase.eq(Phase.FINISH), self.done.eq(1)]
                m.d.sync += [step_count.eq(0), spike_count.eq(0), cycles.eq(cycle_acc + 1)]
                m.next = "IDLE"

            with m.State("NEURON"):
                m.d.comb += self.phase.eq(Phase.NEURON)
                issue_neurons("NEURON_DRAIN")

            with m.State("NEURON_DRAIN"):
                # Memory read + NeuronUpdate.LATENCY cycles: the last write-back and the final
                # spike count land in the last of them.
                m.d.comb += self.phase.eq(Phase.NEURON)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.sync += [pre.eq(0), k.eq(0)]
                    # The last neuron's spike is counted at the end of this very cycle.
                    with m.If((spike_count == 0) & ~(neuron.o_valid & neuron.o_spike)):
                        m.next = "FINISH"
                    with m.Else():
                        m.next = "ROWS_PRE"

            with m.State("ROWS_PRE"):
                # Cycle 0 reads spike-list entry 0; cycle 1 takes it as the first row.
                m.d.comb += self.phase.eq(Phase.ROWS)
                m.d.comb += sl_r.addr.eq(0)
                m.d.sync += pre.eq(pre + 1)
                with m.If(pre == 1):
                    m.d.sync += start_line(sl_r.data, 0)
                    m.next = "ROWS"

            with m.State("ROWS"):
                m.d.comb += self.phase.eq(Phase.ROWS)
                m.d.comb += [issue_s.eq(1), issue_row.eq(1)]
                m.d.comb += [port.addr.eq(q) for port in (acc_r, dep_r, bnd_r)]
                # Prefetch the next row's neuron: valid from the second cycle of the row on.
                m.d.comb += sl_r.addr.eq(next_k)
                m.d.sync += [c.eq(c + 1), q.eq(q_wrap)]
                with m.If(last_pair):
                    m.d.sync += [k.eq(k + 1), *start_line(next_line, next_q0)]
                    with m.If(k + 1 == spike_count):
                        m.d.sync += drain.eq(self.SYNAPSE_DRAIN - 1)
                        m.next = "ROWS_DRAIN"

            with m.State("ROWS_DRAIN"):
                m.d.comb += self.phase.eq(Phase.ROWS)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.sync += [pre.eq(0), k.eq(0)]
                    with m.If(learning):
                        m.next = "COLS_PRE"
                    with m.Else():
                        m.next = "FINISH"

            # Learning parameters of column `next_line`: a_plus from `par`, the bounds from
            # its half of the `bounds` pair word.
            col_bounds = data.View(BOUNDS, half(bnd_r.data, BOUNDS.size, next_line[0]))
            take_column = [col_amp.eq(plate.a_plus), col_min.eq(col_bounds.w_min),
                           col_max.eq(col_bounds.w_max)]

            with m.State("COLS_PRE"):
                # Cycle 0 reads spike-list entry 0, cycle 1 its learning parameters, cycle 2
                # takes both for the first column.
                m.d.comb += self.phase.eq(Phase.COLS)
                m.d.comb += [sl_r.addr.eq(0), pl_r.addr.eq(next_line),
                             bnd_r.addr.eq(next_line >> 1)]
                m.d.sync += pre.eq(pre + 1)
                with m.If(pre == 2):
                    m.d.sync += [*start_line(next_line, 0), *take_column]
                    m.next = "COLS"

            with m.State("COLS"):
                m.d.comb += self.phase.eq(Phase.COLS)
                m.d.comb += [issue_s.eq(1), x_r.addr.eq(q)]
                # Prefetch the next column's neuron and its parameters: valid from the third
                # cycle of the column on.
                m.d.comb += [sl_r.addr.eq(next_k), pl_r.addr.eq(next_line),
                             bnd_r.addr.eq(next_line >> 1)]
                m.d.sync += [c.eq(c + 1), q.eq(q_wrap),
                             cbase.eq(Mux(q == geo.pairs - 1, line >> 2, cbase + geo.pairs))]
                with m.If(last_pair):
                    m.d.sync += [k.eq(k + 1), *start_line(next_line, next_q0), *take_column]
                    with m.If(k + 1 == spike_count):
                        m.d.sync += drain.eq(self.SYNAPSE_DRAIN - 1)
                        m.next = "COLS_DRAIN"

            with m.State("COLS_DRAIN"):
                m.d.comb += self.phase.eq(Phase.COLS)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "FINISH"

            with m.State("FINISH"):
                m.d.comb += [self.phase.eq(Phase.FINISH), self.done.eq(1)]
                m.d.sync += [step_count.eq(step_count + 1), cycles.eq(cycle_acc + 1)]
                m.next = "IDLE"

        return m

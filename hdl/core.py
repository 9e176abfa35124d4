"""The all-to-all LIF core with on-chip pair STDP: memories, sequencer and access port."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import LEARNING_PARAMS, NEURON_PARAMS, NEURON_STATE, SYNAPSE, CoreParams
from plasticore.protocol import contract_hash

from .access import DATA_WIDTH, Command, Phase, Region, Register, request_layout
from .neuron import NeuronUpdate
from .synapse import SynapseUpdate

__all__ = ["Core", "NEURON_WORD", "step_cycles"]

#: What the neuron memory holds per neuron: the NEURON_STATE fields only the neuron pass
#: touches.  ``acc`` (row-pass read-modify-write) and ``x`` (column-pass read) live in memories
#: of their own so that each memory needs one read and one write port.
NEURON_WORD = data.StructLayout({"v": F.V, "i": F.I, "ref": F.REFRACTORY, "y": F.TRACE})


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
       neurons are appended to the spike list; ``acc`` is cleared.
    2. **Row pass** (:class:`.SynapseUpdate`, ``row`` = 1): for each spiking neuron ``j``
       (spike-list order) and every ``i``: ``acc[i] += W[j, i]`` and, if learning, the
       depression of ``W[j, i]`` by ``stdp_delta(a_minus_i, y'_i)``.
    3. **Column pass** (learning only): for each spiking neuron ``i`` and every ``j``: the
       potentiation of ``W[j, i]`` by ``stdp_delta(a_plus_i, x_j)``.
    4. **Finish**: the step counter increments; ``done`` pulses.

    Rows and columns follow each other without bubbles (the next spike-list entry and its
    parameters are prefetched); only the start of a pass and its pipeline drain cost cycles.

    Latency and throughput
    ----------------------
    With S neurons firing, the step takes exactly :func:`step_cycles` cycles::

        neuron pass   N + 5                 (5 = memory read + NeuronUpdate.LATENCY)
        row pass      2 + S*N + 2           (only if S > 0)
        column pass   3 + S*N + 2           (only if S > 0 and learning)
        finish        1

    (:meth:`neuron_pass_cyc`, :meth:`row_pass_cyc`, :meth:`column_pass_cyc`,
    :attr:`FINISH_CYC`), i.e. one synapse per cycle in the row and column passes.  A RESET
    takes N + 1 cycles (:meth:`reset_cyc`).  Access-port requests are accepted one per cycle
    while idle (a read's response follows one cycle after its request), and stall while
    ``busy``.

    Limits
    ------
    N >= 8 (``CoreParams`` enforces 8..1024) is relied on twice: the row pass revisits
    ``acc[i]`` every N cycles and its read-modify-write needs 2, and the prefetch of the
    next row or column needs 2 (3 for a column) cycles of the current one.  Memories power
    up as zero; there is no reset of memory contents other than the RESET command.

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
    """

    #: Cycles of the finish phase (step counter, ``done``).
    FINISH_CYC = 1

    @staticmethod
    def neuron_pass_cyc(n):
        """Cycles of the neuron pass: N issues, then the memory read and
        NeuronUpdate.LATENCY cycles until the last write-back."""
        return n + 1 + NeuronUpdate.LATENCY

    @staticmethod
    def row_pass_cyc(n, spikes):
        """Cycles of the row pass: 2 to fetch the first spike-list entry, S*N issues, then
        the memory read and SynapseUpdate.LATENCY cycles until the last write."""
        return 2 + spikes * n + 1 + SynapseUpdate.LATENCY

    @staticmethod
    def column_pass_cyc(n, spikes):
        """Cycles of the column pass: 3 to fetch the first entry and its learning
        parameters, S*N issues, then the drain as in the row pass."""
        return 3 + spikes * n + 1 + SynapseUpdate.LATENCY

    @staticmethod
    def reset_cyc(n):
        """Cycles of a RESET command: N writes and the finish cycle."""
        return n + 1

    def __init__(self, params: CoreParams | int):
        if not isinstance(params, CoreParams):
            params = CoreParams(params)
        self.core_params = params
        super().__init__({
            "req": In(stream.Signature(request_layout(params))),
            "rsp": Out(stream.Signature(DATA_WIDTH)),
            "busy": Out(1),
            "done": Out(1),
            "phase": Out(Phase),
        })

    def elaborate(self, platform):
        m = Module()
        n_neurons = self.core_params.n
        idx_shape = unsigned(self.core_params.index_width)
        cnt_shape = unsigned(n_neurons.bit_length())          # 0..N

        # -- memories: one read port and one write port each (simple dual-port RAM) -------------
        def memory(name, shape, depth):
            mem = Memory(shape=shape, depth=depth, init=[])
            m.submodules[name] = mem
            return mem.read_port(), mem.write_port()

        syn_r, syn_w = memory("syn", SYNAPSE, self.core_params.synapses)
        npar_r, npar_w = memory("npar", NEURON_PARAMS, n_neurons)
        lpar_r, lpar_w = memory("lpar", LEARNING_PARAMS, n_neurons)
        neu_r, neu_w = memory("neu", NEURON_WORD, n_neurons)
        acc_r, acc_w = memory("pend", F.ACC, n_neurons)
        x_r, x_w = memory("xtr", F.TRACE, n_neurons)
        yd_r, yd_w = memory("ydec", F.TRACE, n_neurons)
        spk_r, spk_w = memory("spk", 1, n_neurons)
        frc_r, frc_w = memory("frc", 1, n_neurons)
        sl_r, sl_w = memory("slist", idx_shape, n_neurons)
        read_ports = [syn_r, npar_r, lpar_r, neu_r, acc_r, x_r, yd_r, spk_r, frc_r, sl_r]

        m.submodules.neuron = neuron = NeuronUpdate(self.core_params)
        m.submodules.synapse = synapse = SynapseUpdate(self.core_params)

        # -- registers ----------------------------------------------------------------------
        learning = Signal()
        step_count = Signal(32)
        spike_count = Signal(cnt_shape)
        cycles = Signal(32)
        cycle_acc = Signal(32)

        # Sequencer: `k` indexes the spike list, `c` counts within a pass line (a neuron, a
        # row or a column), `addr` is the synapse address, `line` the row/column neuron.
        k = Signal(cnt_shape)
        c = Signal(idx_shape)
        addr = Signal.like(syn_r.addr)
        pre = Signal(range(4))
        drain = Signal(range(8))
        col_amp = Signal(F.AMPLITUDE)
        col_min = Signal(F.WEIGHT)
        col_max = Signal(F.WEIGHT)
        line = Signal(idx_shape)

        # Issue stage -> memory read data stage: what travels beside the read.
        issue_n = Signal()           # a neuron is issued this cycle
        issue_s = Signal()           # a synapse is issued this cycle
        issue_row = Signal()
        p0_n = Signal()
        p0_s = Signal()
        p0_row = Signal()
        p0_index = Signal(idx_shape)
        p0_addr = Signal.like(addr)
        p0_post = Signal(idx_shape)
        p0_amp = Signal(F.AMPLITUDE)
        p0_min = Signal(F.WEIGHT)
        p0_max = Signal(F.WEIGHT)
        m.d.sync += [p0_n.eq(issue_n), p0_s.eq(issue_s), p0_row.eq(issue_row),
                     p0_index.eq(c), p0_addr.eq(addr),
                     p0_post.eq(Mux(issue_row, c, line)),
                     p0_amp.eq(col_amp), p0_min.eq(col_min), p0_max.eq(col_max)]

        # -- datapath wiring ------------------------------------------------------------------
        neu_data = neu_r.data
        m.d.comb += [
            neuron.i_valid.eq(p0_n), neuron.index.eq(p0_index),
            neuron.params.eq(npar_r.data), neuron.learn.eq(lpar_r.data),
            neuron.state.v.eq(neu_data.v), neuron.state.i.eq(neu_data.i),
            neuron.state.ref.eq(neu_data.ref), neuron.state.y.eq(neu_data.y),
            neuron.state.acc.eq(acc_r.data), neuron.state.x.eq(x_r.data),
            neuron.forced.eq(frc_r.data),

            synapse.i_valid.eq(p0_s), synapse.row.eq(p0_row), synapse.learning.eq(learning),
            synapse.addr.eq(p0_addr), synapse.post.eq(p0_post),
            synapse.w.eq(syn_r.data), synapse.acc.eq(acc_r.data),
            synapse.amp.eq(Mux(p0_row, lpar_r.data.a_minus, p0_amp)),
            synapse.trace.eq(Mux(p0_row, yd_r.data, x_r.data)),
            synapse.w_min.eq(Mux(p0_row, lpar_r.data.w_min, p0_min)),
            synapse.w_max.eq(Mux(p0_row, lpar_r.data.w_max, p0_max)),
        ]

        # Write ports, driven by the datapaths; the host and the reset sweep take over below.
        o = neuron.o_state
        m.d.comb += [
            neu_w.en.eq(neuron.o_valid), neu_w.addr.eq(neuron.o_index),
            neu_w.data.v.eq(o.v), neu_w.data.i.eq(o.i), neu_w.data.ref.eq(o.ref),
            neu_w.data.y.eq(o.y),
            x_w.en.eq(neuron.o_valid), x_w.addr.eq(neuron.o_index), x_w.data.eq(o.x),
            yd_w.en.eq(neuron.o_valid), yd_w.addr.eq(neuron.o_index),
            yd_w.data.eq(neuron.o_y_dec),
            spk_w.en.eq(neuron.o_valid), spk_w.addr.eq(neuron.o_index),
            spk_w.data.eq(neuron.o_spike),
            frc_w.en.eq(neuron.o_valid), frc_w.addr.eq(neuron.o_index), frc_w.data.eq(0),
            sl_w.en.eq(neuron.o_valid & neuron.o_spike), sl_w.addr.eq(spike_count),
            sl_w.data.eq(neuron.o_index),
            syn_w.en.eq(synapse.w_we), syn_w.addr.eq(synapse.w_addr),
            syn_w.data.eq(synapse.w_data),
        ]
        with m.If(neuron.o_valid):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(neuron.o_index), acc_w.data.eq(0)]
        with m.Else():
            m.d.comb += [acc_w.en.eq(synapse.acc_we), acc_w.addr.eq(synapse.acc_addr),
                         acc_w.data.eq(synapse.acc_data)]
        with m.If(neuron.o_valid & neuron.o_spike):
            m.d.sync += spike_count.eq(spike_count + 1)

        # Read ports run every cycle of a pass; while idle only on a host read, so that the
        # read data (the response) holds while the host is not ready for it.
        host_read = Signal()
        for port in read_ports:
            m.d.comb += port.en.eq(host_read | (self.phase != Phase.IDLE))

        # -- access port ------------------------------------------------------------------------
        req = self.req.payload
        rsp_region = Signal(Region)
        rsp_in_range = Signal()
        ctrl_data = Signal(32)
        in_range = Signal()
        with m.Switch(req.region):
            with m.Case(Region.SYNAPSE):
                m.d.comb += in_range.eq(req.addr < self.core_params.synapses)
            with m.Case(Region.CONTROL):
                m.d.comb += in_range.eq(req.addr < len(Register))
            with m.Default():
                m.d.comb += in_range.eq(req.addr < n_neurons)
        accept = Signal()
        start = Signal(Command)
        m.d.comb += [
            self.req.ready.eq((self.phase == Phase.IDLE) & (~self.rsp.valid | self.rsp.ready)),
            accept.eq(self.req.valid & self.req.ready),
            host_read.eq(accept & ~req.write),
        ]
        with m.If(self.rsp.ready):
            m.d.sync += self.rsp.valid.eq(0)
        with m.If(host_read):
            m.d.sync += [self.rsp.valid.eq(1), rsp_region.eq(req.region),
                         rsp_in_range.eq(in_range)]
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
        host_addr = [syn_r, npar_r, lpar_r, neu_r, acc_r, x_r, spk_r, frc_r, sl_r]
        with m.If(self.phase == Phase.IDLE):
            m.d.comb += [port.addr.eq(req.addr) for port in host_addr]

        state_word = Signal(NEURON_STATE)
        m.d.comb += [
            state_word.v.eq(neu_r.data.v), state_word.i.eq(neu_r.data.i),
            state_word.ref.eq(neu_r.data.ref), state_word.y.eq(neu_r.data.y),
            state_word.acc.eq(acc_r.data), state_word.x.eq(x_r.data),
        ]
        rsp_data = Signal(DATA_WIDTH)
        with m.Switch(rsp_region):
            with m.Case(Region.SYNAPSE):
                m.d.comb += rsp_data.eq(syn_r.data.as_value())
            with m.Case(Region.NEURON_PARAMS):
                m.d.comb += rsp_data.eq(npar_r.data.as_value())
            with m.Case(Region.LEARNING_PARAMS):
                m.d.comb += rsp_data.eq(lpar_r.data.as_value())
            with m.Case(Region.NEURON_STATE):
                m.d.comb += rsp_data.eq(state_word.as_value())
            with m.Case(Region.SPIKES):
                m.d.comb += rsp_data.eq(spk_r.data)
            with m.Case(Region.FORCED):
                m.d.comb += rsp_data.eq(frc_r.data)
            with m.Case(Region.SPIKE_LIST):
                m.d.comb += rsp_data.eq(sl_r.data)
            with m.Case(Region.CONTROL):
                m.d.comb += rsp_data.eq(ctrl_data)
        m.d.comb += self.rsp.payload.eq(Mux(rsp_in_range, rsp_data, 0))

        host_write = Signal()
        m.d.comb += host_write.eq(accept & req.write & in_range)
        wstate = data.View(NEURON_STATE, req.data[:NEURON_STATE.size])
        with m.If(host_write):
            with m.Switch(req.region):
                with m.Case(Region.SYNAPSE):
                    m.d.comb += [syn_w.en.eq(1), syn_w.addr.eq(req.addr),
                                 syn_w.data.eq(req.data[:SYNAPSE.size])]
                with m.Case(Region.NEURON_PARAMS):
                    m.d.comb += [npar_w.en.eq(1), npar_w.addr.eq(req.addr),
                                 npar_w.data.eq(req.data[:NEURON_PARAMS.size])]
                with m.Case(Region.LEARNING_PARAMS):
                    m.d.comb += [lpar_w.en.eq(1), lpar_w.addr.eq(req.addr),
                                 lpar_w.data.eq(req.data[:LEARNING_PARAMS.size])]
                with m.Case(Region.NEURON_STATE):
                    m.d.comb += [
                        neu_w.en.eq(1), neu_w.addr.eq(req.addr),
                        neu_w.data.v.eq(wstate.v), neu_w.data.i.eq(wstate.i),
                        neu_w.data.ref.eq(wstate.ref), neu_w.data.y.eq(wstate.y),
                        acc_w.en.eq(1), acc_w.addr.eq(req.addr), acc_w.data.eq(wstate.acc),
                        x_w.en.eq(1), x_w.addr.eq(req.addr), x_w.data.eq(wstate.x),
                    ]
                with m.Case(Region.SPIKES):
                    m.d.comb += [spk_w.en.eq(1), spk_w.addr.eq(req.addr),
                                 spk_w.data.eq(req.data[0])]
                with m.Case(Region.FORCED):
                    m.d.comb += [frc_w.en.eq(1), frc_w.addr.eq(req.addr),
                                 frc_w.data.eq(req.data[0])]
                with m.Case(Region.SPIKE_LIST):
                    m.d.comb += [sl_w.en.eq(1), sl_w.addr.eq(req.addr),
                                 sl_w.data.eq(req.data)]
                with m.Case(Region.CONTROL):
                    with m.Switch(req.addr):
                        with m.Case(Register.CONTROL):
                            m.d.sync += learning.eq(req.data[0])
                        with m.Case(Register.STEP_COUNT):
                            m.d.sync += step_count.eq(req.data)
                        with m.Case(Register.COMMAND):
                            m.d.comb += start.as_value().eq(req.data)

        # -- sequencer --------------------------------------------------------------------------
        m.d.comb += self.busy.eq(self.phase != Phase.IDLE)
        with m.If(self.busy):
            m.d.sync += cycle_acc.eq(cycle_acc + 1)
        last = c == n_neurons - 1
        # The spike-list entry after the current one; 0 past the end, so that no read ever
        # addresses beyond a memory (Icarus would return X for it).
        next_k = Mux(k + 1 < spike_count, k + 1, 0)

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.comb += self.phase.eq(Phase.IDLE)
                m.d.sync += [c.eq(0), cycle_acc.eq(0)]
                with m.If(start == Command.STEP):
                    m.d.sync += spike_count.eq(0)
                    m.next = "NEURON"
                with m.Elif(start == Command.RESET):
                    m.next = "RESET"

            with m.State("RESET"):
                m.d.comb += self.phase.eq(Phase.RESET)
                m.d.comb += [
                    neu_w.en.eq(1), neu_w.addr.eq(c), neu_w.data.eq(0),
                    acc_w.en.eq(1), acc_w.addr.eq(c), acc_w.data.eq(0),
                    x_w.en.eq(1), x_w.addr.eq(c), x_w.data.eq(0),
                    spk_w.en.eq(1), spk_w.addr.eq(c), spk_w.data.eq(0),
                    frc_w.en.eq(1), frc_w.addr.eq(c), frc_w.data.eq(0),
                ]
                m.d.sync += c.eq(c + 1)
                with m.If(last):
                    m.next = "RESET_DONE"

            with m.State("RESET_DONE"):
                m.d.comb += [self.phase.eq(Phase.FINISH), self.done.eq(1)]
                m.d.sync += [step_count.eq(0), spike_count.eq(0), cycles.eq(cycle_acc + 1)]
                m.next = "IDLE"

            with m.State("NEURON"):
                m.d.comb += self.phase.eq(Phase.NEURON)
                m.d.comb += [issue_n.eq(1)]
                m.d.comb += [port.addr.eq(c) for port in (npar_r, lpar_r, neu_r, acc_r, x_r,
                                                         frc_r)]
                m.d.sync += c.eq(c + 1)
                with m.If(last):
                    m.d.sync += drain.eq(NeuronUpdate.LATENCY)
                    m.next = "NEURON_DRAIN"

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
                    m.d.sync += [line.eq(sl_r.data), addr.eq(sl_r.data * n_neurons), c.eq(0)]
                    m.next = "ROWS"

            with m.State("ROWS"):
                m.d.comb += self.phase.eq(Phase.ROWS)
                m.d.comb += [issue_s.eq(1), issue_row.eq(1), syn_r.addr.eq(addr)]
                m.d.comb += [port.addr.eq(c) for port in (acc_r, lpar_r, yd_r)]
                # Prefetch the next row's neuron: valid from the second cycle of the row on.
                m.d.comb += sl_r.addr.eq(next_k)
                m.d.sync += [c.eq(c + 1), addr.eq(addr + 1)]
                with m.If(last):
                    m.d.sync += [c.eq(0), k.eq(k + 1), line.eq(sl_r.data),
                                 addr.eq(sl_r.data * n_neurons)]
                    with m.If(k + 1 == spike_count):
                        m.d.sync += drain.eq(SynapseUpdate.LATENCY)
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

            with m.State("COLS_PRE"):
                # Cycle 0 reads spike-list entry 0, cycle 1 its learning parameters, cycle 2
                # takes both for the first column.
                m.d.comb += self.phase.eq(Phase.COLS)
                m.d.comb += [sl_r.addr.eq(0), lpar_r.addr.eq(sl_r.data)]
                m.d.sync += pre.eq(pre + 1)
                with m.If(pre == 2):
                    m.d.sync += [line.eq(sl_r.data), addr.eq(sl_r.data), c.eq(0),
                                 col_amp.eq(lpar_r.data.a_plus), col_min.eq(lpar_r.data.w_min),
                                 col_max.eq(lpar_r.data.w_max)]
                    m.next = "COLS"

            with m.State("COLS"):
                m.d.comb += self.phase.eq(Phase.COLS)
                m.d.comb += [issue_s.eq(1), syn_r.addr.eq(addr), x_r.addr.eq(c)]
                # Prefetch the next column's neuron and its parameters: valid from the third
                # cycle of the column on.
                m.d.comb += [sl_r.addr.eq(next_k), lpar_r.addr.eq(sl_r.data)]
                m.d.sync += [c.eq(c + 1), addr.eq(addr + n_neurons)]
                with m.If(last):
                    m.d.sync += [c.eq(0), k.eq(k + 1), line.eq(sl_r.data), addr.eq(sl_r.data),
                                 col_amp.eq(lpar_r.data.a_plus), col_min.eq(lpar_r.data.w_min),
                                 col_max.eq(lpar_r.data.w_max)]
                    with m.If(k + 1 == spike_count):
                        m.d.sync += drain.eq(SynapseUpdate.LATENCY)
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

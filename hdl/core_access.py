"""The core's access port: the request/response streams, the CONTROL registers, the read
response multiplexer, and the divider that splits a SYNAPSE address ``j*N + i``."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore import fixed as F
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    RULE_PARAMS,
    SYNAPSE,
    TRIPLET_FIELDS,
    TRIPLET_STATE,
    CoreParams,
)
from plasticore.protocol import contract_hash

from .access import COMMAND_WORD, DATA_WIDTH, Command, Region, Register, request_layout
from .core_memory import (
    BOUNDS,
    NEURON_WORD,
    RULE_WORD,
    Geometry,
    gather,
    half,
    par_early_layout,
    par_late_layout,
    par_mid_layout,
)

__all__ = ["AccessPort", "AddressDivider"]


class AddressDivider(wiring.Component):
    """``j, i = divmod(addr, N)``: the row and column of a SYNAPSE address ``j*N + i``.

    When N is a power of two, ``j`` and ``i`` are bit fields of ``addr`` and ``ok`` is
    always high (no logic).  Otherwise a restoring division, one quotient bit per cycle,
    starts when ``request`` is high and no result is ready, and raises ``ok`` with the
    result; ``addr`` must hold meanwhile.  ``taken`` (the request was accepted) clears
    ``ok`` for the next request.

    Latency and throughput
    ----------------------
    0 cycles when N = 2^k; else ``ok`` is high ``index_width + 1`` cycles after ``request``
    rose (1 to load, ``index_width`` to divide), one division at a time: with ``taken`` in
    the first ``ok`` cycle, ``index_width + 2`` cycles per request.

    Members
    -------
    request, addr, taken : In
        Divide ``addr``; the result was used.
    ok, j, i : Out
        The result is valid; quotient and remainder.
    """

    def __init__(self, params: CoreParams):
        self.core_params = params
        iw = params.index_width
        aw = request_layout(params).members["addr"]
        super().__init__({
            "request": In(1), "addr": In(aw), "taken": In(1),
            "ok": Out(1), "j": Out(iw), "i": Out(iw),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.core_params.n
        iw = self.core_params.index_width
        if n & (n - 1) == 0:
            m.d.comb += [self.ok.eq(1), self.j.eq(self.addr[iw:]), self.i.eq(self.addr[:iw])]
            return m
        run = Signal()
        cnt = Signal(range(iw + 1))
        rem = Signal(len(self.addr) + 1)
        div = Signal(len(self.addr) + 1)
        quo = Signal(unsigned(iw))
        m.d.comb += [self.j.eq(quo), self.i.eq(rem[:iw])]
        with m.If(run):
            with m.If(rem >= div):
                m.d.sync += [rem.eq(rem - div), quo.eq(Cat(1, quo))]
            with m.Else():
                m.d.sync += quo.eq(quo << 1)
            m.d.sync += [div.eq(div >> 1), cnt.eq(cnt - 1)]
            with m.If(cnt == 1):
                m.d.sync += [run.eq(0), self.ok.eq(1)]
        with m.Elif(self.request & ~self.ok):
            m.d.sync += [run.eq(1), cnt.eq(iw), rem.eq(self.addr),
                         div.eq(n << (iw - 1)), quo.eq(0)]
        with m.If(self.taken):
            m.d.sync += self.ok.eq(0)
        return m


class AccessPort(wiring.Component):
    """The host side of the core (``docs/architecture.md``, "Access port"): takes one
    request per cycle while the core is idle, answers reads, and keeps the CONTROL registers.

    A request is taken (``req.ready``) while ``idle`` and the response register is free, and
    for a SYNAPSE request when N is not a power of two only once :class:`AddressDivider` has
    found its row and column.  A taken read raises ``read`` for that cycle (the core points
    every memory's read port at the request's address) and its response appears in the next
    cycle, from the memories' read data (``syn_data`` ... ``entry``) selected by the
    registered region, or from the CONTROL register read.  A taken in-range write raises
    ``write`` (the core enables the region's memory write ports); CONTROL writes act here:
    ``learning``, ``step_count_we`` (data: ``req.data``), ``start`` (a :class:`.Command`).
    Out-of-range writes are ignored and out-of-range reads answer 0.

    Latency and throughput
    ----------------------
    One request per cycle (with ``rsp.ready`` high), except SYNAPSE requests when N is not a
    power of two (``index_width + 1`` more cycles); a read's response 1 cycle after it was
    taken.
    ``req.ready`` depends on the payload (the divider), not on ``req.valid``.

    Members
    -------
    req : In(stream.Signature(request_layout(params)))
    rsp : Out(stream.Signature(DATA_WIDTH))
        The core's streams.
    idle : In(1)
        The core runs no command.
    step_count, spike_count, cycles : In
        Values of the read-only (and STEP_COUNT) CONTROL registers.
    learning : Out(1)
        The CONTROL register's learning enable (0 after reset).
    start, step_count_we : Out
        A COMMAND write (this cycle); a STEP_COUNT write (data ``req.data``).
    seed : Out(32)
        The SEED register (option stochastic; constant 0 without it).
    modulate, modulator : Out
        From the last COMMAND write (option eligibility; 0 without it): whether the step is
        modulated, and its MODULATOR r.
    read, write : Out(1)
        A read (a write to an in-range address) is taken this cycle.
    syn_bank, syn_addr : Out
        Where the SYNAPSE request's synapse lives (:class:`.core_memory.Geometry`).
    syn_data, early, mid, late, neu_word, acc_pair, bounds_pair, x_pair, entry : In
        The memories' read data (banks, ``par_a``, ``par_m``, ``par_l``, ``neu``, ``pend``,
        ``bounds``, ``xtr``, ``slist``), one cycle after ``read``.  (No member is named like
        a memory: the core's Verilog would rename the memory, which the peeks find by name.)
    rule_pair, trip_word : In
        The same of ``rule`` (option eligibility) and ``trip`` (option triplet).
    """

    def __init__(self, params: CoreParams):
        self.core_params = params
        self.geometry = geo = Geometry(params.n)
        super().__init__({
            "req": In(stream.Signature(request_layout(params))),
            "rsp": Out(stream.Signature(DATA_WIDTH)),
            "idle": In(1),
            "step_count": In(32), "spike_count": In(unsigned(params.n.bit_length())),
            "cycles": In(32),
            "learning": Out(1), "start": Out(Command), "step_count_we": Out(1),
            "seed": Out(32), "modulate": Out(1), "modulator": Out(F.MODULATOR),
            "rule_pair": In(2 * RULE_WORD.size),
            "read": Out(1), "write": Out(1),
            "syn_bank": Out(2), "syn_addr": Out(geo.bank_addr_shape),
            "syn_data": In(SYNAPSE).array(4), "early": In(par_early_layout(params)),
            "mid": In(par_mid_layout(params)), "late": In(par_late_layout(params)),
            "trip_word": In(TRIPLET_STATE), "neu_word": In(NEURON_WORD),
            "acc_pair": In(2 * F.ACC.width),
            "bounds_pair": In(2 * BOUNDS.size), "x_pair": In(2 * F.TRACE.width),
            "entry": In(params.index_width),
        })

    def elaborate(self, platform):
        m = Module()
        req = self.req.payload
        in_range = Signal()
        with m.Switch(req.region):
            with m.Case(Region.SYNAPSE):
                m.d.comb += in_range.eq(req.addr < self.core_params.synapses)
            with m.Case(Region.CONTROL):
                m.d.comb += in_range.eq(req.addr < len(Register))
            with m.Default():
                m.d.comb += in_range.eq(req.addr < self.core_params.n)

        # SYNAPSE addresses are j * N + i: divided by N before the request is taken.
        m.submodules.divider = div = AddressDivider(self.core_params)
        is_syn = (req.region == Region.SYNAPSE) & in_range
        m.d.comb += [
            div.addr.eq(req.addr), div.request.eq(self.req.valid & is_syn & self.idle),
            div.taken.eq(self.req.valid & self.req.ready),
            self.syn_bank.eq(Geometry.bank(div.j, div.i)[:2]),
            self.syn_addr.eq(div.j * self.geometry.quads + (div.i >> 2)),
        ]

        accept = Signal()
        m.d.comb += [
            self.req.ready.eq(self.idle & (~self.rsp.valid | self.rsp.ready)
                              & (div.ok | ~is_syn)),
            accept.eq(self.req.valid & self.req.ready),
            self.read.eq(accept & ~req.write),
            self.write.eq(accept & req.write & in_range),
        ]
        self._control_writes(m)
        self._response(m, in_range)
        return m

    def _control_writes(self, m):
        req = self.req.payload
        with m.If(self.write & (req.region == Region.CONTROL)):
            with m.Switch(req.addr):
                with m.Case(Register.CONTROL):
                    m.d.sync += self.learning.eq(req.data[0])
                with m.Case(Register.STEP_COUNT):
                    m.d.comb += self.step_count_we.eq(1)
                with m.Case(Register.COMMAND):
                    cmd = data.View(COMMAND_WORD, req.data[:COMMAND_WORD.size])
                    m.d.comb += self.start.eq(cmd.command)
                    if self.core_params.eligibility:
                        m.d.sync += [self.modulate.eq(cmd.modulate),
                                     self.modulator.eq(cmd.modulator)]
                if self.core_params.stochastic:
                    with m.Case(Register.SEED):
                        m.d.sync += self.seed.eq(req.data)

    def _response(self, m, in_range):
        """The response register (taken reads) and the multiplexer onto ``rsp.payload``."""
        req = self.req.payload
        rsp_region = Signal(Region)
        rsp_in_range = Signal()
        rsp_half = Signal()
        rsp_bank = Signal(2)
        ctrl_data = Signal(32)
        registers = {Register.INFO: self.core_params.n, Register.CONTROL: self.learning,
                     Register.STEP_COUNT: self.step_count,
                     Register.SPIKE_COUNT: self.spike_count, Register.CYCLES: self.cycles,
                     Register.CONTRACT: contract_hash(), Register.SEED: self.seed}
        with m.If(self.rsp.ready):
            m.d.sync += self.rsp.valid.eq(0)
        with m.If(self.read):
            m.d.sync += [self.rsp.valid.eq(1), rsp_region.eq(req.region),
                         rsp_in_range.eq(in_range), rsp_half.eq(req.addr[0]),
                         rsp_bank.eq(self.syn_bank)]
            with m.Switch(req.addr):
                for register, value in registers.items():
                    with m.Case(register):
                        m.d.sync += ctrl_data.eq(value)
                with m.Default():
                    m.d.sync += ctrl_data.eq(0)

        rsp_bounds = data.View(BOUNDS, half(self.bounds_pair, BOUNDS.size, rsp_half))
        views = [self.early, self.mid, self.late]
        state_word = Signal(NEURON_STATE)
        m.d.comb += [
            state_word.v.eq(self.neu_word.v), state_word.i.eq(self.neu_word.i),
            state_word.ref.eq(self.neu_word.ref), state_word.y.eq(self.neu_word.y),
            state_word.acc.eq(half(self.acc_pair, F.ACC.width, rsp_half)),
            state_word.x.eq(half(self.x_pair, F.TRACE.width, rsp_half)),
        ]
        rules = Signal(RULE_PARAMS)      # the fields of options the core lacks read as 0
        if self.core_params.stochastic:
            m.d.comb += rules.rounding.eq(self.late.rounding)
        if self.core_params.eligibility:
            rule = data.View(RULE_WORD, half(self.rule_pair, RULE_WORD.size, rsp_half))
            m.d.comb += [rules.target.eq(rule.target), rules.alpha_e.eq(rule.alpha_e),
                         rules.mod_weight.eq(self.late.mod_weight)]
        if self.core_params.triplet:
            for name in TRIPLET_FIELDS:
                view = next(v for v in views if name in v.shape().members)
                m.d.comb += rules[name].eq(view[name])
        words = {
            Region.RULE_PARAMS: rules.as_value(),
            Region.NEURON_PARAMS: gather(m, NEURON_PARAMS, [*views, self.neu_word]).as_value(),
            Region.LEARNING_PARAMS: gather(m, LEARNING_PARAMS, [*views, rsp_bounds]).as_value(),
            Region.NEURON_STATE: state_word.as_value(),
            Region.SPIKES: self.neu_word.spk, Region.FORCED: self.neu_word.frc,
            Region.SPIKE_LIST: self.entry, Region.CONTROL: ctrl_data,
        }
        if self.core_params.triplet:
            words[Region.TRIPLET_STATE] = self.trip_word.as_value()
        # Out-of-range reads answer 0 (the Switch's default), folded into its selection.
        with m.If(rsp_in_range), m.Switch(rsp_region):
            with m.Case(Region.SYNAPSE), m.Switch(rsp_bank):
                for b in range(4):
                    with m.Case(b):
                        m.d.comb += self.rsp.payload.eq(self.syn_data[b].as_value())
            for region, word in words.items():
                with m.Case(region):
                    m.d.comb += self.rsp.payload.eq(word)

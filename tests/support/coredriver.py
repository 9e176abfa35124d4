"""cocotb driver of the core's access port (for ``tests/hdl`` and
``benchmarks/core_cycles.py``, which put ``tests/`` on ``sys.path`` for the cocotb process).

:class:`CoreTB` drives ``req``/``rsp`` of the generated Verilog of
:class:`plasticore.hdl.core.Core` one word per cycle, loads a :class:`CoreConfig`, runs
timesteps, and reads back everything, either through the port or -- much faster, for
scoreboards that compare every value every step -- by peeking the memories through the
simulator's VPI (:meth:`CoreTB.peek_state`, :meth:`CoreTB.peek_weights`).  Peeking relies on
the memory names and layouts of :class:`~plasticore.hdl.core.Core` (banks ``syn0``-``syn3``
placed by :class:`~plasticore.hdl.core.Geometry`, ``neu``, pair words ``pend`` and ``xtr``);
the access-port test checks that peeks and port reads agree.

Signals are driven at the falling clock edge and sampled there: ``req.ready`` does not
depend combinationally on ``req.valid`` (but on the payload: it is sampled once the new
payload has settled), so a request presented at a falling edge with ``ready`` high is taken
at the next rising edge.  ``rsp.ready`` is held high.
"""

from __future__ import annotations

import numpy as np

from plasticore import fixed as F
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    NEURON_STATE,
    SYNAPSE,
    TRIPLET_STATE,
    CoreConfig,
    CoreParams,
    Table,
)
from plasticore.hdl.access import COMMAND_WORD, Command, Region, Register, request_layout
from plasticore.hdl.core import NEURON_WORD, Geometry

__all__ = ["CoreTB"]

#: The SYNAPSE fields, for packing and splitting whole weight matrices at once (N^2 words
#: through :class:`~plasticore.core.Table` would take seconds at N = 256).
_W, _P, _E = SYNAPSE["weight"], SYNAPSE["plastic"], SYNAPSE["elig"]
_W_MASK = (1 << _W.width) - 1
_E_MASK = (1 << _E.width) - 1


class CoreTB:
    """Testbench handle of one ``plasticore_core`` instance ``dut`` of ``n`` neurons."""

    def __init__(self, dut, n: int, options=()):
        self.dut = dut
        self.n = n
        #: The learning options the core was built with (CoreParams.options).
        self.options = frozenset(options)
        layout = request_layout(CoreParams(n))
        self._offset = {name: field.offset for name, field in layout}
        self.cycles = 0             # cycles of the last command (Register.CYCLES)
        self.timed_cycles = 0       # the same, measured from the done pulse
        self.period_ns = 10

    # -- clock, reset, raw requests ------------------------------------------------------------

    async def start(self, period_ns=10):
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles, FallingEdge
        dut = self.dut
        self.period_ns = period_ns
        Clock(dut.clk, period_ns, unit="ns").start()
        dut.req__valid.value = 0
        dut.req__payload.value = 0
        dut.rsp__ready.value = 1
        dut.rst.value = 1
        await ClockCycles(dut.clk, 2)
        dut.rst.value = 0
        await FallingEdge(dut.clk)

    def _request(self, write, region, addr, value=0):
        o = self._offset
        return ((int(write) << o["write"]) | (int(Region(region).value) << o["region"])
                | (int(addr) << o["addr"]) | (int(value) << o["data"]))

    async def _wait_ready(self):
        """Wait until the request just driven is ready to be taken at the next rising edge.

        ``req.ready`` depends on the payload (a SYNAPSE request waits for its address
        division), so it is sampled after the new payload has settled (ReadOnly)."""
        from cocotb.triggers import FallingEdge, ReadOnly
        await ReadOnly()
        while not self.dut.req__ready.value:
            await FallingEdge(self.dut.clk)
            await ReadOnly()

    async def write(self, region, items):
        """Write ``(addr, word)`` pairs to ``region``, one per cycle."""
        from cocotb.triggers import FallingEdge
        dut = self.dut
        clk = dut.clk
        for addr, word in items:
            dut.req__payload.value = self._request(1, region, addr, word)
            dut.req__valid.value = 1
            await self._wait_ready()
            await FallingEdge(clk)
        dut.req__valid.value = 0

    async def read(self, region, addrs):
        """Read the words at ``addrs`` of ``region``, pipelined one per cycle; list of ints."""
        from cocotb.triggers import FallingEdge, ReadOnly
        dut = self.dut
        clk = dut.clk
        out = []
        pending = 0
        for addr in addrs:
            dut.req__payload.value = self._request(0, region, addr)
            dut.req__valid.value = 1
            while True:
                await ReadOnly()                      # ready depends on the payload
                taken = bool(dut.req__ready.value)     # taken at the coming rising edge
                await FallingEdge(clk)
                pending += taken
                if dut.rsp__valid.value:             # a response lasts one cycle here
                    out.append(int(dut.rsp__payload.value))
                    pending -= 1
                if taken:
                    break
        dut.req__valid.value = 0
        while pending:
            await FallingEdge(clk)
            if dut.rsp__valid.value:
                out.append(int(dut.rsp__payload.value))
                pending -= 1
        return out

    async def read_register(self, register: Register) -> int:
        return (await self.read(Region.CONTROL, [register.value]))[0]

    async def write_register(self, register: Register, value: int):
        await self.write(Region.CONTROL, [(register.value, value)])

    # -- configuration ---------------------------------------------------------------------

    async def load(self, config: CoreConfig):
        """Write every parameter, learning parameter, weight and plasticity bit."""
        assert config.n == self.n, "the configuration is for a core of another size"
        await self.write(Region.NEURON_PARAMS, enumerate(config.neurons.pack()))
        await self.write(Region.LEARNING_PARAMS, enumerate(config.learning.pack()))
        if self.options:
            await self.write(Region.RULE_PARAMS, enumerate(config.rules.pack()))
        if "stochastic" in self.options:
            await self.write_register(Register.SEED, config.seed)
        words = ((config.weights.ravel() & _W_MASK) << _W.offset
                 | config.plastic.ravel().astype(np.int64) << _P.offset
                 | (config.elig.ravel() & _E_MASK) << _E.offset)
        await self.write(Region.SYNAPSE, enumerate(words.tolist()))

    async def set_learning(self, on: bool):
        await self.write_register(Register.CONTROL, int(bool(on)))

    async def command(self, command: Command, modulator: int | None = None) -> int:
        """Run ``command`` to completion and return its cycle count, read from
        ``Register.CYCLES``.  :attr:`timed_cycles` is the same count measured from the
        ``done`` pulse in simulation time; callers can assert that both agree."""
        from cocotb.triggers import FallingEdge, RisingEdge, SimTimeoutError, with_timeout
        from cocotb.utils import get_sim_time
        dut = self.dut
        word = COMMAND_WORD.const({"command": command, "modulate": modulator is not None,
                                   "modulator": modulator or 0}).as_value().value
        await self.write(Region.CONTROL, [(Register.COMMAND.value, word)])
        # The command was taken at the rising edge half a period ago; the first busy cycle
        # starts there, and done is high during the last one.
        taken = get_sim_time(unit="ns") - self.period_ns / 2
        # A hung sequencer must fail the test, not hang it: no command takes longer than a
        # step in which every neuron fires with learning on and a modulation (2.5 N^2 + ...).
        limit = (3 * self.n * self.n + 2 * self.n + 100) * self.period_ns
        try:
            await with_timeout(RisingEdge(dut.done), limit, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{command.name} did not finish within {limit} ns; "
                                 f"the core is stuck in phase {int(dut.phase.value)}.") from None
        last = get_sim_time(unit="ns")
        await FallingEdge(dut.clk)
        self.timed_cycles = round((last - taken) / self.period_ns) + 1
        self.cycles = await self.read_register(Register.CYCLES)
        return self.cycles

    async def reset_state(self):
        return await self.command(Command.RESET)

    async def step(self, forced=None, modulator=None):
        """Force the neurons in ``forced`` (bool mask or indices) and run one timestep
        (modulated with the raw MODULATOR ``modulator`` unless None); return its cycle
        count."""
        if forced is not None:
            f = np.asarray(forced)
            idx = np.flatnonzero(f) if f.dtype == bool else f.astype(np.int64)
            await self.write(Region.FORCED, ((int(k), 1) for k in idx))
        return await self.command(Command.STEP, modulator)

    # -- read back through the port ----------------------------------------------------------

    async def read_table(self, region, layout) -> Table:
        return Table.unpack(layout, await self.read(region, range(self.n)))

    async def read_state(self) -> Table:
        return await self.read_table(Region.NEURON_STATE, NEURON_STATE)

    async def read_params(self):
        return (await self.read_table(Region.NEURON_PARAMS, NEURON_PARAMS),
                await self.read_table(Region.LEARNING_PARAMS, LEARNING_PARAMS))

    async def read_triplet(self) -> Table:
        """The slow traces (option triplet) through the port."""
        return await self.read_table(Region.TRIPLET_STATE, TRIPLET_STATE)

    async def read_spikes(self) -> np.ndarray:
        return np.array(await self.read(Region.SPIKES, range(self.n)), dtype=bool)

    async def read_synapses(self):
        words = np.array(await self.read(Region.SYNAPSE, range(self.n * self.n)), np.int64)
        return self._split_synapses(words)

    def peek_elig(self):
        """The eligibility matrix (n, n), row = pre-synaptic."""
        geo = Geometry(self.n)
        banks = np.array([self._peek(f"syn{b}", geo.bank_depth) for b in range(4)], np.int64)
        j, i = np.divmod(np.arange(self.n * self.n), self.n)
        e = (banks[Geometry.bank(j, i), geo.address(j, i)] >> _E.offset) & _E_MASK
        return np.where(e >> (_E.width - 1), e - (1 << _E.width), e).reshape(self.n, self.n)

    def _split_synapses(self, words):
        w = (words >> _W.offset) & _W_MASK
        w = np.where(w >> (_W.width - 1), w - (1 << _W.width), w).reshape(self.n, self.n)
        return w, ((words >> _P.offset) & 1).astype(bool).reshape(self.n, self.n)

    # -- peek the memories (VPI) -----------------------------------------------------------

    def _peek(self, name, count):
        mem = getattr(self.dut, name)
        return [int(mem[k].value) for k in range(count)]

    def peek_spikes(self) -> np.ndarray:
        return self._peek_neurons()["spk"].astype(bool)

    def _peek_neurons(self) -> Table:
        return Table.unpack(NEURON_WORD, self._peek("neu", self.n))

    def _peek_pairs(self, name, width):
        """A per-neuron field kept in pair words (neurons 2q, 2q + 1 at address q)."""
        words = self._peek(name, (self.n + 1) // 2)
        mask = (1 << width) - 1
        return np.array([(words[k >> 1] >> (width * (k & 1))) & mask for k in range(self.n)],
                        np.int64)

    def peek_triplet(self) -> Table:
        """The slow traces ``x2``, ``y2`` (option triplet: memory ``trip``)."""
        return Table.unpack(TRIPLET_STATE, self._peek("trip", self.n))

    def peek_state(self) -> Table:
        t = Table(NEURON_STATE, self.n)
        neu = self._peek_neurons()
        acc = self._peek_pairs("pend", F.ACC.width)
        cols = {"acc": np.where(acc >= 1 << (F.ACC.width - 1), acc - (1 << F.ACC.width), acc),
                "x": self._peek_pairs("xtr", F.TRACE.width)}
        for name in t.names:
            t[name] = cols[name] if name in cols else neu[name]
        return t

    def peek_weights(self):
        """(weights, plastic) as (n, n) arrays, row = pre-synaptic."""
        geo = Geometry(self.n)
        banks = np.array([self._peek(f"syn{b}", geo.bank_depth) for b in range(4)], np.int64)
        j, i = np.divmod(np.arange(self.n * self.n), self.n)
        return self._split_synapses(banks[Geometry.bank(j, i), geo.address(j, i)])

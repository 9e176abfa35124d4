"""The core's access port: regions, control registers, commands and the request word.

A controller (the UART protocol layer, or a testbench) talks to :class:`~.core.Core`
through two streams:

* ``req`` -- :func:`request_layout` words ``{write, region, addr, data}``, one per
  read or write of one word;
* ``rsp`` -- one :data:`DATA_WIDTH`-bit word per read request, in request order.

``data`` holds a word of the region's layout from the contract (:data:`REGION_LAYOUTS`),
zero-extended to :data:`DATA_WIDTH`.  ``docs/architecture.md`` documents the memory map.

The enums here do not cross the boundary to the host: the link's dispatcher
(:mod:`.link`) translates the protocol's :class:`~plasticore.protocol.WireRegion` s and
opcodes into these requests, so they live here, with the only components that use them.
"""

from __future__ import annotations

from amaranth.lib import data, enum

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

__all__ = ["Region", "Register", "Command", "COMMAND_WORD", "Phase", "DATA_WIDTH",
           "REGION_LAYOUTS",
           "request_layout", "region_depth"]


class Region(enum.Enum, shape=4):
    """What ``addr`` of a request indexes."""
    #: ``addr = j * N + i`` (row j = pre-synaptic, column i = post-synaptic): one SYNAPSE word.
    SYNAPSE = 0
    #: ``addr = n``: the NEURON_PARAMS word of neuron n.
    NEURON_PARAMS = 1
    #: ``addr = n``: the LEARNING_PARAMS word of neuron n.
    LEARNING_PARAMS = 2
    #: ``addr = n``: the NEURON_STATE word ``{v, i, acc, ref, x, y}`` of neuron n.
    NEURON_STATE = 3
    #: ``addr = n``: 1 if neuron n fired in the last step (writable, for state restore).
    SPIKES = 4
    #: ``addr = n``: 1 forces neuron n to fire in the next step; the step clears it.
    FORCED = 5
    #: ``addr = k < SPIKE_COUNT``: index of the k-th neuron (ascending) that fired in the last
    #: step.  Scratch memory of the core: a write changes nothing but what is read back.
    SPIKE_LIST = 6
    #: ``addr`` = a :class:`Register`.
    CONTROL = 7
    #: ``addr = n``: the RULE_PARAMS word of neuron n (cores with a learning option; the
    #: fields of options the core lacks read as 0 and are not stored).
    RULE_PARAMS = 8
    #: ``addr = n``: the TRIPLET_STATE word ``{x2, y2}`` of neuron n (option triplet; a core
    #: without it ignores writes and answers 0).
    TRIPLET_STATE = 9


class Register(enum.Enum, shape=3):
    """Addresses in :attr:`Region.CONTROL`."""
    #: Read-only: the number of neurons N.
    INFO = 0
    #: Bit 0: learning enable (read/write, 0 after reset of the gateware).
    CONTROL = 1
    #: Write-only: a :class:`Command` starts; reads return 0.
    COMMAND = 2
    #: Read/write, 32 bits: steps run since the last :attr:`Command.RESET`.
    STEP_COUNT = 3
    #: Read-only: number of neurons that fired in the last step (0..N).
    SPIKE_COUNT = 4
    #: Read-only: clock cycles the last command was busy (the step's cycle count).
    CYCLES = 5
    #: Read-only: :func:`plasticore.protocol.contract_hash` of the contract it was built from.
    CONTRACT = 6
    #: Read/write, 32 bits: the SEED of stochastic rounding (option stochastic; else 0).
    SEED = 7


class Command(enum.Enum, shape=2):
    """Values written to :attr:`Register.COMMAND`."""
    NOP = 0
    #: Run one timestep (uses and clears the FORCED bits).
    STEP = 1
    #: Zero v, i, acc, ref, x, y, the spike and forced bits, STEP_COUNT and SPIKE_COUNT.
    #: Weights, plasticity bits, parameters and the learning bit are kept.
    RESET = 2


#: The data of a COMMAND write: the command, and for a STEP of a core with the eligibility
#: option whether it is modulated and its MODULATOR r (docs/model.md, section 4.6).
COMMAND_WORD = data.StructLayout({"command": Command, "modulate": 1, "modulator": F.MODULATOR})


class Phase(enum.Enum, shape=3):
    """What the core is doing (the ``phase`` output, for tests and benchmarks)."""
    IDLE = 0
    RESET = 1
    NEURON = 2
    ROWS = 3
    COLS = 4
    FINISH = 5
    #: The modulation pass (option eligibility): every synapse, two per cycle.
    MOD = 6


#: The word layout of each region (CONTROL registers and single bits are plain integers).
REGION_LAYOUTS = {
    Region.SYNAPSE: SYNAPSE,
    Region.NEURON_PARAMS: NEURON_PARAMS,
    Region.LEARNING_PARAMS: LEARNING_PARAMS,
    Region.NEURON_STATE: NEURON_STATE,
    Region.RULE_PARAMS: RULE_PARAMS,
    Region.TRIPLET_STATE: TRIPLET_STATE,
}

#: Width of ``data`` and of a response: the widest word (NEURON_PARAMS, 117 bits).
DATA_WIDTH = max(32, *(data.Layout.cast(layout).size for layout in REGION_LAYOUTS.values()))


def region_depth(params: CoreParams, region: Region) -> int:
    """Number of words in ``region``; a request with a larger ``addr`` is ignored (a write)
    or answered with 0 (a read)."""
    if region == Region.SYNAPSE:
        return params.synapses
    if region == Region.CONTROL:
        return len(Register)
    return params.n


def request_layout(params: CoreParams) -> data.StructLayout:
    """The layout of a request: ``write`` is the LSB, then ``region``, ``addr``, ``data``."""
    return data.StructLayout({
        "write": 1,
        "region": Region,
        "addr": max(1, (params.synapses - 1).bit_length()),
        "data": DATA_WIDTH,
    })


# Sanity of the widths the core relies on.
assert F.ACC.width <= DATA_WIDTH

"""The host link's shared definitions.

The UART protocol (opcodes as :mod:`amaranth.lib.enum`, frame headers as
:mod:`amaranth.lib.data` layouts) is defined here, once, and used by both the gateware
dispatcher and the host driver.  What every version of the protocol carries is
:func:`contract_hash`: a digest of every numeric format and word layout of the contract,
which the identify command returns so that a host refuses a core built from a different
contract.
"""

from __future__ import annotations

import hashlib

from amaranth.lib import data

from . import core, fixed

__all__ = ["PROTOCOL_VERSION", "contract_description", "contract_hash"]

PROTOCOL_VERSION = 1


def _layout_description(layout: data.StructLayout):
    return [(name, field.offset, field.width) for name, field in layout]


def contract_description() -> dict:
    """Everything two builds must agree on to exchange words, as plain data."""
    return {
        "protocol": PROTOCOL_VERSION,
        "formats": {k: repr(v) for k, v in sorted(fixed.FORMATS.items())},
        "constants": {"decay_frac": fixed.DECAY_FRAC, "stdp_shift": fixed.STDP_SHIFT},
        "layouts": {
            "neuron_params": _layout_description(core.NEURON_PARAMS),
            "learning_params": _layout_description(core.LEARNING_PARAMS),
            "neuron_state": _layout_description(core.NEURON_STATE),
            "synapse": _layout_description(core.SYNAPSE),
        },
    }


def contract_hash() -> int:
    """32-bit digest of :func:`contract_description` (stable across Python runs)."""
    text = repr(contract_description()).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")

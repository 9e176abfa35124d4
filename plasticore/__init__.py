"""plasticore: an open FPGA spiking-neural-network emulator with on-chip STDP learning.

The root package is the contract every part shares:

* :mod:`plasticore.fixed`    -- numeric formats and the fixed-point operations;
* :mod:`plasticore.core`     -- core geometry and the layouts of parameter, state and synapse words;
* :mod:`plasticore.protocol` -- the host link's definitions and the contract hash.

The parts built on it are :mod:`plasticore.sim` (bit-exact reference and simulation),
:mod:`plasticore.hdl` (gateware), :mod:`plasticore.compiler`, :mod:`plasticore.driver` and
:mod:`plasticore.boards`.  The contract imports nothing of them.
"""

from .core import CoreConfig, CoreParams, ResetMode, Table

__version__ = "0.1.0"
__all__ = ["CoreConfig", "CoreParams", "ResetMode", "Table", "__version__"]

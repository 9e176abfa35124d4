"""Simulation: the bit-exact reference model of the core and the ways to run the gateware.

* :mod:`.reference` -- :class:`Reference`, the integer model every other part must equal;
* :mod:`.fast` -- the same model as a numba kernel (``bench`` extra);
* :mod:`.rtl` -- the core's Verilog built for cocotb (Verilator, Icarus);
* :mod:`.board` -- the simulated board: the link top, Verilated, behind its UART pins;
* :mod:`.workload` -- :func:`~.workload.activity_config`, the benchmarks' network.

The toolchain plumbing is :mod:`plasticore.hdl.toolchain`; the float64 model of the same
equations is the compiler's (:mod:`plasticore.compiler.floatsim`); the tests' stimuli and
cocotb driver are in ``tests/support``.
"""

from .reference import Record, Reference, Snapshot

__all__ = ["Record", "Reference", "Snapshot"]

"""The core's collision monitor: a verification-only check of its memory schedule."""

from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CollisionMonitor", "PortWatch"]


class PortWatch(wiring.Signature):
    """What the monitor sees of one memory: whether its read data is used this cycle, its
    read address, and its write address and (any) write enable."""

    def __init__(self, addr_width: int):
        super().__init__({"used": Out(1), "raddr": Out(addr_width), "waddr": Out(addr_width),
                          "we": Out(1)})


class CollisionMonitor(wiring.Component):
    """Sticky ``collision`` flag: set in the cycle after a watched memory is written at the
    address it reads in a cycle whose read data is used, or after any ``conflict`` input
    (e.g. a single-port synapse bank asked to read and write at once) is high.

    The core never does either (the HDL tests check ``collision`` after every step), which
    is what allows the board builds to declare read/write collisions don't-care (no bypass
    logic) and the synapse banks to be single-port RAMs.  On boards the output is left
    unconnected and the monitor is optimised away.

    Latency and throughput
    ----------------------
    ``collision`` rises 1 cycle after the offending cycle and stays high until reset.

    Members
    -------
    <name> : In(PortWatch(width))
        One per memory given to the constructor (``{name: address width}``).
    conflict : In(conflicts)
        Conditions that are collisions by themselves.
    collision : Out(1)
        Sticky flag.
    """

    def __init__(self, memories: dict[str, int], conflicts: int):
        self._names = list(memories)
        super().__init__({
            **{name: In(PortWatch(width)) for name, width in memories.items()},
            "conflict": In(conflicts), "collision": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bad = []
        for name in self._names:
            port = getattr(self, name)
            bad.append(port.used & port.we & (port.raddr == port.waddr))
        with m.If(Cat(*bad, self.conflict).any()):
            m.d.sync += self.collision.eq(1)
        return m

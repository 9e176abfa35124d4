"""The state of the plasticore PyNN backend: the network as PyNN built it, and the core that
runs it.

PyNN describes a network incrementally and runs it in pieces (``run``, ``run``, ``reset``,
``run``).  Here the first ``run`` after ``setup`` or ``reset`` lowers the whole network onto
one core (a :class:`plasticore.compiler.Network`, compiled by
:func:`~plasticore.compiler.compile_network`) and opens a session on the target
(:func:`plasticore.driver.runtime.open_session`); each ``run`` then advances it by whole
timesteps, forcing the spikes of the spike sources, which the host generates for exactly that
piece of time, and appends the recorded spikes and potentials.  ``reset`` closes the session:
the next ``run`` starts again from the initial state and weights, as PyNN specifies.

Times are PyNN's milliseconds; the compiler takes seconds.  A synapse's delay is the core's
one step, except out of spike sources, whose spikes the host simply forces later (one input
copy per distinct delay).
"""

from __future__ import annotations

import contextlib
from typing import Any

from pyNN import common

name = "plasticore"


class ID(int, common.IDMixin):
    """A PyNN cell ID: a global integer."""

    def __init__(self, n: int) -> None:
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """Simulator state: ``dt`` and ``t`` in ms, the target, the populations and projections,
    and (while running) the core session."""

    def __init__(self) -> None:
        common.control.BaseState.__init__(self)
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self.min_delay: float | str = "auto"
        self.max_delay: float | str = "auto"
        self.target = "ref"
        self.n = 256
        self.segment_counter = -1
        self.clear()

    # -- PyNN's life cycle -------------------------------------------------------------------

    def clear(self) -> None:
        """Forget the network (``setup``)."""
        self._close()
        self.recorders: set[Any] = set()
        self.populations: list[Any] = []
        self.projections: list[Any] = []
        self.id_counter = 0
        self.segment_counter = -1
        self.reset()

    def reset(self) -> None:
        """Time back to 0; the next run starts from the initial state and weights."""
        self._close()
        self.running = False
        self.t = 0.0
        self.t_start = 0.0
        self.step = 0
        self.segment_counter += 1
        for pop in getattr(self, "populations", []):
            pop._clear_recorded()

    def run(self, simtime: float) -> None:
        self.run_until(self.t + simtime)

    def run_until(self, tstop: float) -> None:
        steps = int(round(tstop / self.dt)) - self.step
        if steps <= 0:
            self.running = True
            return
        from .engine import Engine

        if self.engine is None:
            self._stack = contextlib.ExitStack()
            self.engine = Engine.build(self, self._stack)
        self.engine.run(steps)
        self.step += steps
        self.t = self.step * self.dt
        self.running = True

    def _close(self) -> None:
        stack = getattr(self, "_stack", None)
        if stack is not None:
            stack.close()
        self._stack = None
        self.engine: Any = None

    def changed(self, what: str) -> None:
        """A structural change (a new population or projection, a parameter): refused while
        a run is under way, since the core was configured before it."""
        if self.engine is not None:
            raise NotImplementedError(
                f"plasticore.pynn: {what} after run() needs reset() (or setup()) first: the "
                f"core was configured at the first run.")


state = State()

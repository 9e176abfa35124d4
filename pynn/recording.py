"""Recording for the plasticore PyNN backend: PyNN's Recorder, fed from what the engine
appended to the population (spike steps, potentials after every step).

A spike in step ``k`` (counted from the last ``reset``) is at time ``(k + 1) dt``: the end of
the step in which it happened.  ``v`` has PyNN's ``steps + 1`` samples: the initial value at
``t = 0``, then the value after every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyNN import recording

from . import simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def _record(self, variable: Any, new_ids: Any, sampling_interval: float | None = None
                ) -> None:
        if variable.name not in ("spikes", "v"):
            raise NotImplementedError(f"plasticore.pynn records 'spikes' and 'v', not "
                                      f"{variable.name!r}.")
        if sampling_interval not in (None, simulator.state.dt):
            raise NotImplementedError(
                f"plasticore.pynn records every timestep: sampling_interval must be dt "
                f"({simulator.state.dt} ms), not {sampling_interval}.")
        simulator.state.changed(f"recording {variable.name!r} of {self.population.label!r}")

    def _spikes(self) -> np.ndarray:
        pop = self.population
        return (np.concatenate(pop._spike_steps) if pop._spike_steps
                else np.zeros((0, 2), np.int64))

    def _get_spiketimes(self, ids: Any, clear: bool = False) -> dict[int, np.ndarray]:
        pop = self.population
        steps = self._spikes()
        dt = self._simulator.state.dt
        out = {}
        for i in ids:
            k = pop.id_to_index(int(i))
            out[int(i)] = (steps[steps[:, 1] == k, 0] + 1) * dt
        return out

    def _get_all_signals(self, variable: Any, ids: Any, clear: bool = False
                         ) -> tuple[np.ndarray, None]:
        pop = self.population
        idx = np.array([pop.id_to_index(int(i)) for i in ids], np.int64)
        v0 = pop._v0()[idx][None, :]
        rows = [v[:, idx] for v in pop._v]
        return np.concatenate([v0, *rows]), None

    def _local_count(self, variable: Any, filter_ids: Any = None) -> dict[int, int]:
        pop = self.population
        counts = np.bincount(self._spikes()[:, 1], minlength=pop.size)
        return {int(i): int(counts[pop.id_to_index(int(i))])
                for i in self.filter_recorded(variable, filter_ids)}

    def _clear_simulator(self) -> None:
        self.population._clear_recorded()

    def _reset(self) -> None:
        pass

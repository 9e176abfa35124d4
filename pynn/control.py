"""``setup``, ``run``, ``reset``, ``end`` and the state queries of the plasticore backend."""

from __future__ import annotations

import json
import os
from typing import Any

from pyNN import common
from pyNN.common.control import DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from plasticore.driver.runtime import check_target

from . import simulator


def setup(timestep: float = DEFAULT_TIMESTEP, min_delay: float | str = DEFAULT_MIN_DELAY,
          **extra_params: Any) -> int:
    """Start a new network.  ``timestep`` in ms is the core's step.  Extra parameters:
    ``target`` (``"ref"``, ``"virtual"``, ``"sim"`` or a serial URL/port; default ``"ref"``),
    ``neurons`` (the core's size, default 256), ``rng_seed`` (of the Poisson sources)."""
    max_delay = extra_params.get("max_delay", "auto")
    common.setup(timestep, min_delay, **extra_params)
    state = simulator.state
    state.clear()
    state.dt = float(timestep)
    state.min_delay, state.max_delay = min_delay, max_delay
    if min_delay not in ("auto", None) and abs(float(min_delay) - timestep) > 1e-9 * timestep \
            and float(min_delay) < timestep:
        raise ValueError(f"plasticore.pynn: min_delay ({min_delay} ms) is below the timestep "
                         f"({timestep} ms).")
    state.target = check_target(extra_params.get("target", "ref"))
    state.n = int(extra_params.get("neurons", 256))
    state.rng_seed = extra_params.get("rng_seed", 0)
    return 0


def end(compatible_output: bool = True) -> None:
    """Write what ``record(..., to_file=...)`` asked for and close the core session.

    If the environment variable ``PLASTICORE_PYNN_REPORT`` names a file, the quantisation
    report of the compiled network is written there as JSON (for scripts run unchanged, as
    ``benchmarks/pynn_vs_brian2.py`` does)."""
    state = simulator.state
    for population, variables, filename in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []
    path = os.environ.get("PLASTICORE_PYNN_REPORT")
    if path and state.engine is not None:
        with open(path, "w") as f:
            json.dump(state.engine.program.report.as_dict(), f, default=float)
    state._close()


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)

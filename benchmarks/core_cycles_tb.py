"""cocotb side of ``core_cycles.py``: runs timesteps at set activities, records cycle counts.

The core driver and the random networks come from ``tests/support`` (``core_cycles.py``
puts ``tests/`` on ``sys.path``, which the cocotb runner hands to the simulator).

Environment: ``PLASTICORE_N``, ``PLASTICORE_BENCH_OUT`` (JSON file to write),
``PLASTICORE_BENCH_STEPS`` (steps per point), ``PLASTICORE_BENCH_ACTIVITIES`` (comma-separated
fractions of N forced to fire per step), ``PLASTICORE_BENCH_NATURAL`` (steps of the
self-driven ``activity_config`` network, 0 to skip).
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from support.coredriver import CoreTB
from support.stimulus import random_config

from plasticore import fixed as F
from plasticore.hdl.access import Register
from plasticore.sim.workload import activity_config

N = int(os.environ["PLASTICORE_N"])
OUT = os.environ["PLASTICORE_BENCH_OUT"]
STEPS = int(os.environ.get("PLASTICORE_BENCH_STEPS", "3"))
ACTIVITIES = [float(a) for a in os.environ.get("PLASTICORE_BENCH_ACTIVITIES",
                                               "0,0.05,0.2,1").split(",")]
NATURAL = int(os.environ.get("PLASTICORE_BENCH_NATURAL", "0"))
OPTIONS = tuple(k for k in os.environ.get("PLASTICORE_OPTIONS", "").split(",") if k)


@cocotb.test()
async def measure(dut):
    rng = np.random.default_rng(0)
    tb = CoreTB(dut, N, OPTIONS)
    await tb.start()
    # Only forced neurons fire: the activity is exactly what is asked for.
    cfg = random_config(N, rng)
    cfg.neurons["bias"] = F.BIAS.min
    cfg.neurons["threshold"] = F.THRESHOLD.max
    await tb.load(cfg)
    await tb.reset_state()
    points = []
    # (learning, modulated): a modulated step (option eligibility) adds the modulation pass
    modes = [(False, False), (True, False)]
    if "eligibility" in OPTIONS:
        modes.append((True, True))
    for learning, modulated in modes:
        await tb.set_learning(learning)
        for activity in ACTIVITIES:
            spikes = int(round(activity * N))
            cycles = []
            for _ in range(STEPS):
                forced = rng.permutation(N)[:spikes]
                cycles.append(await tb.step(forced, 16 if modulated else None))
                assert tb.timed_cycles == cycles[-1], "done pulse and CYCLES disagree"
            points.append({"learning": learning, "modulated": modulated,
                           "activity": activity, "spikes": spikes, "cycles": cycles})
    natural = None
    if NATURAL:
        cfg = activity_config(N, seed=1)
        await tb.load(cfg)
        await tb.reset_state()
        await tb.set_learning(True)
        cycles, spikes = [], []
        for _ in range(NATURAL):
            cycles.append(await tb.step())
            spikes.append(await tb.read_register(Register.SPIKE_COUNT))
        natural = {"cycles": cycles, "spikes": spikes}
    with open(OUT, "w") as f:
        json.dump({"n": N, "points": points, "natural": natural}, f)

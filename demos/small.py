"""``plasticore demo --small``: two input patterns, four learning outputs with lateral
inhibition, 16 neurons on the reference model (through :mod:`plasticore.driver.runtime`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from plasticore import fixed as F
from plasticore.core import CoreConfig, CoreParams, ResetMode

__all__ = ["small_network", "run_small", "format_small"]


def small_network(steps: int, seed: int = 1, n: int = 16
                  ) -> tuple[CoreConfig, np.ndarray, dict[str, np.ndarray]]:
    """Return ``(config, forced, groups)``.

    Inputs 0-5 (pattern A) and 6-11 (pattern B) are forced to fire at 30 % per step, the
    pattern alternating every 20 steps.  Outputs 12-15 integrate them through plastic
    weights (pair STDP, bounds [0, 100]) and inhibit each other through fixed weights.
    """
    rng = np.random.default_rng(seed)
    cfg = CoreConfig(CoreParams(n))
    inputs, outputs = np.arange(12), np.arange(12, 16)
    p, lp = cfg.neurons, cfg.learning
    p["threshold"] = 1 << 16
    p["alpha_v"] = round(F.DECAY_ONE * np.exp(-1 / 10))       # tau_mem = 10 steps
    p["alpha_i"] = round(F.DECAY_ONE * np.exp(-1 / 4))        # tau_syn = 4 steps
    p["refractory"] = 2
    p["w_shift"] = 6
    p["reset_mode"] = ResetMode.VALUE
    lp["alpha_x"] = lp["alpha_y"] = round(F.DECAY_ONE * np.exp(-1 / 8))
    lp["x_inc"] = lp["y_inc"] = F.TRACE_ONE
    lp["a_plus"], lp["a_minus"] = 3 * 16, 2 * 16               # 3 and 2 weight LSBs
    lp["w_min"], lp["w_max"] = 0, 100
    w = np.zeros((n, n), np.int64)
    w[np.ix_(inputs, outputs)] = rng.integers(20, 40, (12, 4))
    w[np.ix_(outputs, outputs)] = -90
    w[outputs, outputs] = 0
    cfg.weights = w
    cfg.plastic[np.ix_(inputs, outputs)] = True
    t = np.arange(steps)
    pattern_a = (t // 20) % 2 == 0
    forced = np.zeros((steps, n), bool)
    draw = rng.random((steps, 6)) < 0.3
    forced[pattern_a, 0:6] = draw[pattern_a]
    forced[~pattern_a, 6:12] = draw[~pattern_a]
    return cfg.validate(), forced, {"input": inputs, "output": outputs}


def run_small(steps: int = 80, seed: int = 1) -> tuple[dict[str, Any], str]:
    """Run :func:`small_network` with STDP on the reference; return the summary (JSON-able)
    and the text report (rasters and the learned input->output weights)."""
    from plasticore.driver.runtime import open_session

    cfg, forced, groups = small_network(steps, seed=seed)
    with open_session("ref", cfg, learning=True) as session:
        t0 = time.perf_counter()
        rec = session.run(steps, forced, record_v=True)
        wall = time.perf_counter() - t0
        weights = session.read_weights()
    out_idx = groups["output"]
    summary = {
        "target": "ref",
        "neurons": cfg.n,
        "steps": steps,
        "spikes": int(rec.spikes.sum()),
        "output_spikes": [int(c) for c in rec.spikes[:, out_idx].sum(0)],
        "weights_changed": int((weights != cfg.weights).sum()),
        "wall_s": round(wall, 4),
    }
    return summary, format_small(summary, rec.spikes, groups,
                                 weights[np.ix_(groups["input"], out_idx)], wall)


def _raster(spikes, neurons, width=100):
    """Text raster: one line per neuron, one column per step (clipped to ``width``)."""
    lines = []
    for k in neurons:
        row = "".join("|" if s else "." for s in spikes[:width, k])
        lines.append(f"  n{k:<4d} {row}  ({int(spikes[:, k].sum())} spikes)")
    return "\n".join(lines)


def format_small(summary: dict[str, Any], spikes: np.ndarray, groups: dict[str, np.ndarray],
                 learned: np.ndarray, wall: float) -> str:
    """The text report of :func:`run_small`."""
    lines = [f"plasticore demo: {summary['neurons']}-neuron network on the reference model, "
             f"{summary['steps']} steps, STDP on\n"]
    for group, idx in groups.items():
        lines.append(f"{group} neurons:")
        lines.append(_raster(spikes, idx))
    lines.append("\nlearned input->output weights (rows: inputs, columns: outputs):")
    lines.append(np.array2string(learned, max_line_width=120))
    lines.append(f"\n{summary['spikes']} spikes, {summary['weights_changed']} weights changed "
                 f"by STDP, {summary['steps'] / wall:,.0f} steps/s")
    return "\n".join(lines)

"""The quantisation report: how a network was mapped onto the core, parameter by parameter.

:func:`~plasticore.compiler.compile_network` fills a :class:`QuantizationReport`; a program
file stores it (:meth:`QuantizationReport.as_dict` / :meth:`~QuantizationReport.from_dict`).
``docs/compiler.md`` states what its figures mean and the spike-count agreement it promises.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["QuantizationReport", "rel_error", "SPIKE_COUNT_GAIN", "SPIKE_COUNT_SLACK",
           "RECURRENT_SPREAD"]

#: Spike-count tolerance stated by the report: ``SLACK + GAIN * drive_error * count``.  A
#: neuron's rate is, to first order, proportional to its drive relative to its threshold and
#: leak, so a relative parameter error ``e`` moves the rate by about ``e`` (more near the
#: firing onset, hence the gain); the slack absorbs one threshold crossing that lands on the
#: other side of a step boundary at either end of the run.
SPIKE_COUNT_GAIN = 4.0
SPIKE_COUNT_SLACK = 2
#: Extra per-neuron spread, in units of sqrt(count), allowed in recurrent networks.
RECURRENT_SPREAD = 2.0


def rel_error(requested: ArrayLike, realised: ArrayLike) -> np.ndarray:
    """``|realised - requested| / |requested|`` elementwise; 0 where equal (infinities
    included), inf where only ``requested`` is 0."""
    req, real = np.asarray(requested, np.float64), np.asarray(realised, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        both_inf = np.isinf(req) & np.isinf(real) & (np.sign(req) == np.sign(real))
        r = np.where(req == real, 0.0, np.abs(real - req) / np.abs(req))
        r = np.where(both_inf, 0.0, r)
        return np.where((req == 0) & (real != 0), np.inf, r)



class QuantizationReport:
    """How a network was mapped onto the core, parameter by parameter.

    Attributes
    ----------
    entries : list of dict
        One per parameter (per population, projection or rule): ``where``, ``parameter``,
        ``unit``, ``requested``, ``realised``, ``rel_error`` and ``raw`` (the integer loaded;
        for per-neuron parameters the values of the worst neuron).
    weights : dict
        Per projection: ``synapses``, ``rounded_to_zero`` (nonzero weights that became 0),
        ``clipped`` (always 0: out-of-range weights are errors), ``worst_abs_error`` (V),
        ``worst_rel_error`` and ``worst`` (the synapse with the largest relative error), and
        ``drive_error``: the largest, over post neurons, of ``sum |realised - requested| /
        sum |requested|`` of the weights into it.
    scales : dict
        Per population: ``k`` (threshold at 2**k LSB), ``lsb_per_volt``, ``w_shift``,
        ``weight_lsb`` (V per weight LSB).
    warnings : list of str
    drive_error : float
        The largest relative error of any quantity that drives the membrane: weights (as
        above), the leak ``1 - alpha`` of V and I, thresholds, reset values (relative to
        the threshold) and biases.
    recurrent : bool
        Whether the projections between LIF populations form a loop.
    spike_count_tolerance : dict
        ``{"absolute": SLACK, "relative": GAIN * drive_error, "recurrent": recurrent}``: the
        stated agreement between per-neuron spike counts of the compiled program and of a
        float simulation of the description (:func:`plasticore.compiler.simulate`) for the
        same input and no learning: ``|n_core - n_float| <= absolute + relative * n_float``,
        plus ``RECURRENT_SPREAD * sqrt(n_float)`` in a recurrent network (after the first
        spike that differs, its trajectories decorrelate and counts differ like two samples
        of the same rate).  An engineering estimate for rate-driven activity, not a
        guarantee: a neuron sitting exactly at its firing onset can diverge further.
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.weights: dict[str, dict[str, Any]] = {}
        self.scales: dict[str, dict[str, Any]] = {}
        self.warnings: list[str] = []
        self.drive_error = 0.0
        self.timing_error = 0.0
        self.recurrent = False
        #: Per post population with a learning rule: its kind, rounding, triplet, target.
        self.rules: dict[str, dict[str, Any]] = {}

    @property
    def needs(self) -> list[str]:
        """The core options (:data:`plasticore.core.OPTIONS`) the rules need."""
        out = set()
        for rule in self.rules.values():
            if rule["rounding"] == "stochastic":
                out.add("stochastic")
            if rule["triplet"]:
                out.add("triplet")
            if rule["target"] == "eligibility":
                out.add("eligibility")
        return sorted(out)

    def add(self, where: str, parameter: str, unit: str, requested: ArrayLike,
            realised: ArrayLike, raw: ArrayLike, rel: ArrayLike | None = None,
            drive: bool = False) -> dict[str, Any]:
        """Record a parameter (scalars or per-neuron arrays; the worst neuron is kept)."""
        req = np.atleast_1d(np.asarray(requested, np.float64))
        real = np.atleast_1d(np.asarray(realised, np.float64))
        raw = np.atleast_1d(np.asarray(raw))
        err = rel_error(req, real) if rel is None else np.atleast_1d(np.asarray(rel, np.float64))
        k = int(np.argmax(err)) if err.size else 0
        same = req.size == 1 or (np.all(req == req[0]) and np.all(real == real[0]))
        entry = {"where": where, "parameter": parameter, "unit": unit,
                 "requested": float(req[k]), "realised": float(real[k]),
                 "rel_error": float(err[k]), "raw": int(raw[min(k, raw.size - 1)])}
        if not same:
            entry["neuron"] = k
        self.entries.append(entry)
        if drive and err.size:
            self.drive_error = max(self.drive_error, float(err[k]))
        return entry

    @property
    def spike_count_tolerance(self) -> dict[str, Any]:
        return {"absolute": SPIKE_COUNT_SLACK, "relative": SPIKE_COUNT_GAIN * self.drive_error,
                "recurrent": self.recurrent}

    def allowed_deviation(self, count: ArrayLike) -> np.ndarray:
        """Largest spike-count difference the report allows for a neuron firing ``count``
        times in the float simulation."""
        tol = self.spike_count_tolerance
        count = np.asarray(count, np.float64)
        spread = RECURRENT_SPREAD * np.sqrt(count) if self.recurrent else 0.0
        return tol["absolute"] + tol["relative"] * count + spread

    def worst(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` entries with the largest relative error."""
        return sorted(self.entries, key=lambda e: -e["rel_error"])[:n]

    def as_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "weights": self.weights, "scales": self.scales,
                "warnings": self.warnings, "drive_error": self.drive_error,
                "timing_error": self.timing_error, "recurrent": self.recurrent,
                "spike_count_tolerance": self.spike_count_tolerance, "rules": self.rules,
                "needs": self.needs}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantizationReport:
        r = cls()
        r.entries, r.weights, r.scales = list(d["entries"]), dict(d["weights"]), dict(
            d["scales"])
        r.warnings, r.drive_error = list(d["warnings"]), float(d["drive_error"])
        r.timing_error = float(d.get("timing_error", 0.0))
        r.recurrent = bool(d.get("recurrent", False))
        r.rules = dict(d.get("rules", {}))
        return r

    def format(self, limit: int = 12) -> str:
        """Human-readable summary."""
        spread = f" + {RECURRENT_SPREAD:g} sqrt(count) (recurrent)" if self.recurrent else ""
        lines = [f"drive error {self.drive_error:.3g}; spike counts expected within "
                 f"{SPIKE_COUNT_SLACK} + {self.spike_count_tolerance['relative']:.3g} x count"
                 f"{spread}"]
        for name, s in self.scales.items():
            lines.append(f"  {name}: threshold at 2^{s['k']} LSB, w_shift {s['w_shift']}, "
                         f"weight LSB {s['weight_lsb']:.4g}")
        for name, w in self.weights.items():
            lines.append(f"  {name}: {w['synapses']} synapses, {w['rounded_to_zero']} rounded "
                         f"to zero, drive error {w['drive_error']:.3g}")
        for name, rule in self.rules.items():
            lines.append(f"  rule into {name}: {rule['kind']}, {rule['rounding']} rounding, "
                         f"updates to the {rule['target']}")
        if self.needs:
            lines.append(f"  needs core options: {', '.join(self.needs)}")
        lines.append("largest relative errors:")
        for e in self.worst(limit):
            lines.append(f"  {e['where']}.{e['parameter']}: requested {e['requested']:.6g} "
                         f"{e['unit']}, realised {e['realised']:.6g} "
                         f"(rel. error {e['rel_error']:.3g})")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<QuantizationReport drive_error={self.drive_error:.3g}, "
                f"{len(self.entries)} entries, {len(self.warnings)} warnings>")

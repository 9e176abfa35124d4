"""The runtime: run a compiled program on a target and decode what it records.

A *target* is where a core runs (:func:`check_target`):

* ``ref`` -- the bit-exact reference model, called directly (no protocol; fastest);
* ``virtual`` -- the reference behind the full link protocol;
* ``sim`` -- the simulated board: the generated gateware, Verilated, behind its UART pins;
  ``sim-bytes`` -- the same with its link driven byte by byte (faster);
* a pyserial URL or port -- a board (``/dev/ttyUSB1``) or a served simulated board
  (``socket://127.0.0.1:PORT``).

:func:`open_session` gives one interface to all of them, a :class:`Session` with a loaded
configuration (``run``, ``reset``, ``learning``, ``read_weights``, ``read_state``);
:func:`run_program` runs a :class:`~plasticore.compiler.Program` through it and returns
:class:`Results`: spikes, potentials and weights of the recorded populations and projections,
in the description's units.  The results are identical on every target.

Every failure of a target, and every bad argument of a run, is a :class:`RunError` (a
:class:`~plasticore.driver.DriverError`); the program file is the compiler's business
(:meth:`Program.load <plasticore.compiler.Program.load>` raises ``CompileError``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from plasticore.compiler.program import Program, atomic_write_npz, read_npz
from plasticore.core import NEURON_STATE, CoreConfig, Table
from plasticore.sim.reference import Record, Reference

from .chip import Chip, DriverError
from .targets import open_chip

__all__ = ["RunError", "TARGETS", "Progress", "check_target", "Session", "ReferenceSession",
           "ChipSession", "open_session", "run_program", "Results", "RESULTS_VERSION"]

#: The named targets; anything else must be a serial URL or port.
TARGETS = ("ref", "virtual", "sim", "sim-bytes")
RESULTS_VERSION = 1
#: ``progress(done, total)``: called as steps complete.
Progress = Callable[[int, int], None]


class RunError(DriverError, ValueError):
    """A program could not be run on a target (the target failed, or the target, the number
    of steps or a results file is wrong).  A :class:`ValueError` too, so that callers that
    treat bad input alike (the command line's exit status 2) need not know the driver."""


def check_target(target: str) -> str:
    """Accept ``ref``, ``virtual``, ``sim``, ``sim-bytes``, ``netlist:BOARD`` and serial URLs
    or ports (``/dev/ttyUSB1``, ``socket://127.0.0.1:PORT``, ``COM3``); refuse anything else
    with a :class:`RunError` that lists them."""
    if target in TARGETS or (isinstance(target, str) and target.startswith("netlist:")):
        return target
    if isinstance(target, str) and ("://" in target or target.startswith(("/dev/", "COM"))):
        return target
    raise RunError(f"Unknown target {target!r}; use 'ref' (the bit-exact reference), "
                   f"'virtual', 'sim', 'sim-bytes', 'netlist:BOARD' or a board URL such as "
                   f"/dev/ttyUSB1.")


# -- sessions ----------------------------------------------------------------------------------

class Session:
    """A core with a configuration loaded, on some target.

    ``target`` is the target's name, ``device`` what answers there (``"reference model"``,
    ``"virtual chip"``, ``"gateware"``), ``n`` the core's size.
    """

    target: str
    device: str
    n: int

    @property
    def learning(self) -> bool:
        raise NotImplementedError

    @learning.setter
    def learning(self, on: bool) -> None:
        raise NotImplementedError

    def run(self, steps: int, forced: np.ndarray | None = None, *, record_v: bool = False,
            weights_every: int = 0, progress: Progress | None = None,
            modulators: Sequence[int | None] | None = None) -> Record:
        """Run ``steps`` timesteps forcing ``forced`` (bool, steps x n).  The :class:`Record`
        holds the spikes, ``state["v"]`` after every step if ``record_v``, and a copy of the
        weights every ``weights_every`` steps (0: never).  ``modulators``: None or one entry
        per step, None (unmodulated) or the raw MODULATOR ``r`` of the step."""
        raise NotImplementedError

    def reset(self) -> None:
        """Neuron state and traces to 0; weights and parameters are kept."""
        raise NotImplementedError

    def run_each(self, forced: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each of ``forced`` (bool, steps x n) run from a reset, as :meth:`reset` then
        :meth:`run` for each in turn; the spikes of each.  A target reached through the
        protocol sends them as one pipelined stream (no round trip between them)."""
        spikes = []
        for f in forced:
            self.reset()
            spikes.append(self.run(len(f), f).spikes)
        return spikes

    def read_weights(self) -> np.ndarray:
        """The weight matrix, int (n, n), row = pre."""
        raise NotImplementedError

    def read_state(self) -> dict[str, np.ndarray]:
        """The neuron state: ``v``, ``i``, ``acc``, ``ref``, ``x``, ``y`` per neuron."""
        raise NotImplementedError

    def write_state(self, table: Table) -> None:
        """Replace the neuron state by ``table`` (a NEURON_STATE table of ``n`` neurons)."""
        raise NotImplementedError

    def read_elig(self) -> np.ndarray:
        """The eligibility matrix, int (n, n), row = pre."""
        raise NotImplementedError


def reference_model(config: CoreConfig, learning: bool = False, *,
                    fast: bool = False) -> Reference:
    """The reference model of ``config``; with ``fast``, the numba kernel
    (:class:`~plasticore.sim.fast.FastReference`) if numba is installed."""
    if fast:
        try:
            from plasticore.sim.fast import FastReference
        except ImportError:            # numba is optional
            pass
        else:
            return FastReference(config, learning=learning)
    return Reference(config, learning=learning)


class ReferenceSession(Session):
    """The ``ref`` target: a :class:`~plasticore.sim.Reference` (``model``)."""

    def __init__(self, config: CoreConfig, learning: bool = False, *,
                 fast: bool = False) -> None:
        self.model = reference_model(config, learning, fast=fast)
        self.target, self.device, self.n = "ref", "reference model", config.n

    @property
    def learning(self) -> bool:
        return self.model.learning

    @learning.setter
    def learning(self, on: bool) -> None:
        self.model.learning = bool(on)

    def run(self, steps: int, forced: np.ndarray | None = None, *, record_v: bool = False,
            weights_every: int = 0, progress: Progress | None = None,
            modulators: Sequence[int | None] | None = None) -> Record:
        record = ("spikes", "v") if record_v else ("spikes",)
        return self.model.run(steps, forced=forced, record=record,
                              weights_every=weights_every, progress=progress,
                              modulators=modulators)

    def read_elig(self) -> np.ndarray:
        return self.model.elig.copy()

    def reset(self) -> None:
        self.model.reset()

    def read_weights(self) -> np.ndarray:
        return self.model.weights.copy()

    def read_state(self) -> dict[str, np.ndarray]:
        return _state_dict(self.model.state)

    def write_state(self, table: Table) -> None:
        self.model.state = table


class ChipSession(Session):
    """A target reached through the protocol: a :class:`~plasticore.driver.Chip`."""

    def __init__(self, chip: Chip, target: str) -> None:
        self.chip, self.target = chip, target
        self.device = chip.identity.kind_name if chip.identity is not None else "unknown"
        self.n = chip.n
        # A reset is sent with the next run (pipelined: one round trip less per reset and
        # run, as the demo does per image), or before any other request.
        self._reset_pending = False

    def _flush(self) -> Chip:
        if self._reset_pending:
            self._reset_pending = False
            self.chip.reset()
        return self.chip

    @property
    def learning(self) -> bool:
        return self._flush().learning

    @learning.setter
    def learning(self, on: bool) -> None:
        self._flush().learning = bool(on)

    def run(self, steps: int, forced: np.ndarray | None = None, *, record_v: bool = False,
            weights_every: int = 0, progress: Progress | None = None,
            modulators: Sequence[int | None] | None = None) -> Record:
        """V is recorded after every step if asked: streamed with the RUNs' answers where
        the device can, else read back pipelined with the steps (see :meth:`Chip.run
        <plasticore.driver.chip.Chip.run>`'s ``record``); the weights every
        ``weights_every`` steps (between runs of that many steps); ``modulators`` is one
        modulator (or None) per step."""
        if modulators is not None and len(modulators) != steps:
            raise ValueError(f"modulators given for {len(modulators)} steps, but running "
                             f"{steps}")
        record = ("v",) if record_v else ()
        reset, self._reset_pending = self._reset_pending, False
        if not weights_every:
            return self.chip.run(steps, forced, progress=progress, record=record, reset=reset,
                                 modulators=modulators)
        self._reset_pending = reset
        forced = np.zeros((steps, self.n), bool) if forced is None else forced
        rec = Record(np.zeros((steps, self.n), bool),
                     {"v": np.zeros((steps, self.n), np.int64)} if record_v else {})
        k = 0
        while k < steps:
            c = min(weights_every, steps - k)
            part = self._flush().run(
                c, forced[k:k + c], progress=_offset(progress, k, steps), record=record,
                modulators=None if modulators is None else modulators[k:k + c])
            rec.spikes[k:k + c] = part.spikes
            if record_v:
                rec.state["v"][k:k + c] = part.state["v"]
            k += c
            if k % weights_every == 0:
                rec.weights.append(self.chip.read_weights())
        return rec

    def run_each(self, forced: Sequence[np.ndarray]) -> list[np.ndarray]:
        if not forced:
            return []
        self._reset_pending = False            # each one starts with its own RESET
        return self.chip.run_each(forced)

    def reset(self) -> None:
        """Sent with the next run (pipelined with its RUNs) or before any other request of
        this session; a session closed right after a reset leaves the core as it was."""
        self._reset_pending = True

    def read_weights(self) -> np.ndarray:
        return self._flush().read_weights()

    def read_state(self) -> dict[str, np.ndarray]:
        return _state_dict(self._flush().read_state())

    def write_state(self, table: Table) -> None:
        self._flush().write_state(table)

    def read_elig(self) -> np.ndarray:
        return self._flush().read_elig()


def _state_dict(table: Any) -> dict[str, np.ndarray]:
    return {name: np.asarray(table[name]) for name, _ in NEURON_STATE}


def _offset(progress: Progress | None, done: int, total: int) -> Progress | None:
    if progress is None:
        return None
    return lambda d, _t: progress(done + d, total)


@contextlib.contextmanager
def open_session(target: str, config: CoreConfig, *, learning: bool = False,
                 fast_reference: bool = False) -> Iterator[Session]:
    """Context manager: a :class:`Session` on ``target`` with ``config`` loaded and learning
    set.  For ``sim`` the simulated board is built (cached) and started for the duration.
    Failures of the target raise :class:`~plasticore.driver.DriverError` subclasses (a
    simulated board that cannot start: :class:`~plasticore.sim.board.BoardError`);
    ``fast_reference`` uses the numba kernel for ``ref`` when it is installed."""
    check_target(target)
    if target == "ref":
        yield ReferenceSession(config, learning, fast=fast_reference)
        return
    with open_chip(target, config.n, options=config.needs()) as chip:
        chip.load(config)
        chip.learning = learning
        yield ChipSession(chip, target)


# -- running a program ------------------------------------------------------------------------

def run_program(program: Program, steps: int | None = None, target: str = "ref",
                progress: Progress | None = None) -> Results:
    """Run ``program`` for ``steps`` steps (default: the length of its input) on ``target``
    and return :class:`Results`.  ``progress(done, total)`` is called as steps complete.

    The program is uploaded, run with V recorded after every step if it is recorded
    (streamed with the RUNs' answers where the device can, else read back pipelined with
    the steps) and the weights at the recording intervals; the results are identical
    on every target.  Raises :class:`RunError` for an unknown target, a bad number of steps
    or a failing target (``"Running on '/dev/ttyUSB1' failed: ..."``).
    """
    check_target(target)
    steps = program.input_steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise RunError(f"The number of steps must be a positive integer, not {steps!r} "
                       f"(the program's input is {program.input_steps} steps long).")
    steps = int(steps)
    intervals = [e for e in program.record["weights"].values() if e]
    every = math.gcd(*intervals) if intervals else 0
    t0 = time.perf_counter()
    try:
        with open_session(target, program.config, learning=program.learning) as session:
            rec = session.run(steps, program.forced(steps), record_v=bool(program.record["v"]),
                              weights_every=every, progress=progress,
                              modulators=program.modulators(steps))
            final = session.read_weights()
    except _target_errors(target) as e:
        raise RunError(f"Running on {target!r} failed: {e}") from None
    return Results.decode(program, rec, final, target=target, every=every,
                          wall_s=time.perf_counter() - t0)


def _target_errors(target: str) -> tuple[type[Exception], ...]:
    if target in ("sim", "sim-bytes"):
        from plasticore.sim.board import BoardError
        return DriverError, BoardError
    if target.startswith("netlist:"):
        from plasticore.boards.build import ToolchainError
        from plasticore.sim.board import BoardError
        return DriverError, BoardError, ToolchainError
    return (DriverError,)


# -- results -----------------------------------------------------------------------------------

class Results:
    """What a run recorded, decoded into the description's units.

    ``spikes[pop]``: bool (steps, size); ``v[pop]``: float volts (steps, size) and
    ``v_raw[pop]`` the integers; ``weights[proj]``: float (pre, post) at the end of the run
    (0 where there is no synapse) and ``weights_raw[proj]``; ``weight_history[proj]``: float
    (k, pre, post) every requested interval.  :meth:`save` and :meth:`load` write and read
    the results file (``docs/compiler.md``).
    """

    def __init__(self, program_name: str, dt: float, steps: int, target: str,
                 spikes: dict[str, np.ndarray], v: dict[str, np.ndarray],
                 v_raw: dict[str, np.ndarray], weights: dict[str, np.ndarray],
                 weights_raw: dict[str, np.ndarray], weight_history: dict[str, np.ndarray],
                 wall_s: float, contract_hash: int) -> None:
        self.program_name, self.dt, self.steps, self.target = program_name, dt, steps, target
        self.spikes, self.v, self.v_raw = spikes, v, v_raw
        self.weights, self.weights_raw, self.weight_history = weights, weights_raw, \
            weight_history
        self.wall_s = wall_s
        self.contract_hash = contract_hash

    @classmethod
    def decode(cls, program: Program, record: Record, final_weights: np.ndarray, *,
               target: str, every: int, wall_s: float) -> Results:
        """The results of ``program`` from a run's :class:`Record` (V recorded if the program
        records it, the weights every ``every`` steps) and the final weight matrix."""
        spikes, v, v_raw = {}, {}, {}
        for name in program.record["spikes"]:
            spikes[name] = record.spikes[:, program.population_indices(name)]
        for name in program.record["v"]:
            idx = program.population_indices(name)
            v_raw[name] = record.state["v"][:, idx]
            v[name] = program.v_offset[idx] + v_raw[name] / program.lsb_per_volt[idx]
        weights, weights_raw, history = {}, {}, {}
        for name, interval in program.record["weights"].items():
            pr = program.projections[name]
            rows = program.population_indices(pr["pre"])
            cols = program.population_indices(pr["post"])

            def block(w: np.ndarray, mask: np.ndarray = pr["mask"], rows: np.ndarray = rows,
                      cols: np.ndarray = cols) -> np.ndarray:
                return np.where(mask, w[np.ix_(rows, cols)], 0)

            weights_raw[name] = block(final_weights)
            weights[name] = weights_raw[name] * program.weight_lsb[cols]
            if interval:
                snaps = [w for k, w in enumerate(record.weights)
                         if ((k + 1) * every) % interval == 0]
                history[name] = np.array([block(w) * program.weight_lsb[cols]
                                          for w in snaps]).reshape(len(snaps), len(rows),
                                                                   len(cols))
        return cls(program.name, program.dt, record.spikes.shape[0], target, spikes, v, v_raw,
                   weights, weights_raw, history, wall_s, program.contract_hash)

    def spike_counts(self) -> dict[str, list[int]]:
        return {k: [int(c) for c in s.sum(axis=0)] for k, s in self.spikes.items()}

    def summary(self) -> dict[str, Any]:
        return {"program": self.program_name, "target": self.target, "steps": self.steps,
                "dt": self.dt, "spikes": {k: int(s.sum()) for k, s in self.spikes.items()},
                "recorded_v": sorted(self.v), "recorded_weights": sorted(self.weights),
                "wall_s": self.wall_s,
                "steps_per_s": round(self.steps / self.wall_s) if self.wall_s > 0 else None}

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write ``.npz``: ``header`` (JSON summary) and ``spikes/<pop>``, ``v/<pop>``,
        ``v_raw/<pop>``, ``weights/<proj>``, ``weights_raw/<proj>``, ``weight_history/<proj>``;
        atomically.  A missing folder or a failed write raises :class:`RunError`."""
        arrays = {}
        for prefix, d in (("spikes", self.spikes), ("v", self.v), ("v_raw", self.v_raw),
                          ("weights", self.weights), ("weights_raw", self.weights_raw),
                          ("weight_history", self.weight_history)):
            for k, a in d.items():
                arrays[f"{prefix}/{k}"] = a
        header = {"format": "plasticore-results", "version": RESULTS_VERSION,
                  "contract_hash": f"{self.contract_hash:08x}", **self.summary()}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        try:
            atomic_write_npz(path, arrays, error=RunError)
        except OSError as e:
            raise RunError(f"Cannot write results {os.fspath(path)!r}: {e.strerror}.") \
                from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Results:
        """Read a results file written by :meth:`save`; :class:`RunError` if it is not one."""
        header, arrays = read_npz(path, "results", error=RunError)
        if header.get("format") != "plasticore-results":
            raise RunError(f"{os.fspath(path)!r} is not a plasticore results file.")
        kinds = ("spikes", "v", "v_raw", "weights", "weights_raw", "weight_history")
        d: dict[str, dict[str, np.ndarray]] = {p: {} for p in kinds}
        for key, a in arrays.items():
            prefix, _, name = key.partition("/")
            d[prefix][name] = a
        return cls(header["program"], header["dt"], header["steps"], header["target"],
                   d["spikes"], d["v"], d["v_raw"], d["weights"], d["weights_raw"],
                   d["weight_history"], header["wall_s"], int(header["contract_hash"], 16))

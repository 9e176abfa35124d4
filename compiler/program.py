"""Compiled programs, their file format, and running them.

A :class:`Program` is what the compiler hands to a target: the configuration image
(:class:`~plasticore.core.CoreConfig`), the neuron ranges of the populations, the forced
input spikes, what to record, ``dt``, the learning switch and the
:class:`~plasticore.compiler.QuantizationReport`.

File format (``.npz``, version :data:`FORMAT_VERSION`)
    A NumPy ``.npz`` archive (a zip of ``.npy`` arrays, no pickles) whose member ``header``
    is a UTF-8 JSON document: ``format`` (``"plasticore-program"``), ``version``,
    ``contract_hash`` (8 hex digits, :func:`plasticore.protocol.contract_hash`), ``n``,
    ``dt``, ``name``, ``learning``, ``populations``, ``projections``, ``record``,
    ``input_steps``, ``report`` and ``digest`` (SHA-256 of every other member, in name
    order).  The arrays are the configuration image exactly as the driver uploads it:
    ``neuron_words`` and ``learning_words`` (one little-endian word per neuron, as bytes,
    from :meth:`Table.pack <plasticore.core.Table.pack>`), ``weights`` (int8, row = pre) and
    ``plastic`` (bool), plus ``input_index``, ``input_raster`` (bit-packed, steps x inputs),
    the decoding scales ``lsb_per_volt``, ``v_offset``, ``weight_lsb`` and one
    ``mask:<projection>`` per projection.  Files are written to a temporary name and renamed,
    so a failed write leaves no partial file.  Loading checks the format, the version, the
    contract hash and the digest, and says which one failed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import time
import zipfile
import zlib

import numpy as np

from plasticore import protocol
from plasticore.core import LEARNING_PARAMS, NEURON_PARAMS, CoreConfig, CoreParams, Table

from .lower import QuantizationReport
from .network import CompileError

__all__ = ["Program", "Results", "FORMAT_VERSION", "RESULTS_VERSION", "run_program",
           "TARGETS"]

FORMAT_VERSION = 1
RESULTS_VERSION = 1
TARGETS = ("ref", "sim")


def _words_to_bytes(words, bits):
    nbytes = (bits + 7) // 8
    return np.frombuffer(b"".join(int(w).to_bytes(nbytes, "little") for w in words),
                         np.uint8).reshape(len(words), nbytes)


def _bytes_to_words(arr):
    return [int.from_bytes(row.tobytes(), "little") for row in np.asarray(arr, np.uint8)]


def _digest(arrays):
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _atomic_write_npz(path, arrays):
    """Write ``arrays`` to ``path`` through a temporary file in the same folder."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CompileError(f"Cannot write {path!r}: folder {folder!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=".plasticore-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_npz(path, kind):
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CompileError(f"Cannot read {kind} {path!r}: {e.strerror}.") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as e:
        raise CompileError(f"{path!r} is not a valid plasticore {kind} file (corrupt or not an "
                           f".npz archive: {e}).") from None
    if "header" not in arrays:
        raise CompileError(f"{path!r} is not a plasticore {kind} file: it has no header.")
    try:
        header = json.loads(bytes(arrays.pop("header")).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CompileError(f"{path!r}: the {kind} header is corrupt ({e}).") from None
    return header, arrays


class Program:
    """A compiled network, ready for a target.  Built by
    :func:`~plasticore.compiler.compile_network`; saved with :meth:`save`, read with
    :meth:`load`, run with :meth:`run`.

    Attributes: ``config`` (CoreConfig), ``dt`` (s), ``populations`` (``{name: {"start",
    "stop", "input"}}``: neurons ``start`` to ``stop - 1``), ``projections`` (``{name:
    {"pre", "post", "learning", "mask"}}``), ``record`` (``{"spikes": [pop], "v": [pop],
    "weights": {projection: every}}``), ``input_index`` (core neurons that are inputs),
    ``input_raster`` (bool, steps x inputs), ``lsb_per_volt`` / ``v_offset`` /
    ``weight_lsb`` (per neuron: ``v = v_offset + V / lsb_per_volt``, ``w = W *
    weight_lsb[post]``), ``report``, ``learning`` (run-time switch), ``name``,
    ``contract_hash``.
    """

    def __init__(self, *, config, dt, populations, projections, record, input_index,
                 input_raster, lsb_per_volt, v_offset, weight_lsb, report, learning, name,
                 contract_hash=None):
        self.config = config
        self.dt = float(dt)
        self.populations = populations
        self.projections = projections
        self.record = record
        self.input_index = np.asarray(input_index, np.int64)
        self.input_raster = np.asarray(input_raster, bool)
        self.lsb_per_volt = np.asarray(lsb_per_volt, np.float64)
        self.v_offset = np.asarray(v_offset, np.float64)
        self.weight_lsb = np.asarray(weight_lsb, np.float64)
        self.report = report
        self.learning = bool(learning)
        self.name = name
        self.contract_hash = protocol.contract_hash() if contract_hash is None else \
            contract_hash

    @property
    def n(self):
        return self.config.n

    @property
    def input_steps(self):
        return self.input_raster.shape[0]

    def population_indices(self, name):
        """The core neuron indices of population ``name``."""
        if name not in self.populations:
            raise CompileError(f"Unknown population {name!r}; the program has "
                               f"{', '.join(self.populations)}.")
        p = self.populations[name]
        return np.arange(p["start"], p["stop"])

    def forced(self, steps):
        """Bool (steps, n): the input spikes for a run of ``steps`` steps (silent after the
        end of the input raster)."""
        out = np.zeros((steps, self.n), bool)
        k = min(steps, self.input_steps)
        if self.input_index.size:
            out[:k, self.input_index] = self.input_raster[:k]
        return out

    # -- file format -------------------------------------------------------------------------

    def _arrays(self):
        arrays = {
            "neuron_words": _words_to_bytes(self.config.neurons.pack(), NEURON_PARAMS.size),
            "learning_words": _words_to_bytes(self.config.learning.pack(),
                                              LEARNING_PARAMS.size),
            "weights": self.config.weights.astype(np.int8),
            "plastic": self.config.plastic.astype(bool),
            "input_index": self.input_index,
            "input_raster": np.packbits(self.input_raster, axis=0) if self.input_raster.size
            else np.zeros((0, self.input_raster.shape[1]), np.uint8),
            "lsb_per_volt": self.lsb_per_volt, "v_offset": self.v_offset,
            "weight_lsb": self.weight_lsb,
        }
        for k, pr in enumerate(self.projections.values()):
            arrays[f"mask:{k}"] = np.asarray(pr["mask"], bool)
        return arrays

    def header(self):
        return {
            "format": "plasticore-program", "version": FORMAT_VERSION,
            "contract_hash": f"{self.contract_hash:08x}", "n": self.n, "dt": self.dt,
            "name": self.name, "learning": self.learning, "populations": self.populations,
            "projections": [{"name": name, "pre": p["pre"], "post": p["post"],
                             "learning": bool(p["learning"])}
                            for name, p in self.projections.items()],
            "record": self.record, "input_steps": self.input_steps,
            "report": self.report.as_dict(),
        }

    def save(self, path):
        """Write the program to ``path`` (``.npz``) atomically."""
        arrays = self._arrays()
        header = self.header()
        header["digest"] = _digest(arrays)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        _atomic_write_npz(path, arrays)
        return path

    @classmethod
    def load(cls, path):
        """Read a program written by :meth:`save`; raises :class:`CompileError` for a file
        of another format, version or contract, or a corrupt one."""
        header, arrays = _read_npz(path, "program")
        if header.get("format") != "plasticore-program":
            raise CompileError(f"{os.fspath(path)!r} is not a plasticore program (format "
                               f"{header.get('format')!r}).")
        if header.get("version") != FORMAT_VERSION:
            raise CompileError(f"{os.fspath(path)!r} is a version {header.get('version')} "
                               f"program; this plasticore reads version {FORMAT_VERSION}.")
        mine = f"{protocol.contract_hash():08x}"
        if header.get("contract_hash") != mine:
            raise CompileError(f"{os.fspath(path)!r} was compiled for contract "
                               f"{header.get('contract_hash')}, but this plasticore implements "
                               f"contract {mine}: recompile the network.")
        if header.get("digest") != _digest(arrays):
            raise CompileError(f"{os.fspath(path)!r} is corrupt: its arrays do not match the "
                               f"digest in its header.")
        try:
            n = int(header["n"])
            neurons = Table.unpack(NEURON_PARAMS, _bytes_to_words(arrays["neuron_words"]))
            learning = Table.unpack(LEARNING_PARAMS, _bytes_to_words(arrays["learning_words"]))
            config = CoreConfig(CoreParams(n), neurons, learning,
                                arrays["weights"].astype(np.int64), arrays["plastic"])
            steps = int(header["input_steps"])
            packed = arrays["input_raster"]
            raster = (np.unpackbits(packed, axis=0, count=steps).astype(bool) if steps
                      else np.zeros((0, packed.shape[1]), bool))
            projections = {}
            for k, p in enumerate(header["projections"]):
                projections[p["name"]] = {"pre": p["pre"], "post": p["post"],
                                          "learning": p["learning"],
                                          "mask": arrays[f"mask:{k}"].astype(bool)}
            return cls(config=config, dt=header["dt"], populations=header["populations"],
                       projections=projections, record=header["record"],
                       input_index=arrays["input_index"], input_raster=raster,
                       lsb_per_volt=arrays["lsb_per_volt"], v_offset=arrays["v_offset"],
                       weight_lsb=arrays["weight_lsb"],
                       report=QuantizationReport.from_dict(header["report"]),
                       learning=header["learning"], name=header["name"],
                       contract_hash=int(header["contract_hash"], 16))
        except (KeyError, TypeError, ValueError) as e:
            raise CompileError(f"{os.fspath(path)!r} is corrupt or incomplete: {e}.") from None

    def summary(self):
        return {"name": self.name, "neurons": self.n,
                "used": max((p["stop"] for p in self.populations.values()), default=0),
                "populations": {k: [v["start"], v["stop"]] for k, v in self.populations.items()},
                "synapses": int((self.config.weights != 0).sum()),
                "plastic": int(self.config.plastic.sum()), "learning": self.learning,
                "dt": self.dt, "input_steps": self.input_steps,
                "drive_error": self.report.drive_error,
                "warnings": len(self.report.warnings),
                "contract_hash": f"{self.contract_hash:08x}"}

    def run(self, steps=None, target="ref", progress=None):
        return run_program(self, steps=steps, target=target, progress=progress)

    def __repr__(self):
        return (f"<Program {self.name!r}: {len(self.populations)} populations on {self.n} "
                f"neurons, {self.input_steps} input steps, learning={self.learning}>")


# -- running -----------------------------------------------------------------------------------

def check_target(target):
    """Accept ``ref``, ``virtual``, ``sim`` and serial URLs or ports (``/dev/ttyUSB1``,
    ``socket://127.0.0.1:PORT``); refuse anything else with an error that lists them."""
    if target in ("ref", "virtual", "sim"):
        return target
    if isinstance(target, str) and ("://" in target or target.startswith(("/dev/", "COM"))):
        return target
    raise CompileError(f"Unknown target {target!r}; use 'ref' (the bit-exact reference), "
                       f"'virtual', 'sim' or a board URL such as /dev/ttyUSB1.")


def _run_reference(program, steps, record_v, every, progress):
    from plasticore.sim import Reference

    ref = Reference(program.config, learning=program.learning)
    record = ("spikes", "v") if record_v else ("spikes",)
    rec = ref.run(steps, forced=program.forced(steps), record=record, weights_every=every,
                  progress=progress)
    return rec.spikes, rec.state.get("v"), rec.weights, ref.weights


def _run_chip(program, steps, target, record_v, every, progress):
    """The same run through the driver: on the virtual chip, the simulated board or a board.
    V is read back after every step if it is recorded, the weights every ``every`` steps."""
    from plasticore.driver import DriverError
    from plasticore.driver.targets import open_chip

    n = program.n
    forced = program.forced(steps)
    spikes = np.zeros((steps, n), bool)
    v = np.zeros((steps, n), np.int64) if record_v else None
    history = []
    chunk = 1 if record_v else (every or steps)
    try:
        with open_chip(target, n) as chip:
            chip.load(program.config)
            chip.learning = program.learning
            k = 0
            while k < steps:
                c = min(chunk, steps - k)
                done = k
                rec = chip.run(c, forced[k:k + c], progress=None if progress is None else
                               (lambda d, _t, done=done: progress(done + d, steps)))
                spikes[k:k + c] = rec.spikes
                k += c
                if record_v:
                    v[k - 1] = chip.read_state()["v"]
                if every and k % every == 0:
                    history.append(chip.read_weights())
            final = chip.read_weights()
    except DriverError as e:
        raise CompileError(f"Running on {target!r} failed: {e}") from None
    return spikes, v, history, final


class Results:
    """What a run recorded, decoded into the description's units.

    ``spikes[pop]``: bool (steps, size); ``v[pop]``: float volts (steps, size) and
    ``v_raw[pop]`` the integers; ``weights[proj]``: float (pre, post) at the end of the run
    (0 where there is no synapse) and ``weights_raw[proj]``; ``weight_history[proj]``: float
    (k, pre, post) every requested interval.
    """

    def __init__(self, program_name, dt, steps, target, spikes, v, v_raw, weights,
                 weights_raw, weight_history, wall_s, contract_hash):
        self.program_name, self.dt, self.steps, self.target = program_name, dt, steps, target
        self.spikes, self.v, self.v_raw = spikes, v, v_raw
        self.weights, self.weights_raw, self.weight_history = weights, weights_raw, \
            weight_history
        self.wall_s = wall_s
        self.contract_hash = contract_hash

    def spike_counts(self):
        return {k: [int(c) for c in s.sum(axis=0)] for k, s in self.spikes.items()}

    def summary(self):
        return {"program": self.program_name, "target": self.target, "steps": self.steps,
                "dt": self.dt, "spikes": {k: int(s.sum()) for k, s in self.spikes.items()},
                "recorded_v": sorted(self.v), "recorded_weights": sorted(self.weights),
                "wall_s": self.wall_s,
                "steps_per_s": round(self.steps / self.wall_s) if self.wall_s > 0 else None}

    def save(self, path):
        """Write ``.npz``: ``header`` (JSON summary) and ``spikes/<pop>``, ``v/<pop>``,
        ``v_raw/<pop>``, ``weights/<proj>``, ``weights_raw/<proj>``, ``weight_history/<proj>``;
        atomically."""
        arrays = {}
        for prefix, d in (("spikes", self.spikes), ("v", self.v), ("v_raw", self.v_raw),
                          ("weights", self.weights), ("weights_raw", self.weights_raw),
                          ("weight_history", self.weight_history)):
            for k, a in d.items():
                arrays[f"{prefix}/{k}"] = a
        header = {"format": "plasticore-results", "version": RESULTS_VERSION,
                  "contract_hash": f"{self.contract_hash:08x}", **self.summary()}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        _atomic_write_npz(path, arrays)
        return path

    @classmethod
    def load(cls, path):
        header, arrays = _read_npz(path, "results")
        if header.get("format") != "plasticore-results":
            raise CompileError(f"{os.fspath(path)!r} is not a plasticore results file.")
        d = {p: {} for p in ("spikes", "v", "v_raw", "weights", "weights_raw",
                             "weight_history")}
        for key, a in arrays.items():
            prefix, _, name = key.partition("/")
            d[prefix][name] = a
        return cls(header["program"], header["dt"], header["steps"], header["target"],
                   d["spikes"], d["v"], d["v_raw"], d["weights"], d["weights_raw"],
                   d["weight_history"], header["wall_s"], int(header["contract_hash"], 16))


def run_program(program: Program, steps=None, target="ref", progress=None):
    """Run ``program`` for ``steps`` steps (default: the length of its input) on ``target``
    and return :class:`Results`.  ``progress(done, total)`` is called after every step."""
    check_target(target)
    steps = program.input_steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise CompileError(f"The number of steps must be a positive integer, not {steps!r} "
                           f"(the program's input is {program.input_steps} steps long).")
    steps = int(steps)
    intervals = [e for e in program.record["weights"].values() if e]
    every = math.gcd(*intervals) if intervals else 0
    record_v = bool(program.record["v"])
    t0 = time.perf_counter()
    if target == "ref":
        all_spikes, all_v, weight_snaps, final_w = _run_reference(program, steps, record_v,
                                                                  every, progress)
    else:
        all_spikes, all_v, weight_snaps, final_w = _run_chip(program, steps, target,
                                                             record_v, every, progress)
    wall = time.perf_counter() - t0
    spikes, v, v_raw = {}, {}, {}
    for name in program.record["spikes"]:
        spikes[name] = all_spikes[:, program.population_indices(name)]
    for name in program.record["v"]:
        idx = program.population_indices(name)
        v_raw[name] = all_v[:, idx]
        v[name] = program.v_offset[idx] + v_raw[name] / program.lsb_per_volt[idx]
    weights, weights_raw, history = {}, {}, {}
    for name, interval in program.record["weights"].items():
        pr = program.projections[name]
        rows, cols = program.population_indices(pr["pre"]), program.population_indices(
            pr["post"])
        mask = pr["mask"]
        weights_raw[name] = np.where(mask, final_w[np.ix_(rows, cols)], 0)
        weights[name] = weights_raw[name] * program.weight_lsb[cols]
        if interval:
            snaps = [w for k, w in enumerate(weight_snaps)
                     if ((k + 1) * every) % interval == 0]
            history[name] = np.array([np.where(mask, w[np.ix_(rows, cols)], 0)
                                      * program.weight_lsb[cols] for w in snaps]).reshape(
                len(snaps), len(rows), len(cols))
    return Results(program.name, program.dt, steps, target, spikes, v, v_raw, weights,
                   weights_raw, history, wall, program.contract_hash)

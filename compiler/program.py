"""Compiled programs and their file format.

A :class:`Program` is what the compiler hands to a target: the configuration image
(:class:`~plasticore.core.CoreConfig`), the neuron ranges of the populations, the forced
input spikes, what to record, ``dt``, the learning switch and the
:class:`~plasticore.compiler.QuantizationReport`.

File format (``.npz``, version :data:`FORMAT_VERSION`)
    A NumPy ``.npz`` archive (a zip of ``.npy`` arrays, no pickles) whose member ``header``
    is a UTF-8 JSON document: ``format`` (``"plasticore-program"``), ``version``,
    ``contract_hash`` (8 hex digits, :func:`plasticore.protocol.contract_hash`), ``n``,
    ``dt``, ``name``, ``learning``, ``populations``, ``projections``, ``record``,
    ``input_steps``, ``modulated`` (three-factor: every step carries a modulator), ``seed``
    (of stochastic rounding), ``report`` and ``digest`` (SHA-256 of every other member, in name
    order).  The arrays are the configuration image exactly as the driver uploads it:
    ``neuron_words``, ``learning_words`` and ``rule_words`` (one little-endian word per
    neuron, as bytes,
    :meth:`Table.to_bytes <plasticore.core.Table.to_bytes>` in rows of
    :func:`~plasticore.core.word_bytes`), ``weights`` (int8, row = pre),
    ``plastic`` (bool) and ``elig`` (int8), ``reward`` (int8 raw modulator per input step),
    plus ``input_index``, ``input_raster`` (bit-packed, steps x inputs),
    the decoding scales ``lsb_per_volt``, ``v_offset``, ``weight_lsb`` and one
    ``mask:<projection>`` per projection.  Files are written to a temporary name and renamed,
    so a failed write leaves no partial file.  Loading checks the format, the version, the
    contract hash and the digest, and says which one failed.

Running a program is the driver's business (:mod:`plasticore.driver.runtime`);
:meth:`Program.run` is a shortcut to it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from amaranth.lib import data
from numpy.typing import ArrayLike

from plasticore import protocol
from plasticore.core import (
    LEARNING_PARAMS,
    NEURON_PARAMS,
    RULE_PARAMS,
    CoreConfig,
    CoreParams,
    Table,
    word_bytes,
)

from .network import CompileError
from .report import QuantizationReport

if TYPE_CHECKING:
    from plasticore.driver.runtime import Progress, Results

__all__ = ["Program", "FORMAT_VERSION", "atomic_write_npz", "read_npz"]

FORMAT_VERSION = 1


def _table_rows(table: Table) -> np.ndarray:
    """A table's byte form as a uint8 array, one row of ``word_bytes`` per word."""
    return np.frombuffer(table.to_bytes(), np.uint8).reshape(-1, word_bytes(table.layout))


def _rows_table(layout: data.StructLayout, rows: ArrayLike) -> Table:
    return Table.from_bytes(layout, np.ascontiguousarray(rows, np.uint8).tobytes())


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], *,
                     error: type[Exception] = CompileError) -> None:
    """Write ``arrays`` to ``path`` (compressed ``.npz``) through a temporary file in the
    same folder, renamed at the end: a failed write leaves nothing.  A missing folder raises
    ``error``; other ``OSError`` propagate."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise error(f"Cannot write {path!r}: folder {folder!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=".plasticore-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]  # numpy's stubs
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_npz(path: str | os.PathLike, kind: str, *, error: type[Exception] = CompileError
             ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(header, arrays)`` of a plasticore ``.npz`` file (``kind``: "program", "results"):
    the JSON ``header`` member decoded, the other members as arrays.  Every failure (missing,
    unreadable, not an archive, no or a corrupt header) raises ``error`` naming the file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise error(f"Cannot read {kind} {path!r}: {e.strerror}.") from None
    if not data.startswith(b"PK") and path.endswith((".py", ".nir")):
        raise error(f"{path!r} is a network description, not a {kind} file: compile it "
                    f"first (plasticore compile {path} -o PROGRAM.npz).")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as e:
        raise error(f"{path!r} is not a valid plasticore {kind} file (corrupt or not an "
                    f".npz archive: {e}).") from None
    if "header" not in arrays:
        raise error(f"{path!r} is not a plasticore {kind} file: it has no header.")
    try:
        header = json.loads(bytes(arrays.pop("header")).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{path!r}: the {kind} header is corrupt ({e}).") from None
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

    def __init__(self, *, config: CoreConfig, dt: float,
                 populations: dict[str, dict[str, Any]],
                 projections: dict[str, dict[str, Any]], record: dict[str, Any],
                 input_index: ArrayLike, input_raster: ArrayLike, lsb_per_volt: ArrayLike,
                 v_offset: ArrayLike, weight_lsb: ArrayLike, report: QuantizationReport,
                 learning: bool, name: str, contract_hash: int | None = None,
                 reward: ArrayLike | None = None) -> None:
        self.config = config
        #: Raw MODULATOR per input step (three-factor learning), or None: no step modulated.
        self.reward = None if reward is None else np.asarray(reward, np.int64)
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
    def n(self) -> int:
        return self.config.n

    @property
    def input_steps(self) -> int:
        return self.input_raster.shape[0]

    def population_indices(self, name: str) -> np.ndarray:
        """The core neuron indices of population ``name``."""
        if name not in self.populations:
            raise CompileError(f"Unknown population {name!r}; the program has "
                               f"{', '.join(self.populations)}.")
        p = self.populations[name]
        return np.arange(p["start"], p["stop"])

    def forced(self, steps: int) -> np.ndarray:
        """Bool (steps, n): the input spikes for a run of ``steps`` steps (silent after the
        end of the input raster)."""
        out = np.zeros((steps, self.n), bool)
        k = min(steps, self.input_steps)
        if self.input_index.size:
            out[:k, self.input_index] = self.input_raster[:k]
        return out

    def modulators(self, steps: int) -> list[int | None] | None:
        """The modulator of every step of a run of ``steps`` steps: None if the program has
        no three-factor rule; else every step is modulated, with the reward schedule's raw
        MODULATOR (0 after its end)."""
        if self.reward is None:
            return None
        out = [0] * steps
        k = min(steps, self.reward.size)
        out[:k] = [int(r) for r in self.reward[:k]]
        return list(out)

    # -- file format -------------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "neuron_words": _table_rows(self.config.neurons),
            "learning_words": _table_rows(self.config.learning),
            "rule_words": _table_rows(self.config.rules),
            "elig": self.config.elig.astype(np.int8),
            "reward": (np.zeros(0, np.int8) if self.reward is None
                       else self.reward.astype(np.int8)),
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

    def header(self) -> dict[str, Any]:
        return {
            "format": "plasticore-program", "version": FORMAT_VERSION,
            "contract_hash": f"{self.contract_hash:08x}", "n": self.n, "dt": self.dt,
            "name": self.name, "learning": self.learning, "populations": self.populations,
            "modulated": self.reward is not None, "seed": self.config.seed,
            "projections": [{"name": name, "pre": p["pre"], "post": p["post"],
                             "learning": bool(p["learning"])}
                            for name, p in self.projections.items()],
            "record": self.record, "input_steps": self.input_steps,
            "report": self.report.as_dict(),
        }

    def save(self, path: str | os.PathLike) -> str | os.PathLike:
        """Write the program to ``path`` (``.npz``) atomically."""
        arrays = self._arrays()
        header = self.header()
        header["digest"] = _digest(arrays)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        atomic_write_npz(path, arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Program:
        """Read a program written by :meth:`save`; raises :class:`CompileError` for a file
        of another format, version or contract, or a corrupt one."""
        header, arrays = read_npz(path, "program")
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
            neurons = _rows_table(NEURON_PARAMS, arrays["neuron_words"])
            learning = _rows_table(LEARNING_PARAMS, arrays["learning_words"])
            rules = _rows_table(RULE_PARAMS, arrays["rule_words"])
            config = CoreConfig(CoreParams(n), neurons, learning,
                                arrays["weights"].astype(np.int64), arrays["plastic"],
                                rules=rules, elig=arrays["elig"].astype(np.int64),
                                seed=int(header["seed"]))
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
                       contract_hash=int(header["contract_hash"], 16),
                       reward=(arrays["reward"].astype(np.int64) if header["modulated"]
                               else None))
        except (KeyError, TypeError, ValueError) as e:
            raise CompileError(f"{os.fspath(path)!r} is corrupt or incomplete: {e}.") from None

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "neurons": self.n,
                "used": max((p["stop"] for p in self.populations.values()), default=0),
                "populations": {k: [v["start"], v["stop"]] for k, v in self.populations.items()},
                "synapses": int((self.config.weights != 0).sum()),
                "plastic": int(self.config.plastic.sum()), "learning": self.learning,
                "dt": self.dt, "input_steps": self.input_steps,
                "drive_error": self.report.drive_error,
                "warnings": len(self.report.warnings),
                "contract_hash": f"{self.contract_hash:08x}"}

    def run(self, steps: int | None = None, target: str = "ref",
            progress: Progress | None = None) -> Results:
        """Run on ``target`` and decode what it records: a shortcut to
        :func:`plasticore.driver.runtime.run_program`, which documents the arguments and
        raises :class:`~plasticore.driver.runtime.RunError`."""
        from plasticore.driver.runtime import run_program

        return run_program(self, steps=steps, target=target, progress=progress)

    def __repr__(self) -> str:
        return (f"<Program {self.name!r}: {len(self.populations)} populations on {self.n} "
                f"neurons, {self.input_steps} input steps, learning={self.learning}>")

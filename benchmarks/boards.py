"""Resources, fmax and projected timesteps per second of the core on each board.

Reads the ``report.json`` of ``plasticore build`` runs (by default every
``build/boards/*/report.json``; ``--build BOARD:N ...`` runs the builds first, one at a
time) and prints, per board and N: synapses, resources, the clock used and the fmax nextpnr
reached, and the projected timesteps per second at 5 % activity with learning on:
``clock / step_cycles(N, S, True)`` with ``S = round(0.05 N)`` spiking neurons.
``step_cycles`` is the exact cycle count of the cycle-accurate simulation (tested against
it every step in ``tests/hdl``), so the projection is exact for the core; it leaves out the
UART link (see ``benchmarks/link_efficiency.py``).  Beside it: NeuroCoreX on its Cmod
A7-35T (Vivado post-place report, ``shared/reference/neurocorex.md`` section 7).

    python benchmarks/boards.py                         # tabulate existing reports
    python benchmarks/boards.py --build ulx3s:512       # build first (minutes), then tabulate
    python benchmarks/boards.py --json results.json
    python benchmarks/boards.py --xilinx 90 400         # Cmod A7: Yosys synth_xilinx counts
    python benchmarks/boards.py --largest [--synth]     # largest N per learning option

``--largest`` predicts, for the iCEBreaker and the ULX3S and each set of learning options,
the largest N whose memories fit the board's block RAM (and SPRAM) by
:mod:`plasticore.boards.resources` (the layouts mapped as Yosys maps them; checked against
Yosys's counts in ``tests/boards``), and puts beside it the build report of that board,
options and N if there is one (``plasticore build --board B --neurons N --options ...``):
LUT/LC, block RAM, DSP, fmax and timing, projected timesteps per second.  The prediction
covers memory only; logic, DSPs and timing are what the build says.

``--xilinx N ...`` synthesises the link top (core, dispatcher, UART; no PLL or I/O) with
Yosys's ``synth_xilinx -family xc7`` (the memory commands of the Lattice builds applied,
``boards/netlist.py``) and counts what Vivado's utilisation report calls Slice LUTs (logic
and LUTs used as memory), slice registers, block RAM tiles (RAMB36 = 1, RAMB18 = 0.5) and
DSP48E1s, against the Artix-7 35T of the Cmod A7 and beside NeuroCoreX at 90 neurons.  These
are Yosys's counts before place and route; Vivado's synthesis would differ somewhat, and
timing needs Vivado (not available here).
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: NeuroCoreX on the Cmod A7-35T (Vivado 2023.1 post-place report; 100 MHz).
NEUROCOREX = {"board": "NeuroCoreX (Cmod A7-35T)", "neurons": 90, "synapses": 90 * 90,
              "lut": 6981, "ff": 11175, "bram": 30.5, "dsp": 8, "clock_mhz": 100.0,
              "fmax_mhz": None, "steps_per_s": 1042}

ACTIVITY = 0.05


def projected(n: int, clock_hz: float) -> tuple[int, int, float]:
    """``(spikes, cycles, steps per second)`` at 5 % activity, learning on."""
    from plasticore.hdl.core import step_cycles
    s = max(1, round(ACTIVITY * n))
    cycles = step_cycles(n, s, True)
    return s, cycles, clock_hz / cycles


def modulated(n: int, clock_hz: float) -> float:
    """Steps per second at 5 % activity with learning on and a modulator (reward) in every
    step: the eligibility option's modulation pass on top."""
    from plasticore.hdl.core import step_cycles
    return clock_hz / step_cycles(n, max(1, round(ACTIVITY * n)), True, modulated=True)


def row(rep: dict) -> dict:
    res = rep.get("resources", {})
    n = rep["neurons"]
    r = {"board": rep["board"], "neurons": n, "synapses": rep["synapses"],
         "options": tuple(rep.get("options", ())),
         "clock_mhz": rep["clock_hz"] / 1e6, "fmax_mhz": rep.get("fmax_mhz"),
         "timing_met": rep.get("timing_met")}
    for key in ("lut", "ff", "bram", "spram", "dsp"):
        if key in res:
            r[key] = res[key]["used"]
            r[key + "_avail"] = res[key]["available"]
    if n:
        s, cycles, sps = projected(n, rep["clock_hz"])
        r.update(spikes=s, cycles=cycles, steps_per_s=sps)
        if rep.get("fmax_mhz"):
            r["steps_per_s_fmax"] = rep["fmax_mhz"] * 1e6 / cycles
    return r


#: The xc7a35t (Cmod A7-35T): Slice LUTs, slice registers, 36 Kbit block RAM tiles, DSP48E1.
ARTIX7_35T = {"lut": 20800, "ff": 41600, "bram": 50, "dsp": 90}
#: Yosys xc7 cells -> Slice LUTs each (INV is a LUT1 in Vivado; LUTs used as distributed RAM
#: or shift registers count too).
_XC7_LUTS = {"INV": 1, "LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
             "LUT6_2": 1, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4, "RAM64M": 4,
             "RAM32M16": 8, "RAM64X1S": 1, "RAM32X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
             "SRL16E": 1, "SRLC32E": 1}


def xilinx_row(n: int) -> dict:
    """Yosys synth_xilinx counts of the link top of ``n`` neurons (cached synthesis)."""
    from plasticore.boards.build import _yosys_cells
    from plasticore.boards.netlist import synthesize
    from plasticore.sim.board import board_top

    top, _ = board_top(n, clock_hz=100e6)          # the Cmod A7's default core clock
    folder, _ = synthesize(top, "xilinx7")
    cells = _yosys_cells((folder / "stat.txt").read_text())
    r = {"board": "cmod_a7 (Yosys, no P&R)", "neurons": n, "synapses": n * n,
         "clock_mhz": 100.0, "fmax_mhz": None, "timing_met": None,
         "lut": sum(k * cells.get(c, 0) for c, k in _XC7_LUTS.items()),
         "ff": sum(v for c, v in cells.items() if c in ("FDRE", "FDSE", "FDCE", "FDPE")),
         "bram": cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0),
         "dsp": cells.get("DSP48E1", 0), "cells": cells}
    r.update({f"{k}_avail": v for k, v in ARTIX7_35T.items()})
    r["fits"] = all(r[k] <= v for k, v in ARTIX7_35T.items())
    s, cycles, sps = projected(n, 100e6)
    r.update(spikes=s, cycles=cycles, steps_per_s=sps)
    return r


#: The option sets of ``--largest``.
OPTION_SETS = ((), ("stochastic",), ("eligibility",), ("stochastic", "eligibility"),
               ("triplet",), ("stochastic", "eligibility", "triplet"))


def largest_rows(rows: list[dict], synth: bool = False) -> list[dict]:
    """Per board and option set: the predicted largest N, its predicted memory blocks, and
    the matching build row (same board, options and N) if one exists, else with ``synth``
    Yosys's counts (:func:`synth_counts`)."""
    from plasticore.boards.resources import largest_n, predict
    from plasticore.boards.top import BOARDS
    from plasticore.core import N_MAX, CoreParams

    out = []
    for name in ("icebreaker", "ulx3s"):
        board = BOARDS[name]
        for options in OPTION_SETS:
            n = largest_n(board, options, hi=N_MAX)
            r = {"board": name, "options": options, "largest_n": n}
            if n:
                use = predict(board.family, CoreParams(n, **dict.fromkeys(options, True)))
                r.update(pred_bram=use["bram"], pred_spram=use["spram"])
                built = [b for b in rows if b["board"] == name and b["neurons"] == n
                         and tuple(sorted(b["options"])) == tuple(sorted(options))]
                if built:
                    # the build that met timing at the highest clock (else the fastest)
                    best = max(built, key=lambda b: (bool(b.get("timing_met")),
                                                     b["clock_mhz"]))
                    r["build"] = best
                    if "eligibility" in options:
                        r["steps_per_s_mod"] = modulated(n, best["clock_mhz"] * 1e6)
                elif synth:
                    r["synth"] = synth_counts(board, n, options)
            out.append(r)
    return out


#: Yosys cells -> (device resource, cells per unit) of the synth-only check.
_SYNTH_CELLS = {"ice40": {"lut": ("SB_LUT4",), "bram": ("SB_RAM40_4K",),
                          "spram": ("SB_SPRAM256KA",), "dsp": ("SB_MAC16",)},
                "ecp5": {"lut": ("LUT4",), "bram": ("DP16KD",), "dsp": ("MULT18X18D",)}}


def synth_counts(board, n: int, options) -> dict:
    """Yosys's cell counts of the link top (the board's synthesis, cached: minutes the first
    time) against the board's resources: ``{resource: (used, available)}`` and ``fits``.
    LUT4s are a lower bound of the iCE40's logic cells (flip-flops and carries that do not
    pack with a LUT take cells of their own)."""
    from plasticore.boards.build import _yosys_cells
    from plasticore.boards.netlist import synthesize
    from plasticore.core import CoreParams
    from plasticore.hdl.link import LinkTop

    # One divisor and clock for every board (the counts do not depend on them; the synthesis
    # cache is keyed by the design text).
    top = LinkTop(CoreParams(n, **dict.fromkeys(options, True)), divisor=40,
                  clock_hz=40_000_000)
    folder, _ = synthesize(top, board.family, simulated=False)
    cells = _yosys_cells((folder / "stat.txt").read_text())
    out = {key: (sum(cells.get(c, 0) for c in names), board.resources.get(key.upper(), 0))
           for key, names in _SYNTH_CELLS[board.family].items()}
    out["fits"] = all(used <= avail for used, avail in out.values())
    return out


def largest_table(rows: list[dict]) -> str:
    head = (f"{'board':<11} {'options':<30} {'largest N':>9} {'pred. BRAM':>10} "
            f"{'LUT/LC':>13} {'BRAM':>8} {'SPRAM':>5} {'DSP':>7} {'clock':>6} {'fmax':>6} "
            f"{'met':>4} {'steps/s':>8} {'reward/step':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        opts = "+".join(r["options"]) or "(none)"
        if r["largest_n"] is None:
            lines.append(f"{r['board']:<11} {opts:<30} {'none':>9}   no N fits the block RAM")
            continue
        pred = f"{r['pred_bram']}" + (f"+{r['pred_spram']}S" if r["pred_spram"] else "")
        b = r.get("build")
        if b is None and "synth" in r:
            y = r["synth"]
            use = ", ".join(f"{k} {u:,}/{a:,}" for k, (u, a) in y.items() if k != "fits")
            verdict = "fits" if y["fits"] else "does NOT fit"
            lines.append(f"{r['board']:<11} {opts:<30} {r['largest_n']:>9} {pred:>10}   "
                         f"Yosys: {use}: {verdict} (not built)")
            continue
        if b is None:
            lines.append(f"{r['board']:<11} {opts:<30} {r['largest_n']:>9} {pred:>10}   "
                         "(not built; --synth for Yosys's counts)")
            continue
        met = {True: "yes", False: "NO", None: "-"}[b.get("timing_met")]
        lines.append(
            f"{r['board']:<11} {opts:<30} {r['largest_n']:>9} {pred:>10} "
            f"{_cell(b, 'lut'):>13} {_cell(b, 'bram'):>8} {_cell(b, 'spram'):>5} "
            f"{_cell(b, 'dsp'):>7} {b['clock_mhz']:>6.1f} {b['fmax_mhz']:>6.1f} {met:>4} "
            f"{b['steps_per_s']:>8,.0f} "
            + (f"{r['steps_per_s_mod']:>11,.0f}" if "steps_per_s_mod" in r else f"{'-':>11}"))
    return "\n".join(lines)


def _cell(r, key):
    if key not in r or r[key] is None:
        return "-"
    avail = r.get(key + "_avail")
    return f"{r[key]:,}" + (f"/{avail:,}" if avail else "")


def table(rows):
    head = (f"{'board [options]':<32} {'N':>5} {'synapses':>9} {'LUT':>13} {'FF':>13} {'BRAM':>8} "
            f"{'SPRAM':>5} {'DSP':>7} {'clock':>6} {'fmax':>6} {'met':>4} {'cyc/step':>8} "
            f"{'steps/s':>8} {'@fmax':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r.get("timing_met")]
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        sps = f"{r['steps_per_s']:,.0f}" if r.get("steps_per_s") else "-"
        spf = f"{r['steps_per_s_fmax']:,.0f}" if r.get("steps_per_s_fmax") else "-"
        label = r["board"] + (f" [{'+'.join(r['options'])}]" if r.get("options") else "")
        lines.append(
            f"{label:<32} {r['neurons']:>5} {r['synapses']:>9,} {_cell(r, 'lut'):>13} "
            f"{_cell(r, 'ff'):>13} {_cell(r, 'bram'):>8} {_cell(r, 'spram'):>5} "
            f"{_cell(r, 'dsp'):>7} {r['clock_mhz']:>6.1f} {fmax:>6} {met:>4} "
            f"{r.get('cycles', '-'):>8} {sps:>8} {spf:>8}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="*", type=Path,
                        help="report.json files (default: build/boards/*/report.json)")
    parser.add_argument("--build", nargs="+", default=[], metavar="BOARD:N",
                        help="build these first, one at a time (e.g. ulx3s:512)")
    parser.add_argument("--json", type=Path, help="write the rows to this file")
    parser.add_argument("--largest", action="store_true",
                        help="the largest N per learning option on the iCEBreaker and the "
                             "ULX3S (predicted block RAM use, and the build of that N)")
    parser.add_argument("--synth", action="store_true",
                        help="with --largest: Yosys's counts for the sizes not built (cached "
                             "synthesis, minutes each the first time)")
    parser.add_argument("--xilinx", nargs="+", type=int, default=[], metavar="N",
                        help="Yosys synth_xilinx counts for the Cmod A7 at these N (minutes "
                             "each, cached)")
    args = parser.parse_args(argv)
    paths = list(args.reports)
    for spec in args.build:
        from plasticore.boards.build import build
        board, _, n = spec.partition(":")
        rep = build(board, int(n) if n else None)
        paths.append(Path(rep["build_dir"]) / "report.json")
    if not paths:
        paths = [Path(p) for p in sorted(glob.glob(str(ROOT / "build/boards/*/report.json")))]
    reports = [json.loads(p.read_text()) for p in paths]
    rows = [row(r) for r in reports if r.get("design", "core") == "core"
            and r.get("bitstream")]
    rows.sort(key=lambda r: (r["board"], r["options"], r["neurons"]))
    xilinx = [xilinx_row(n) for n in args.xilinx]
    print(table([*rows, *xilinx, NEUROCOREX]))
    if args.largest:
        print("\nLargest N per learning option (memory blocks predicted by "
              "plasticore.boards.resources; the rest from the build of that N):\n")
        print(largest_table(largest_rows(rows, synth=args.synth)))
    for r in xilinx:
        use = ", ".join(f"{k} {r[k]:,}/{v:,}" for k, v in ARTIX7_35T.items())
        print(f"cmod_a7 N = {r['neurons']}: {'fits' if r['fits'] else 'does NOT fit'} the "
              f"xc7a35t ({use}); timing needs Vivado")
    print(f"\nsteps/s: projected timesteps per second at {ACTIVITY:.0%} activity, learning on "
          "(clock / plasticore.hdl.core.step_cycles); @fmax: at nextpnr's fmax. NeuroCoreX: "
          "measured, 100 MHz.")
    if args.json:
        args.json.write_text(json.dumps([*rows, *xilinx, NEUROCOREX], indent=1))


if __name__ == "__main__":
    main()

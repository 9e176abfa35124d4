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


def row(rep: dict) -> dict:
    res = rep.get("resources", {})
    n = rep["neurons"]
    r = {"board": rep["board"], "neurons": n, "synapses": rep["synapses"],
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


def _cell(r, key):
    if key not in r or r[key] is None:
        return "-"
    avail = r.get(key + "_avail")
    return f"{r[key]:,}" + (f"/{avail:,}" if avail else "")


def table(rows):
    head = (f"{'board':<26} {'N':>5} {'synapses':>9} {'LUT':>13} {'FF':>13} {'BRAM':>8} "
            f"{'SPRAM':>5} {'DSP':>7} {'clock':>6} {'fmax':>6} {'met':>4} {'cyc/step':>8} "
            f"{'steps/s':>8} {'@fmax':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r.get("timing_met")]
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        sps = f"{r['steps_per_s']:,.0f}" if r.get("steps_per_s") else "-"
        spf = f"{r['steps_per_s_fmax']:,.0f}" if r.get("steps_per_s_fmax") else "-"
        lines.append(
            f"{r['board']:<26} {r['neurons']:>5} {r['synapses']:>9,} {_cell(r, 'lut'):>13} "
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
    rows.sort(key=lambda r: (r["board"], r["neurons"]))
    print(table([*rows, NEUROCOREX]))
    print(f"\nsteps/s: projected timesteps per second at {ACTIVITY:.0%} activity, learning on "
          "(clock / plasticore.hdl.core.step_cycles); @fmax: at nextpnr's fmax. NeuroCoreX: "
          "measured, 100 MHz.")
    if args.json:
        args.json.write_text(json.dumps([*rows, NEUROCOREX], indent=1))


if __name__ == "__main__":
    main()

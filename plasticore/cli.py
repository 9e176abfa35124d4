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
    """The main job: 8x8 digits learned on the chip with STDP (plasticore.driver.demo)."""
    if args.small:
        return _cmd_demo_small(args)
    if args.steps is not None:
        raise ValueError("--steps belongs to the small network (--small); the digits demo "
                         "runs 20 steps per image")
    from .compiler.program import check_target
    from .driver import DriverError
    from .driver.demo import format_summary, run_demo

    target = check_target(args.target)
    try:
        summary = run_demo(target=target, epochs=args.epochs, n_train=args.train,
                           n_test=args.test, seed=args.seed, out=args.out,
                           progress=not args.quiet)
    except DriverError as e:
        print(f"plasticore demo: error: {e}", file=sys.stderr)
        return 1
    if not args.json or args.verbose:
        print(format_summary(summary))
    if args.json:
        summary.pop("confusion", None)
        print(json.dumps(summary))
    ok = summary["target"] == "ref" or (summary["weights_match"] and summary["spikes_match"])
    return 0 if ok else 1


def _cmd_demo_small(args):
    import numpy as np

    from .sim import Reference
    from .sim.demo import small_network

    steps = 80 if args.steps is None else args.steps
    cfg, forced, groups = small_network(steps, seed=args.seed)
    ref = Reference(cfg, learning=True)
    w0 = ref.weights.copy()
    t0 = time.perf_counter()
    rec = ref.run(steps, forced=forced, record=("v",))
    wall = time.perf_counter() - t0
    out_idx = groups["output"]
    learned = ref.weights[np.ix_(groups["input"], out_idx)]
    summary = {
        "target": "ref",
        "neurons": cfg.n,
        "steps": steps,
        "spikes": int(rec.spikes.sum()),
        "output_spikes": [int(c) for c in rec.spikes[:, out_idx].sum(0)],
        "weights_changed": int((ref.weights != w0).sum()),
        "wall_s": round(wall, 4),
    }
    if not args.json or args.verbose:
        print(f"plasticore demo: {cfg.n}-neuron network on the reference model, "
              f"{steps} steps, STDP on\n")
        for group, idx in groups.items():
            print(f"{group} neurons:")
            print(_raster(rec.spikes, idx))
        print("\nlearned input->output weights (rows: inputs, columns: outputs):")
        print(np.array2string(learned, max_line_width=120))
        print(f"\n{summary['spikes']} spikes, {summary['weights_changed']} weights changed "
              f"by STDP, {steps / wall:,.0f} steps/s")
    if args.json:
        print(json.dumps(summary))
    return 0


# -- compile and run ---------------------------------------------------------------------------

def _load_network_file(path, args):
    """A :class:`~plasticore.compiler.Network` from a ``.py`` or ``.nir`` file.

    A Python file defines a module-level ``network`` (a Network) or a function ``build()``
    returning one; it is executed as ``__main__``-less module code (``runpy.run_path``) with
    its own folder on ``sys.path``.  A ``.nir`` file is imported with :func:`from_nir` and the
    ``--dt``, ``--stdp``, ``--input``, ``--poisson``, ``--method``, ``--reset``, ``--duration``
    options.
    """
    import os
    import runpy

    import numpy as np

    from . import compiler as C

    if not os.path.isfile(path):
        raise C.CompileError(f"Network file {path!r} does not exist.")
    if path.endswith(".nir"):
        if args.dt is None:
            raise C.CompileError("A .nir network needs --dt (the timestep in seconds): NIR "
                                 "graphs are continuous-time.")
        inputs = {}
        for item in args.input or []:
            name, _, file = item.partition("=")
            if not file:
                raise C.CompileError(f"--input takes NAME=FILE.npy, not {item!r}.")
            try:
                inputs[name] = C.SpikeRaster(np.load(file, allow_pickle=False))
            except (OSError, ValueError) as e:
                raise C.CompileError(f"Cannot read the spike raster {file!r} for input "
                                     f"{name!r}: {e}.") from None
        for item in args.poisson or []:
            name, _, spec = item.partition("=")
            rate, _, seed = spec.partition(":")
            try:
                inputs[name] = C.Poisson(float(rate), int(seed or 0))
            except ValueError:
                raise C.CompileError(f"--poisson takes NAME=RATE_HZ[:SEED], not {item!r}.") \
                    from None
        stdp = {}
        for item in args.stdp or []:
            node, _, spec = item.partition(":")
            try:
                kw = {k.strip(): float(v) for k, v in (p.split("=") for p in spec.split(","))}
                stdp[node] = C.STDP(**kw)
            except (ValueError, TypeError):
                raise C.CompileError(
                    f"--stdp takes NODE:tau_plus=S,tau_minus=S,A_plus=W,A_minus=W,w_min=W,"
                    f"w_max=W (any subset), not {item!r}.") from None
        return C.from_nir(path, args.dt, inputs=inputs, stdp=stdp, method=args.method,
                          reset=args.reset, duration=args.duration, record_v=args.record_v,
                          name=os.path.splitext(os.path.basename(path))[0])
    if not path.endswith(".py"):
        raise C.CompileError(f"Network file {path!r} must be a .py or a .nir file.")
    for opt in ("dt", "duration"):
        if getattr(args, opt) is not None:
            raise C.CompileError(f"--{opt} applies to .nir files; a Python network sets it "
                                 f"in its Network(...).")
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(path, run_name="plasticore_network")
    except ValueError:
        raise
    except Exception as e:
        raise C.CompileError(f"Running network file {path!r} failed: "
                             f"{type(e).__name__}: {e}.") from None
    finally:
        sys.path.remove(folder)
    if isinstance(namespace.get("network"), C.Network):
        return namespace["network"]
    if callable(namespace.get("build")):
        try:
            net = namespace["build"]()
        except ValueError:
            raise
        except Exception as e:
            raise C.CompileError(f"build() of {path!r} failed: {type(e).__name__}: {e}.") \
                from None
        if isinstance(net, C.Network):
            return net
        raise C.CompileError(f"build() of {path!r} returned a {type(net).__name__}, not a "
                             f"plasticore.compiler.Network.")
    raise C.CompileError(f"Network file {path!r} defines neither a module-level `network` "
                         f"(a plasticore.compiler.Network) nor a build() function.")


def _cmd_compile(args):
    from . import compiler as C

    t0 = time.perf_counter()
    net = _load_network_file(args.network, args)
    program = C.compile_network(net, n=args.neurons, strict=args.strict,
                                tolerance=args.tolerance, steps=args.steps)
    try:
        program.save(args.output)
    except OSError as e:
        raise C.CompileError(f"Cannot write program {args.output!r}: {e.strerror}.") from None
    summary = {"program": args.output, **program.summary(),
               "compile_s": round(time.perf_counter() - t0, 4)}
    if not args.json or args.verbose:
        print(f"compiled {net!r} -> {args.output}")
        for name, pop in program.populations.items():
            kind = "input" if pop["input"] else "LIF"
            print(f"  {name:12s} {kind:5s} neurons {pop['start']}..{pop['stop'] - 1}")
        print(program.report.format())
    if args.json:
        print(json.dumps(summary))
    return 0


def _progress_printer(total, every_s=1.0):
    state = {"last": time.perf_counter(), "t0": time.perf_counter()}

    def progress(done, total_=total):
        now = time.perf_counter()
        if now - state["last"] >= every_s or (done == total_ and now - state["t0"] >= every_s):
            state["last"] = now
            rate = done / max(now - state["t0"], 1e-9)
            print(f"plasticore run: step {done}/{total_} ({100 * done / total_:.0f} %, "
                  f"{rate:,.0f} steps/s)", file=sys.stderr, flush=True)
    return progress


def _cmd_run(args):
    from . import compiler as C
    from .compiler.program import check_target

    check_target(args.target)
    program = C.Program.load(args.program)
    steps = args.steps if args.steps is not None else program.input_steps
    if steps < 1:
        raise C.CompileError(f"Program {args.program!r} has no input steps; pass --steps.")
    if steps > program.input_steps:
        print(f"plasticore run: the input ends after {program.input_steps} steps; the "
              f"remaining {steps - program.input_steps} run without input.", file=sys.stderr)
    results = program.run(steps, target=args.target, progress=_progress_printer(steps))
    try:
        results.save(args.output)
    except OSError as e:
        raise C.CompileError(f"Cannot write results {args.output!r}: {e.strerror}.") from None
    summary = {"results": args.output, **results.summary()}
    if not args.json or args.verbose:
        print(f"ran {args.program} on target {args.target}: {steps} steps in "
              f"{results.wall_s:.3f} s -> {args.output}")
        for name, counts in results.spike_counts().items():
            print(f"  {name:12s} {sum(counts):7d} spikes")
    if args.json:
        print(json.dumps(summary))
    return 0


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return value


def _add_compile_run(sub):
    p = sub.add_parser(
        "compile", help="compile a network (.py or .nir) to a program file",
        description="Compile NETWORK to a program (.npz) for `plasticore run`.  A .py file "
                    "defines a module-level `network` (plasticore.compiler.Network) or a "
                    "build() function returning one; a .nir file is imported with --dt and "
                    "the STDP/input options.  Errors write nothing.")
    p.add_argument("network", metavar="NETWORK", help="a .py or .nir file")
    p.add_argument("-o", "--output", required=True, metavar="PROGRAM",
                   help="program file to write (.npz)")
    p.add_argument("--neurons", type=_positive_int, default=256,
                   help="neurons of the target core (default 256)")
    p.add_argument("--strict", action="store_true",
                   help="refuse mappings whose relative errors exceed --tolerance")
    p.add_argument("--tolerance", type=_non_negative_float, default=0.01,
                   help="strict-mode tolerance (default 0.01)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="steps of input to generate (default: the network's duration)")
    g = p.add_argument_group(".nir options")
    g.add_argument("--dt", type=_non_negative_float, default=None, help="timestep, seconds")
    g.add_argument("--duration", type=_non_negative_float, default=None,
                   help="input duration, seconds")
    g.add_argument("--method", choices=("exp", "euler"), default="exp",
                   help="alpha = exp(-dt/tau) (default) or 1 - dt/tau")
    g.add_argument("--reset", choices=("value", "subtract"), default="value")
    g.add_argument("--record-v", action="store_true", help="also record v of output nodes")
    g.add_argument("--stdp", action="append", metavar="NODE:tau_plus=S,...",
                   help="make the projection of Linear/Affine NODE learn (repeatable)")
    g.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="bool (steps, n) raster for Input node NAME (repeatable)")
    g.add_argument("--poisson", action="append", metavar="NAME=RATE[:SEED]",
                   help="Poisson spikes at RATE Hz for Input node NAME (repeatable)")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on the last line")
    p.add_argument("-v", "--verbose", action="store_true", help="with --json: also the report")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser(
        "run", help="run a compiled program and save what it records",
        description="Run PROGRAM on a target and write the recorded spikes, potentials and "
                    "weights to RESULTS (.npz).  Targets: ref (the bit-exact reference), "
                    "virtual (the reference behind the link protocol), sim (the simulated "
                    "board: the real gateware, Verilated) or a board's serial URL.")
    p.add_argument("program", metavar="PROGRAM", help="a program written by `compile`")
    p.add_argument("--target", default="ref",
                   help="ref, virtual, sim or a board URL such as /dev/ttyUSB1 (default ref)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="timesteps (default: the length of the program's input)")
    p.add_argument("-o", "--output", required=True, metavar="RESULTS",
                   help="results file to write (.npz)")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on the last line")
    p.add_argument("-v", "--verbose", action="store_true", help="with --json: also the text")
    p.set_defaults(func=_cmd_run)


def _cmd_sim(args):
    import signal

    from . import core
    from .sim.board import DEFAULT_BAUD, DEFAULT_CLOCK_HZ, BoardError, SimulatedBoard, board_top

    if args.baud is None:
        args.baud = DEFAULT_BAUD
    if args.clock_hz is None:
        args.clock_hz = DEFAULT_CLOCK_HZ
    if not args.clock_hz > 0:
        raise ValueError(f"Clock frequency must be positive, not {args.clock_hz:g} Hz")
    if not core.N_MIN <= args.neurons <= core.N_MAX:
        raise ValueError(f"Number of neurons must be between {core.N_MIN} and {core.N_MAX}, "
                         f"not {args.neurons}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"TCP port must be between 0 and 65535, not {args.port}")
    top, divisor = board_top(args.neurons, clock_hz=args.clock_hz, baud=args.baud)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)   # stop cleanly "on request" too
    board = SimulatedBoard(top, divisor=divisor, name=f"board-n{args.neurons}",
                           port=args.port, pty=args.pty, jobs=args.jobs,
                           sleep=not args.no_sleep)
    try:
        try:
            board.start()
            print(board.url, flush=True)
            print(f"plasticore sim: {type(top).__name__} ({args.neurons} neurons requested), "
                  f"{args.clock_hz / 1e6:g} MHz clock, {args.baud} baud ({divisor} cycles per "
                  f"bit), serving {board.url}; Ctrl-C stops", file=sys.stderr, flush=True)
            while board.process.poll() is None:
                time.sleep(0.2)
            board.check()
        except KeyboardInterrupt:
            if board.url is None:
                print("plasticore sim: interrupted before the board was ready.",
                      file=sys.stderr)
                board.stop()
                return 130
        code = board.stop()
    except BoardError as e:
        board.stop()
        print(f"plasticore sim: error: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    st = board.stats
    if st:
        print(f"plasticore sim: stopped after {st['cycles']:,} cycles in {st['seconds']:.1f} s "
              f"({st['running_cycles_per_s']:,.0f} cycles/s while running), "
              f"{st['bytes_in']} bytes in, {st['bytes_out']} bytes out, "
              f"{st['frame_errors']} framing errors", file=sys.stderr)
    if code != 0:
        print(f"plasticore sim: error: the board exited with code {code}.", file=sys.stderr)
        return 1
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

    p = sub.add_parser(
        "demo", help="the main job: learn the 8x8 digits on the chip with STDP",
        description="Train a 64-input -> 10-output network (written with the compiler) on "
                    "scikit-learn's 8x8 digits (1,203 training / 594 test images) with "
                    "supervised STDP on the chip, through the driver; test it with learning "
                    "off; check that the weights read back equal the reference model's bit "
                    "for bit; write plots to --out.  --small runs the old 16-neuron network "
                    "on the reference instead.")
    p.add_argument("--target", default="sim",
                   help="ref, virtual, sim (default: the simulated board) or a board's "
                        "serial URL")
    p.add_argument("--epochs", type=_positive_int, default=3,
                   help="passes over the training set (default 3)")
    p.add_argument("--train", type=_positive_int, default=None, metavar="N",
                   help="use only the first N training images")
    p.add_argument("--test", type=_positive_int, default=None, metavar="N",
                   help="use only the first N test images")
    p.add_argument("--out", default="out/demo", metavar="DIR",
                   help="folder for the plots, weights and summary (default out/demo)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the pixel phases and the training order (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--small", action="store_true",
                   help="run the small 16-neuron learning network on the reference instead")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="with --small: timesteps to run (default 80)")
    p.add_argument("--json", action="store_true",
                   help="print a machine-readable summary on the last line")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="with --json: also the text report")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "sim", help="run the simulated board (the generated gateware, Verilated) behind a "
                    "loopback TCP socket or a PTY",
        description="Build the board-level top with Verilator (once; cached), run it, and "
                    "serve its UART pins on a TCP socket on 127.0.0.1 or on a PTY. Prints the "
                    "URL for serial.serial_for_url() on stdout; notes go to stderr. Ctrl-C or "
                    "SIGTERM stops it.")
    p.add_argument("--neurons", type=_positive_int, default=256,
                   help="neurons of the core (default 256)")
    link = p.add_mutually_exclusive_group()
    link.add_argument("--port", type=int, default=0,
                      help="TCP port on 127.0.0.1 (default 0: any free port)")
    link.add_argument("--pty", action="store_true", help="serve a PTY instead of a socket")
    # Defaults (None) come from plasticore.sim.board, imported only when `sim` runs.
    p.add_argument("--baud", type=_positive_int, default=None,
                   help="UART bit rate (default 1000000)")
    p.add_argument("--clock-hz", type=float, default=None,
                   help="design clock frequency in Hz (default 12e6, the iCEBreaker's)")
    p.add_argument("--no-sleep", action="store_true",
                   help="keep simulating while the link is idle (burns a CPU core)")
    p.add_argument("-j", "--jobs", type=_positive_int, default=1,
                   help="parallel compile jobs for the first build (default 1)")
    p.set_defaults(func=_cmd_sim)

    _add_compile_run(sub)
    from .boards.cli import add_board_commands  # build, program
    add_board_commands(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:
        print(f"plasticore {args.command}: error: {e}", file=sys.stderr)
        return 2

"""The ``plasticore compile`` command (a network file to a program file, with the report)
and ``plasticore export`` (a program, optionally with learned weights, to a NIR file).

Kept beside the compiler so that :mod:`plasticore.cli` only registers it; nothing heavy is
imported until the command runs.  The work is library API: :func:`~.loader.load_network`
(with :class:`~.loader.NirOptions` built from the ``.nir`` options) and
:func:`~.lower.compile_network`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import TYPE_CHECKING, Any

from plasticore.argtypes import add_json_options, non_negative_float, positive_int

if TYPE_CHECKING:
    import numpy as np

    from .loader import NirOptions
    from .network import STDP, Network, Poisson, SpikeRaster, SpikeTimes
    from .program import Program

__all__ = ["add_compiler_commands", "nir_options"]


def add_compiler_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``compile`` and ``export`` on ``subparsers``."""
    p = subparsers.add_parser(
        "compile", help="compile a network (.py or .nir) to a program file",
        description="Compile NETWORK to a program (.npz) for `plasticore run`.  A .py file "
                    "defines a module-level `network` (plasticore.compiler.Network) or a "
                    "build() function returning one; a .nir file is imported with --dt and "
                    "the STDP/input options.  Errors write nothing.")
    p.add_argument("network", metavar="NETWORK", help="a .py or .nir file")
    p.add_argument("-o", "--output", required=True, metavar="PROGRAM",
                   help="program file to write (.npz)")
    p.add_argument("--neurons", type=positive_int, default=256,
                   help="neurons of the target core (default 256)")
    p.add_argument("--strict", action="store_true",
                   help="refuse mappings whose relative errors exceed --tolerance")
    p.add_argument("--tolerance", type=non_negative_float, default=0.01,
                   help="strict-mode tolerance (default 0.01)")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="steps of input to generate (default: the network's duration)")
    g = p.add_argument_group(".nir options")
    g.add_argument("--dt", type=non_negative_float, default=None, help="timestep, seconds")
    g.add_argument("--duration", type=non_negative_float, default=None,
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
    add_json_options(p, "with --json: also the report")
    p.set_defaults(func=_cmd_compile)
    _add_export(subparsers)


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a program (or learned weights) as a NIR graph",
        description="Write PROGRAM's realised network as a NIR graph (see docs/compiler.md, "
                    "NIR export).  --weights takes a results file (plasticore run -o) or an "
                    "int (n, n) .npy weight matrix, row = pre.  Errors write nothing.")
    p.add_argument("program", metavar="PROGRAM", help="a program file (.npz)")
    p.add_argument("--nir", required=True, metavar="OUT.nir", help="NIR file to write")
    p.add_argument("--weights", default=None, metavar="RESULTS_OR_NPY",
                   help="learned weights: a results .npz or an int (n, n) .npy")
    p.add_argument("--method", choices=("exp", "euler"), default="exp",
                   help="the discretisation the graph will be imported with (default exp)")
    p.set_defaults(func=_cmd_export)


def nir_options(args: argparse.Namespace) -> NirOptions:
    """The :class:`~plasticore.compiler.NirOptions` of ``compile``'s ``.nir`` options
    (``--input NAME=FILE.npy`` reads the raster file); :class:`CompileError` for a malformed
    one."""
    from .loader import NirOptions

    inputs: dict[str, SpikeRaster | SpikeTimes | Poisson] = {}
    source: SpikeRaster | Poisson
    for item in args.input or []:
        name, source = _input_raster(item)
        inputs[name] = source
    for item in args.poisson or []:
        name, source = _poisson(item)
        inputs[name] = source
    stdp = dict(_stdp(item) for item in args.stdp or [])
    return NirOptions(dt=args.dt, inputs=inputs, stdp=stdp, method=args.method,
                      reset=args.reset, duration=args.duration, record_v=args.record_v)


def _input_raster(item: str) -> tuple[str, SpikeRaster]:
    import numpy as np

    from .network import CompileError, SpikeRaster

    name, _, file = item.partition("=")
    if not file:
        raise CompileError(f"--input takes NAME=FILE.npy, not {item!r}.")
    try:
        return name, SpikeRaster(np.load(file, allow_pickle=False))
    except (OSError, ValueError) as e:
        raise CompileError(f"Cannot read the spike raster {file!r} for input "
                           f"{name!r}: {e}.") from None


def _poisson(item: str) -> tuple[str, Poisson]:
    from .network import CompileError, Poisson

    name, _, spec = item.partition("=")
    rate, _, seed = spec.partition(":")
    try:
        return name, Poisson(float(rate), int(seed or 0))
    except ValueError:
        raise CompileError(f"--poisson takes NAME=RATE_HZ[:SEED], not {item!r}.") from None


def _stdp(item: str) -> tuple[str, STDP]:
    from .network import STDP, CompileError

    node, _, spec = item.partition(":")
    try:
        kw: dict[str, Any] = {k.strip(): v.strip() if k.strip() == "rounding" else float(v)
                              for k, v in (p.split("=") for p in spec.split(","))}
        return node, STDP(**kw)
    except (ValueError, TypeError):
        raise CompileError(
            f"--stdp takes NODE:tau_plus=S,tau_minus=S,A_plus=W,A_minus=W,w_min=W,"
            f"w_max=W (any subset), not {item!r}.") from None


def _load(args: argparse.Namespace) -> Network:
    """load_network, with the option errors in the command line's words."""
    from .loader import load_network
    from .network import CompileError

    path = args.network
    if not os.path.isfile(path):
        return load_network(path)                        # the missing-file error
    if path.endswith(".nir"):
        if args.dt is None:
            raise CompileError("A .nir network needs --dt (the timestep in seconds): NIR "
                               "graphs are continuous-time.")
        return load_network(path, nir_options(args))
    for opt in ("dt", "duration"):
        if getattr(args, opt) is not None and path.endswith(".py"):
            raise CompileError(f"--{opt} applies to .nir files; a Python network sets it in "
                               f"its Network(...).")
    return load_network(path)


def _cmd_compile(args: argparse.Namespace) -> int:
    from .lower import compile_network
    from .network import CompileError

    t0 = time.perf_counter()
    net = _load(args)
    program = compile_network(net, n=args.neurons, strict=args.strict,
                              tolerance=args.tolerance, steps=args.steps)
    try:
        program.save(args.output)
    except OSError as e:
        raise CompileError(f"Cannot write program {args.output!r}: {e.strerror}.") from None
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


def _export_weights(path: str, program: Program) -> np.ndarray:
    """The (n, n) weight words of ``--weights``: an ``.npy`` matrix, or the final weights
    of a results file placed into the program's own."""
    import numpy as np

    from .network import CompileError

    if not os.path.isfile(path):
        raise CompileError(f"Weights file {path!r} does not exist.")
    if path.endswith(".npy"):
        try:
            return np.asarray(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as e:
            raise CompileError(f"Cannot read the weight matrix {path!r}: {e}.") from None
    from plasticore.driver.runtime import Results

    res = Results.load(path)
    w = np.array(program.config.weights, np.int64)
    for name, raw in res.weights_raw.items():
        if name not in program.projections:
            raise CompileError(f"Results {path!r} hold weights of projection {name!r}, which "
                               f"program {program.name!r} does not have.")
        pr = program.projections[name]
        rows = program.population_indices(pr["pre"])
        cols = program.population_indices(pr["post"])
        if np.shape(raw) != (rows.size, cols.size):
            raise CompileError(f"Results {path!r}: the weights of {name!r} have shape "
                               f"{np.shape(raw)}, not ({rows.size}, {cols.size}).")
        block = w[np.ix_(rows, cols)]
        w[np.ix_(rows, cols)] = np.where(pr["mask"], raw, block)
    return w


def _cmd_export(args: argparse.Namespace) -> int:
    import tempfile

    import nir

    from .network import CompileError
    from .nir_export import to_nir
    from .program import Program

    if not os.path.isfile(args.program):
        raise CompileError(f"Program file {args.program!r} does not exist.")
    program = Program.load(args.program)
    weights = _export_weights(args.weights, program) if args.weights else None
    graph = to_nir(program, weights, method=args.method)
    folder = os.path.dirname(os.path.abspath(args.nir))
    try:
        fd, tmp = tempfile.mkstemp(suffix=".nir", dir=folder)
        os.close(fd)
        try:
            nir.write(tmp, graph)
            os.replace(tmp, args.nir)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as e:
        raise CompileError(f"Cannot write NIR file {args.nir!r}: {e.strerror}.") from None
    print(f"exported {program.name!r} -> {args.nir} ({len(graph.nodes)} nodes, "
          f"{len(graph.edges)} edges)")
    return 0

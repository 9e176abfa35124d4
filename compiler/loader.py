"""Network files: a :class:`~plasticore.compiler.Network` from a ``.py`` or a ``.nir`` file.

A Python network file defines a module-level ``network`` (a :class:`Network`) or a function
``build()`` returning one.  It is run with :func:`runpy.run_path` (as a module named
``plasticore_network``, not ``__main__``) with its own folder on ``sys.path``, so it can
import its neighbours.  A ``.nir`` file is imported with
:func:`~plasticore.compiler.from_nir` and the :class:`NirOptions`; NIR graphs are
continuous-time, so ``dt`` is required for them.

``plasticore compile NETWORK`` is :func:`load_network` followed by
:func:`~plasticore.compiler.compile_network`.
"""

from __future__ import annotations

import dataclasses
import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .network import STDP, CompileError, Network, Poisson, SpikeRaster, SpikeTimes

__all__ = ["NirOptions", "load_network"]


@dataclass
class NirOptions:
    """How a ``.nir`` graph becomes a network (the arguments of
    :func:`~plasticore.compiler.from_nir` other than the graph).

    dt
        The timestep in seconds; required.
    inputs
        ``{input node: spike source}`` (:class:`SpikeRaster`, :class:`SpikeTimes`,
        :class:`Poisson`); inputs without one stay silent.
    stdp
        ``{Linear/Affine node: STDP}``: the projections that learn, amplitudes and bounds in
        that node's weight unit.
    method
        ``"exp"``: ``alpha = exp(-dt/tau)``; ``"euler"``: ``alpha = 1 - dt/tau``.
    reset
        ``"value"``, ``"subtract"`` or ``"deferred"`` (snnTorch's subtract reset).
    strict_threshold
        Fire on ``v > v_threshold`` (NIR, snnTorch, Norse) instead of ``>=``.
    synaptic_jump
        ``CubaLIF`` current jumps by ``w_in W s`` (Norse's ``LIFCell``).
    refractory
        Refractory time of every neuron, seconds.
    duration
        Input duration in seconds (default: the longest input).
    record_v
        Also record the potential of the output nodes.
    """

    dt: float | None = None
    inputs: dict[str, SpikeRaster | SpikeTimes | Poisson] = field(default_factory=dict)
    stdp: dict[str, STDP] = field(default_factory=dict)
    method: str = "exp"
    reset: str = "value"
    refractory: float = 0.0
    duration: float | None = None
    record_v: bool = False
    strict_threshold: bool = False
    synaptic_jump: bool = False

    def given(self) -> list[str]:
        """The names of the options that differ from their defaults."""
        default = NirOptions()
        return [f.name for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)]


def load_network(path: str | os.PathLike, options: NirOptions | None = None,
                 **nir_options: Any) -> Network:
    """The network described by the file at ``path``: a ``.py`` network file or a ``.nir``
    graph imported with ``options`` (a :class:`NirOptions`) or the same fields as keywords
    (``load_network("g.nir", dt=1e-3, method="euler")``).

    Raises :class:`CompileError` with a message naming the file for a missing file, another
    extension (a compiled ``.npz`` program included), a ``.py`` file that fails or defines
    no network, a ``.nir`` file without ``dt``, and NIR options given for a ``.py`` file.
    Errors of the description itself (``ValueError`` subclasses such as
    :class:`CompileError`) propagate unchanged.
    """
    if options is not None and nir_options:
        raise TypeError("load_network() takes NirOptions or keyword options, not both")
    try:
        options = options if options is not None else NirOptions(**nir_options)
    except TypeError as e:
        raise TypeError(f"load_network(): {e}; the options are the fields of NirOptions") \
            from None
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CompileError(f"Network file {path!r} does not exist.")
    if path.endswith(".nir"):
        return _load_nir(path, options)
    if path.endswith(".npz"):
        raise CompileError(f"{path!r} is a compiled program or a results file (.npz), not a "
                           f"network: pass the .py or .nir file it came from (a program is run "
                           f"with `plasticore run` or plasticore.driver.runtime.run_program).")
    if not path.endswith(".py"):
        raise CompileError(f"Network file {path!r} must be a .py or a .nir file.")
    given = options.given()
    if given:
        raise CompileError(f"Option {given[0]!r} applies to .nir files; a Python network sets "
                           f"it in its Network(...).")
    return _load_python(path)


def _load_nir(path: str, options: NirOptions) -> Network:
    from .nir_import import from_nir

    if options.dt is None:
        raise CompileError(f"The .nir network {path!r} needs dt (the timestep in seconds): NIR "
                           f"graphs are continuous-time.")
    return from_nir(path, options.dt, inputs=options.inputs, stdp=options.stdp,
                    method=options.method, reset=options.reset,
                    refractory=options.refractory, duration=options.duration,
                    record_v=options.record_v, strict_threshold=options.strict_threshold,
                    synaptic_jump=options.synaptic_jump,
                    name=os.path.splitext(os.path.basename(path))[0])


def _load_python(path: str) -> Network:
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    try:
        namespace = runpy.run_path(path, run_name="plasticore_network")
    except ValueError:
        raise
    except Exception as e:
        raise CompileError(f"Running network file {path!r} failed: "
                           f"{type(e).__name__}: {e}.") from None
    finally:
        sys.path.remove(folder)
    if isinstance(namespace.get("network"), Network):
        return namespace["network"]
    if callable(namespace.get("build")):
        return _call_build(path, namespace["build"])
    raise CompileError(f"Network file {path!r} defines neither a module-level `network` "
                       f"(a plasticore.compiler.Network) nor a build() function.")


def _call_build(path: str, build: Callable[[], object]) -> Network:
    try:
        net = build()
    except ValueError:
        raise
    except Exception as e:
        raise CompileError(f"build() of {path!r} failed: {type(e).__name__}: {e}.") \
            from None
    if isinstance(net, Network):
        return net
    raise CompileError(f"build() of {path!r} returned a {type(net).__name__}, not a "
                       f"plasticore.compiler.Network.")

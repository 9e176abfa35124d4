"""Compiler: lowers network descriptions to :class:`plasticore.core.CoreConfig` images.

* :mod:`.network` -- the description: :class:`Network`, :class:`LIF` populations, inputs
  (:class:`SpikeTimes`, :class:`SpikeRaster`, :class:`Poisson`), projections (connectors
  :class:`AllToAll`, :class:`OneToOne`, :class:`FixedProbability`, :class:`Dense`,
  :class:`Sparse`) and :class:`STDP` rules, in SI units;
* :mod:`.loader` -- :func:`load_network`: a description from a ``.py`` or ``.nir`` file
  (:class:`NirOptions`);
* :mod:`.lower` -- :func:`compile_network`: allocation, scaling and quantisation;
* :mod:`.report` -- the :class:`QuantizationReport` it writes;
* :mod:`.program` -- :class:`Program`, the compiled image, and its ``.npz`` file format;
* :mod:`.floatsim` -- :func:`simulate`, the float64 simulation of a description;
* :mod:`.nir_import` -- :func:`from_nir`, NIR graphs to descriptions;
* :mod:`.nir_export` -- :func:`to_nir`, programs (and learned weights) to NIR graphs;
* :mod:`.cli` -- the ``plasticore compile`` and ``plasticore export`` commands.

The compiler only compiles: running a program on a target and decoding what it records is
:mod:`plasticore.driver.runtime` (:meth:`Program.run` is a shortcut to it).  Names are
imported on first use, so that importing the package (for the command line) is cheap.

``docs/compiler.md`` states the model, the quantisation rule and the file format.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .floatsim import FloatResults, simulate
    from .loader import NirOptions, load_network
    from .lower import compile_network
    from .network import (
        LIF,
        STDP,
        AllToAll,
        CompileError,
        Dense,
        FixedProbability,
        InputPopulation,
        Network,
        OneToOne,
        Poisson,
        Population,
        Projection,
        Sparse,
        SpikeRaster,
        SpikeTimes,
        ThreeFactor,
        TripletSTDP,
    )
    from .nir_export import to_nir
    from .nir_import import from_nir
    from .program import FORMAT_VERSION, Program
    from .report import QuantizationReport

    compile = compile_network  # noqa: A001

#: Where each public name lives.
_HOME = {
    **dict.fromkeys(["LIF", "STDP", "AllToAll", "CompileError", "Dense", "FixedProbability",
                     "InputPopulation", "Network", "OneToOne", "Poisson", "Population",
                     "Projection", "Sparse", "SpikeRaster", "SpikeTimes", "TripletSTDP",
                     "ThreeFactor"], "network"),
    "FloatResults": "floatsim", "simulate": "floatsim",
    "NirOptions": "loader", "load_network": "loader",
    "compile_network": "lower", "compile": "lower",
    "QuantizationReport": "report",
    "FORMAT_VERSION": "program", "Program": "program",
    "from_nir": "nir_import",
    "to_nir": "nir_export",
}
#: Names that moved to the runtime (plasticore.driver.runtime); kept as deprecated aliases.
_MOVED = {"Results", "run_program"}

__all__ = [
    "LIF", "STDP", "AllToAll", "CompileError", "Dense", "FixedProbability", "FloatResults",
    "InputPopulation", "Network", "NirOptions", "OneToOne", "Poisson", "Population",
    "Projection", "QuantizationReport", "Sparse", "SpikeRaster", "SpikeTimes",
    "FORMAT_VERSION", "Program", "compile", "compile_network", "from_nir", "load_network",
    "simulate", "to_nir", "TripletSTDP", "ThreeFactor",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        module = importlib.import_module(f".{_HOME[name]}", __name__)
        # ``compile``: the short alias of compile_network.
        value = getattr(module, "compile_network" if name == "compile" else name)
        globals()[name] = value
        return value
    if name in _MOVED:
        warnings.warn(f"plasticore.compiler.{name} moved to plasticore.driver.runtime."
                      f"{name}; the alias will be removed", DeprecationWarning, stacklevel=2)
        from plasticore.driver import runtime
        return getattr(runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

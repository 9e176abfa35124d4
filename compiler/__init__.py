"""Compiler: lowers network descriptions to :class:`plasticore.core.CoreConfig` images.

* :mod:`.network` -- the description: :class:`Network`, :class:`LIF` populations, inputs
  (:class:`SpikeTimes`, :class:`SpikeRaster`, :class:`Poisson`), projections (connectors
  :class:`AllToAll`, :class:`OneToOne`, :class:`FixedProbability`, :class:`Dense`,
  :class:`Sparse`) and :class:`STDP` rules, in SI units;
* :mod:`.lower` -- :func:`compile_network`: allocation, scaling and quantisation, with a
  :class:`QuantizationReport`;
* :mod:`.program` -- :class:`Program` (the compiled image, its ``.npz`` file format) and
  :func:`run_program`;
* :mod:`.floatsim` -- :func:`simulate`, the float64 simulation of a description;
* :mod:`.nir_import` -- :func:`from_nir`, NIR graphs to descriptions.

``docs/compiler.md`` states the model, the quantisation rule and the file format.
"""

from .floatsim import FloatResults, simulate
from .lower import QuantizationReport, compile_network
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
)
from .nir_import import from_nir
from .program import FORMAT_VERSION, Program, Results, run_program

#: Short alias: ``plasticore.compiler.compile(network)``.
compile = compile_network  # noqa: A001

__all__ = [
    "LIF", "STDP", "AllToAll", "CompileError", "Dense", "FixedProbability", "FloatResults",
    "InputPopulation", "Network", "OneToOne", "Poisson", "Population", "Projection",
    "QuantizationReport", "Sparse", "SpikeRaster", "SpikeTimes", "FORMAT_VERSION", "Program",
    "Results", "compile", "compile_network", "from_nir", "run_program", "simulate",
]

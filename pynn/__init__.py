"""A PyNN 0.13 backend that runs on a plasticore core: ``import plasticore.pynn as sim``.

::

    sim.setup(timestep=0.1, target="ref")       # or "virtual", "sim", a serial URL/port
    inp = sim.Population(10, sim.SpikeSourcePoisson(rate=50.0))
    out = sim.Population(20, sim.IF_curr_exp(tau_syn_E=5.0, tau_syn_I=5.0))
    sim.Projection(inp, out, sim.FixedProbabilityConnector(0.5), sim.StaticSynapse(weight=1.0))
    out.record(["spikes", "v"])
    sim.run(1000.0)
    block = out.get_data()                      # a neo Block

What maps onto the core, and how, is in :mod:`plasticore.pynn.standardmodels` and
``docs/pynn.md``; everything else is refused with a message naming the parameter.  Needs the
``pynn`` extra (PyNN and neo).
"""

from pyNN import common as _common  # noqa: E402
from pyNN import errors, random, space  # noqa: F401
from pyNN.connectors import (  # noqa: F401
    AllToAllConnector,
    FixedProbabilityConnector,
    FromListConnector,
    OneToOneConnector,
)
from pyNN.network import Network  # noqa: F401
from pyNN.random import NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.space import Space  # noqa: F401
from pyNN.standardmodels import StandardCellType

from . import simulator  # noqa: E402
from .control import (  # noqa: F401
    end,
    get_current_time,
    get_max_delay,
    get_min_delay,
    get_time_step,
    initialize,
    num_processes,
    rank,
    reset,
    run,
    run_for,
    run_until,
    setup,
)
from .populations import Assembly, Population, PopulationView  # noqa: F401
from .projections import Projection  # noqa: F401
from .standardmodels import *  # noqa: F403

create = _common.build_create(Population)
connect = _common.build_connect(Projection, FixedProbabilityConnector, StaticSynapse)  # noqa: F405
record = _common.build_record(simulator)


def list_standard_models() -> list[str]:
    """The standard cell types this backend runs (the refused ones are not listed)."""
    return [k for k, v in globals().items() if isinstance(v, type)
            and issubclass(v, StandardCellType)]

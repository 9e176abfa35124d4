"""Projections of the plasticore PyNN backend: PyNN's connectors fill a list of connections
(as in PyNN's mock backend), which the engine turns into one weight matrix per projection."""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np
from pyNN import common
from pyNN.core import ezip
from pyNN.space import Space

from . import simulator
from .standardmodels import StaticSynapse


class Connection(common.Connection):
    """One connection: pre and post indices and its attributes (weight, delay)."""

    def __init__(self, pre: int, post: int, **attributes: Any) -> None:
        self.presynaptic_index = pre
        self.postsynaptic_index = post
        for name, value in attributes.items():
            setattr(self, name, value)

    def as_tuple(self, *attribute_names: str) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in attribute_names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population: Any, postsynaptic_population: Any,
                 connector: Any, synapse_type: Any = None, source: Any = None,
                 receptor_type: Any = None, space: Space | None = None, label: Any = None
                 ) -> None:
        simulator.state.changed("creating a Projection")
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population,
                                   connector, synapse_type, source, receptor_type,
                                   Space() if space is None else space, label)
        if self.receptor_type not in ("excitatory", "inhibitory"):
            raise NotImplementedError(f"plasticore.pynn: receptor_type must be 'excitatory' "
                                      f"or 'inhibitory', not {self.receptor_type!r}.")
        self.connections: list[Connection] = []
        connector.connect(self)
        simulator.state.projections.append(self)

    def __len__(self) -> int:
        return len(self.connections)

    def set(self, **attributes: Any) -> None:
        raise NotImplementedError("plasticore.pynn: Projection.set() is not supported; give "
                                  "the weights to the connector or the synapse type.")

    def _convergent_connect(self, presynaptic_indices: Any, postsynaptic_index: int,
                            location_selector: Any = None, **connection_parameters: Any
                            ) -> None:
        if location_selector is not None:
            raise NotImplementedError("plasticore.pynn: multicompartment models are not "
                                      "supported.")
        for name, value in connection_parameters.items():
            if isinstance(value, float):
                connection_parameters[name] = repeat(value)
        for pre_idx, other in ezip(presynaptic_indices, *connection_parameters.values()):
            attributes = dict(zip(connection_parameters.keys(), other, strict=True))
            self.connections.append(Connection(int(pre_idx), int(postsynaptic_index),
                                               **attributes))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, weight, delay)`` of every connection as arrays."""
        c = self.connections
        pre = np.array([x.presynaptic_index for x in c], np.int64)
        post = np.array([x.postsynaptic_index for x in c], np.int64)
        w = np.array([x.weight for x in c], np.float64)
        d = np.array([x.delay for x in c], np.float64)
        return pre, post, w, d

"""Populations, views and assemblies of the plasticore PyNN backend (PyNN's own base classes;
parameters kept as plain arrays, as PyNN's mock backend keeps them)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .recording import Recorder


class Assembly(common.Assembly):
    _simulator = simulator


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _get_parameters(self, *names: str) -> ParameterSpace:
        parameter_dict = {}
        for name in names:
            value = self.parent._parameters[name]
            if isinstance(value, np.ndarray):
                value = value[self.mask]
            parameter_dict[name] = simplify(value)
        return ParameterSpace(parameter_dict, shape=(self.size,))

    def _set_parameters(self, parameter_space: ParameterSpace) -> None:
        self.parent._changing_parameters()
        for name, value in parameter_space.items():
            try:
                self.parent._parameters[name][self.mask] = value.evaluate(simplify=True)
            except ValueError:
                raise errors.InvalidParameterValueError(
                    f"{name} should not be of type {type(value)}") from None

    def _set_initial_value_array(self, variable: str, initial_values: Any) -> None:
        self.parent._set_initial_value_array(variable, initial_values, self.mask)

    def _get_view(self, selector: Any, label: str | None = None) -> PopulationView:
        return PopulationView(self, selector, label)


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _create_cells(self) -> None:
        state = simulator.state
        state.changed("creating a Population")
        ids = np.arange(state.id_counter, state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, bool)
        if isinstance(self.celltype, StandardCellType):
            space = self.celltype.native_parameters
        else:
            raise NotImplementedError(
                f"plasticore.pynn: only its standard cell types run on the core, not "
                f"{type(self.celltype).__name__}.")
        space.shape = (self.size,)
        space.evaluate(simplify=False)
        self._parameters = space.as_dict()
        self._initial: dict[str, np.ndarray] = {}
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        state.populations.append(self)
        self._clear_recorded()

    # -- what the engine records ------------------------------------------------------------

    def _clear_recorded(self) -> None:
        self._spike_steps: list[np.ndarray] = []       # (k, 2) arrays: step, index
        self._v: list[np.ndarray] = []                 # (steps, size) mV after each step

    @property
    def is_source(self) -> bool:
        return not self.celltype.injectable

    def _changing_parameters(self) -> None:
        if not self.is_source:               # sources are generated per run by the host
            simulator.state.changed(f"setting parameters of {self.label!r}")

    # -- PyNN's hooks -------------------------------------------------------------------------

    def _set_initial_value_array(self, variable: str, initial_values: Any,
                                 mask: Any = None) -> None:
        simulator.state.changed(f"initialising {variable!r} of {self.label!r}")
        values = initial_values
        if hasattr(values, "evaluate"):
            values = values.evaluate(simplify=False)
        full = self._initial.setdefault(variable, np.full(self.size, np.nan))
        full[slice(None) if mask is None else mask] = values

    def _get_view(self, selector: Any, label: str | None = None) -> PopulationView:
        return PopulationView(self, selector, label)

    def _get_parameters(self, *names: str) -> ParameterSpace:
        return ParameterSpace({name: simplify(self._parameters[name]) for name in names},
                              shape=(self.size,))

    def _set_parameters(self, parameter_space: ParameterSpace) -> None:
        self._changing_parameters()
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._parameters[name] = value

    def param(self, name: str) -> np.ndarray:
        """Native parameter ``name`` as a float array of ``size`` entries."""
        return np.broadcast_to(np.asarray(self._parameters[name], np.float64),
                               (self.size,)).copy()

    def _v0(self) -> np.ndarray:
        """The potential at t = 0 as the core realised it (written at the first run)."""
        return self._v0_real

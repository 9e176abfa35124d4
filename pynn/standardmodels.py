"""The PyNN standard models that one plasticore core realises, and clear refusals of the rest.

Cells (PyNN units: mV, ms, nA, nF):

* ``IF_curr_exp``: current-based LIF with exponential synaptic current; the core has one
  current per neuron, so ``tau_syn_E`` must equal ``tau_syn_I``.  A weight ``w`` (nA) is a
  jump of the synaptic current; the core's current is in mV per step, ``w * dt / cm``
  (forward Euler of ``cm dv/dt = I``); ``i_offset`` is a bias of ``i_offset / cm`` mV/ms.
* ``IF_curr_delta``: a weight ``w`` (mV) is a jump of ``v`` one step after the spike
  (``tau_syn = 0`` on the core).
* ``SpikeSourceArray``, ``SpikeSourcePoisson``: generated on the host, forced on the core.

Synapses: ``StaticSynapse``; ``STDPMechanism`` with ``SpikePairRule`` and
``AdditiveWeightDependence`` (PyNN's additive rule: ``dw = w_max * A * trace``).

Everything else (conductance-based and alpha-shaped cells, Izhikevich, HH, other STDP
dependences, short-term plasticity, current sources) raises ``NotImplementedError`` naming
what the core lacks.
"""

from __future__ import annotations

from typing import Any

from pyNN.standardmodels import build_translations, cells, synapses

from .simulator import state

__all__ = ["IF_curr_exp", "IF_curr_delta", "SpikeSourceArray", "SpikeSourcePoisson",
           "StaticSynapse", "STDPMechanism", "SpikePairRule", "AdditiveWeightDependence",
           "IF_cond_exp", "IF_cond_alpha", "IF_curr_alpha", "Izhikevich", "HH_cond_exp",
           "EIF_cond_exp_isfa_ista", "EIF_cond_alpha_isfa_ista",
           "MultiplicativeWeightDependence", "TsodyksMarkramSynapse", "DCSource",
           "StepCurrentSource", "ACSource", "NoisyCurrentSource"]


def _same(*names: str) -> Any:
    return build_translations(*[(n, n) for n in names])


class IF_curr_exp(cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = _same("tau_m", "cm", "v_rest", "v_thresh", "v_reset", "tau_refrac",
                         "i_offset", "tau_syn_E", "tau_syn_I")


class IF_curr_delta(cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__
    translations = _same("tau_m", "cm", "v_rest", "v_thresh", "v_reset", "tau_refrac",
                         "i_offset")


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = _same("rate", "start", "duration")


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = _same("spike_times")


class _OneStepDelay:
    def _get_minimum_delay(self) -> float:
        d = state.min_delay
        return state.dt if d == "auto" else float(d)


class StaticSynapse(_OneStepDelay, synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = _same("weight", "delay")


class STDPMechanism(_OneStepDelay, synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__
    base_translations = _same("weight", "delay", "dendritic_delay_fraction")

    def __init__(self, timing_dependence: Any = None, weight_dependence: Any = None,
                 voltage_dependence: Any = None, dendritic_delay_fraction: float = 1.0,
                 weight: float = 0.0, delay: float | None = None) -> None:
        if not isinstance(timing_dependence, SpikePairRule):
            raise NotImplementedError(
                f"plasticore.pynn: STDPMechanism needs timing_dependence=SpikePairRule(...) "
                f"(the core's pair rule), not {type(timing_dependence).__name__}.")
        if not isinstance(weight_dependence, AdditiveWeightDependence):
            raise NotImplementedError(
                f"plasticore.pynn: STDPMechanism needs weight_dependence="
                f"AdditiveWeightDependence(...) (the core's additive rule), not "
                f"{type(weight_dependence).__name__}.")
        if voltage_dependence is not None:
            raise NotImplementedError("plasticore.pynn: voltage_dependence is not supported.")
        if dendritic_delay_fraction != 1.0:
            raise NotImplementedError(
                f"plasticore.pynn: dendritic_delay_fraction must be 1.0, not "
                f"{dendritic_delay_fraction}.")
        super().__init__(timing_dependence, weight_dependence, voltage_dependence,
                         dendritic_delay_fraction, weight, delay)


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = _same("tau_plus", "tau_minus", "A_plus", "A_minus")


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = _same("w_min", "w_max")


def _refused(name: str, why: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"plasticore.pynn: {name} cannot run on the core: {why}")
    return type(name, (), {"__init__": __init__, "__doc__": f"Refused: {why}"})


_CURR = "use IF_curr_exp (exponential current) or IF_curr_delta."
IF_cond_exp = _refused("IF_cond_exp", "the core is current-based (no e_rev_E, e_rev_I "
                       "conductances); " + _CURR)
IF_cond_alpha = _refused("IF_cond_alpha", "the core is current-based (no e_rev_E, e_rev_I "
                         "conductances); " + _CURR)
IF_curr_alpha = _refused("IF_curr_alpha", "the core's synaptic current is a single "
                         "exponential (tau_syn), not an alpha function; " + _CURR)
Izhikevich = _refused("Izhikevich", "the core's neuron is a LIF (no a, b, c, d recovery); "
                      + _CURR)
HH_cond_exp = _refused("HH_cond_exp", "the core's neuron is a LIF (no gbar_Na, gbar_K "
                       "channels); " + _CURR)
EIF_cond_exp_isfa_ista = _refused("EIF_cond_exp_isfa_ista", "the core's neuron is a LIF (no "
                                  "delta_T exponential term, no adaptation a, b); " + _CURR)
EIF_cond_alpha_isfa_ista = _refused("EIF_cond_alpha_isfa_ista", "the core's neuron is a LIF "
                                    "(no delta_T exponential term, no adaptation a, b); "
                                    + _CURR)
MultiplicativeWeightDependence = _refused(
    "MultiplicativeWeightDependence", "the core's STDP is additive; use "
    "AdditiveWeightDependence.")
TsodyksMarkramSynapse = _refused("TsodyksMarkramSynapse", "the core has no short-term "
                                 "plasticity (U, tau_rec, tau_facil).")
_SOURCES = "the core has no current injection; drive neurons with i_offset or spike sources."
DCSource = _refused("DCSource", _SOURCES)
StepCurrentSource = _refused("StepCurrentSource", _SOURCES)
ACSource = _refused("ACSource", _SOURCES)
NoisyCurrentSource = _refused("NoisyCurrentSource", _SOURCES)

"""Simulation: the bit-exact reference model of the core (:mod:`plasticore.sim.reference`)."""

from .reference import Record, Reference, Snapshot

__all__ = ["Record", "Reference", "Snapshot"]

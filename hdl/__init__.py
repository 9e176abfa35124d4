"""Gateware of the plasticore core, in Amaranth HDL 0.5.

Components here are :class:`amaranth.lib.wiring.Component` s that never see a board; their
shapes and word layouts come from :mod:`plasticore.fixed` and :mod:`plasticore.core`.
"""

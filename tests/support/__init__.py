"""Verification helpers shared by the tests: corner-biased stimuli (:mod:`.stimulus`), the
cocotb driver of the core's access port (:mod:`.coredriver`) and the per-neuron
quantisation of the float model (:mod:`.quantise`).

Imported as ``support``: ``tests/conftest.py`` puts ``tests/`` on ``sys.path``, and
``tests/hdl/test_core.py`` hands that path on to the cocotb process.  Not part of the
installed package.
"""

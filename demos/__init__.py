"""Demonstrations, kept apart from the library: each uses only public API.

* :mod:`.digits` -- the main job, ``plasticore demo``: scikit-learn's 8x8 digits learned
  with supervised STDP on the chip, checked bit for bit against the reference;
* :mod:`.small` -- ``plasticore demo --small``: a 16-neuron learning network on the
  reference model;
* :mod:`.cli` -- the ``plasticore demo`` command.
"""

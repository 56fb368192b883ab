"""Helpers for testing neuronkit and its backends, built-in or third-party.

- :class:`BackendConformance` / :class:`ConformanceCase`: the suite every backend runs.
- :class:`NeuronConformance` / :class:`NeuronCase`: the suite every backend with a Neuron target
  runs, against the simulated SDKs.
- :func:`make_fake_host`: a directory that looks like a Neuron machine to device discovery.
- pytest fixtures (installed as the ``neuronkit`` pytest plugin): ``fake_neuron_host``,
  ``clean_neuron_env``.
- ``neuronkit.testing.sim``: *simulated* Neuron SDK modules. They enforce the documented
  signatures and record calls; they never touch Inferentia hardware.
"""

from __future__ import annotations

from .conformance import BackendConformance, ConformanceCase, relative_error
from .neuron_conformance import NeuronCase, NeuronConformance
from .sim import make_fake_host

__all__ = ["BackendConformance", "ConformanceCase", "NeuronCase", "NeuronConformance", "make_fake_host",
           "relative_error"]

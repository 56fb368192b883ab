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

from pathlib import Path

from .conformance import BackendConformance, ConformanceCase, relative_error
from .neuron_conformance import NeuronCase, NeuronConformance

__all__ = ["BackendConformance", "ConformanceCase", "NeuronCase", "NeuronConformance", "make_fake_host",
           "relative_error"]


def make_fake_host(root, devices: int = 4, cores_per_device: int = 4, arch: str = "NCv1",
                   instance_type: str = "inf1.6xlarge") -> Path:
    """Lay out ``/dev/neuronN`` and the Neuron sysfs tree under ``root``; point
    ``NEURONKIT_SYSROOT`` at it and :func:`neuronkit.targets.discover` sees that machine."""
    root = Path(root)
    (root / "dev").mkdir(parents=True, exist_ok=True)
    for i in range(devices):
        (root / "dev" / f"neuron{i}").touch()
        sysdir = root / f"sys/devices/virtual/neuron_device/neuron{i}"
        (sysdir / "info/architecture").mkdir(parents=True, exist_ok=True)
        (sysdir / "core_count").write_text(f"{cores_per_device}\n")
        (sysdir / "info/architecture/arch_type").write_text(f"{arch}\n")
        (sysdir / "info/architecture/instance_type").write_text(f"{instance_type}\n")
    return root

"""pytest fixtures for neuronkit and its plugins (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

import os

import pytest

from neuronkit import cores
from neuronkit.testing import make_fake_host

NEURON_VARS = ("NEURON_RT_VISIBLE_CORES", "NEURON_RT_NUM_CORES", "NEURONCORE_GROUP_SIZES", "NEURON_CC_FLAGS")


@pytest.fixture
def clean_neuron_env(monkeypatch):
    """No Neuron runtime variables set, and none remembered as set by an earlier load; whatever a
    test (or a load in it) sets is undone afterwards. Yields pytest's ``monkeypatch``."""
    saved = {var: os.environ.pop(var, None) for var in NEURON_VARS}
    monkeypatch.setattr(cores, "_applied", set())
    yield monkeypatch
    for var, value in saved.items():
        os.environ.pop(var, None)
        if value is not None:
            os.environ[var] = value


@pytest.fixture
def fake_neuron_host(tmp_path, clean_neuron_env):
    """Make this process see a simulated Neuron machine: call with devices/cores/arch.

    ``fake_neuron_host()`` is an inf1.6xlarge (4 Inferentia chips, 16 NeuronCore-v1).
    """

    def make(devices=4, cores_per_device=4, arch="NCv1", instance_type="inf1.6xlarge"):
        root = make_fake_host(tmp_path / "sysroot", devices, cores_per_device, arch, instance_type)
        clean_neuron_env.setenv("NEURONKIT_SYSROOT", str(root))
        return root

    return make

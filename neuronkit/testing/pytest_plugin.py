"""pytest fixtures for neuronkit and its plugins (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

import os

import pytest

from neuronkit import cores
from neuronkit.testing import make_fake_host

NEURON_VARS = ("NEURON_RT_VISIBLE_CORES", "NEURON_RT_NUM_CORES", "NEURONCORE_GROUP_SIZES", "NEURON_CC_FLAGS",
               "NEURON_LOGICAL_NC_CONFIG")
#: Every variable neuronkit or a backend sets: the Neuron ones (TorchNeuron's too), and the thread counts a
#: framework reads once per process (the mxnet backend sets them before mxnet is imported).
WATCHED_VARS = NEURON_VARS + ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
                              "TORCH_NEURONX_DISABLE_FALLBACK_EXECUTION", "TORCH_NEURONX_NEFF_CACHE_DIR")


def pytest_configure(config):
    """Tests compile for real: the compile cache is off unless a test turns it on (``cache=True``, or
    ``NEURONKIT_CACHE=on`` with its own ``NEURONKIT_CACHE_DIR``)."""
    os.environ.setdefault("NEURONKIT_CACHE", "off")


@pytest.fixture
def clean_neuron_env(monkeypatch):
    """No Neuron runtime variables set, and none remembered as set by an earlier load; whatever a
    test (or a load in it) sets is undone afterwards. Yields pytest's ``monkeypatch``."""
    saved = {var: os.environ.pop(var, None) for var in NEURON_VARS}
    cores.forget_applied_env()
    yield monkeypatch
    for var, value in saved.items():
        os.environ.pop(var, None)
        if value is not None:
            os.environ[var] = value
    cores.forget_applied_env()


@pytest.fixture(autouse=True)
def _neuron_env_left_as_found(request):
    """Fail a test that leaves a variable neuronkit sets changed: the Neuron runtime and the frameworks
    read them once per process, so a leaked one silently moves every later test's cores or threads.
    Use ``clean_neuron_env`` (or pytest's ``monkeypatch``)."""
    before = {var: os.environ.get(var) for var in WATCHED_VARS}
    yield
    changed = sorted(var for var in WATCHED_VARS if os.environ.get(var) != before[var])
    if changed:
        for var in changed:  # put it back, so one leak does not fail every test after it
            os.environ.pop(var, None)
            if before[var] is not None:
                os.environ[var] = before[var]
        pytest.fail(f"{request.node.nodeid} left {', '.join(changed)} changed; load Neuron artifacts inside the "
                    f"clean_neuron_env (or fake_neuron_host) fixture, which undoes them, and set thread variables "
                    f"with monkeypatch", pytrace=False)


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

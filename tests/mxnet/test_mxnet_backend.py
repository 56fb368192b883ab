"""Skipped until the MXNet backend is registered; replaced by its tests when it lands.

A collected-then-skipped test, not a module-level skip: pytest exits 5 when it collects nothing.
"""

import pytest

import neuronkit


@pytest.mark.skipif("mxnet" not in neuronkit.get_backends(), reason="the MXNet backend is not registered yet")
def test_mxnet_backend_is_registered():
    assert neuronkit.get_backends()["mxnet"].framework

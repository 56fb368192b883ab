"""One local Ray, with Serve, for every test here: it takes ~20 s to start on a small machine.

``neuron_cores`` is declared as Ray's own resource name, so Ray sets ``NEURON_RT_VISIBLE_CORES`` in
the replicas that ask for it, as on an inf2 host, with no Neuron hardware.
"""

import socket

import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
httpx = pytest.importorskip("httpx")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def serve_url():
    """Ray with 2 CPUs and 2 NeuronCores, Serve's HTTP proxy on a free loopback port; its URL."""
    ray.init(num_cpus=2, resources={"neuron_cores": 2}, include_dashboard=False, log_to_driver=False)
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()

"""Serve artifacts to the clients users already have: TensorFlow Serving (REST and gRPC) and
KServe v2 / Open Inference Protocol (REST and gRPC), with dynamic batching, a model repository
and Prometheus metrics. Needs ``pip install "neuronkit[serve]"``; never TensorFlow.

    neuronkit serve resnet50.nk                      # the command line
    with neuronkit.serve.background(ServerConfig(artifacts={"resnet50": "resnet50.nk"})) as s:
        ...                                          # s.rest_url, s.grpc_target

For scale-out on Ray Serve see :mod:`neuronkit.serve.ray`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from ..errors import NeuronkitError
from .models import ServeOptions
from .server import Server, ServerConfig

__all__ = ["Server", "ServerConfig", "ServeOptions", "background", "require", "run"]

REQUIRED = ("uvicorn", "starlette", "grpc", "google.protobuf", "prometheus_client")


def require() -> None:
    """Fail with the install command when the serve extra is missing."""
    import importlib.util

    missing = [m for m in REQUIRED if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        raise NeuronkitError(f"serving needs {', '.join(missing)}, which is not installed here. "
                             f"Install it: pip install \"neuronkit[serve]\"")


def run(config: ServerConfig, on_ready=None) -> None:
    """Serve in this thread until SIGTERM or SIGINT; then finish requests in flight and return."""
    require()

    async def main():
        server = Server(config)
        server.install_signal_handlers()
        await server.run(on_ready)

    asyncio.run(main())


@contextlib.contextmanager
def background(config: ServerConfig, timeout: float = 300.0):
    """Run a server in a background thread for the ``with`` block; yields it once every model is
    ready (``server.rest_url``, ``server.grpc_target``), then shuts it down gracefully."""
    require()
    server = Server(config)
    ready, failure = threading.Event(), []
    loop = asyncio.new_event_loop()

    def target():
        try:
            loop.run_until_complete(server.run(on_ready=lambda s: ready.set()))
        except BaseException as exc:  # report start-up failures to the caller
            failure.append(exc)
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=target, name="neuronkit-serve", daemon=True)
    thread.start()
    ready.wait(timeout)
    if failure:
        raise failure[0]
    if not server.registry.ready:
        loop.call_soon_threadsafe(server.stop)
        raise NeuronkitError(f"the server was not ready after {timeout:.0f} s")
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join()

"""One process serving models over REST (uvicorn + Starlette) and gRPC (grpc.aio), on one event loop.

The REST port speaks TensorFlow Serving's REST API (``/v1``), KServe v2 (``/v2``) and serves
``/metrics``; the gRPC port serves ``tensorflow.serving.PredictionService``/``ModelService`` and
``inference.GRPCInferenceService``. Every protocol goes through :meth:`Server.infer`: one place
that finds the model version, queues the request on its batcher, counts and logs the outcome.

Start-up: the ports open first and answer "not ready" until every model is loaded and warmed up.
Shutdown (SIGTERM or SIGINT): stop accepting, finish what is in flight, unload, exit 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, NeuronkitError
from .errors import ServeError
from .metrics import Metrics
from .models import ModelRegistry, ServeOptions

log = logging.getLogger("neuronkit.serve")


@dataclass(frozen=True)
class ServerConfig:
    """Where the server listens and what it serves (the ``neuronkit serve`` options)."""

    artifacts: dict | None = None          # {name: artifact path}, each served as version 1
    repository: Path | None = None         # or a model repository folder
    versions: str | frozenset = "latest"   # repository version policy: "latest", "all" or version numbers
    poll_seconds: float = 0.0              # re-read the repository this often (0: never)
    host: str = "127.0.0.1"
    rest_port: int | None = 8501           # None: no REST server
    grpc_port: int | None = 8500           # None: no gRPC server
    max_body_mb: float = 64.0
    grace_seconds: float = 30.0            # how long shutdown waits for requests in flight
    options: ServeOptions = ServeOptions()


class Server:
    """The models, their metrics, and the two network servers."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.metrics = Metrics()
        self.registry = ModelRegistry(config.options, artifacts=config.artifacts, repository=config.repository,
                                      versions=config.versions, on_batch=self.metrics.observe_batch,
                                      on_start=self.metrics.watch)
        self.rest_port: int | None = None
        self.grpc_port: int | None = None
        self._stop: asyncio.Event | None = None
        self._uvicorn = None
        self._grpc = None

    @property
    def rest_url(self) -> str:
        return f"http://{_url_host(self.config.host)}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{_url_host(self.config.host)}:{self.grpc_port}"

    @property
    def max_body_bytes(self) -> int:
        return int(self.config.max_body_mb * 2**20)

    # -- the one request path every protocol uses
    async def infer(self, protocol: str, name: str, version: int | None, decode: Callable) -> tuple:
        """Find the model version, decode the request against its signature with ``decode(mv)``,
        and run it through the batcher. Returns ``(model_version, {output name: array})``.

        Any failure is a :class:`ServeError` carrying the status the protocols answer with.
        """
        start = time.perf_counter()
        mv, outcome = None, "cancelled"  # unless it ends otherwise: the client went away
        try:
            mv = self.registry.get(name, version)
            inputs = decode(mv)
            # no await between the lookup and the batcher taking the request: an unload can't slip in
            outputs = await mv.infer(inputs)
            outcome = "ok"
            return mv, outputs
        except ServeError as exc:
            outcome = exc.code.lower()
            raise
        except InputError as exc:
            outcome = "invalid_argument"
            raise ServeError(str(exc), "INVALID_ARGUMENT") from None
        except Exception as exc:  # a backend failure: answer 500, keep serving
            outcome = "internal"
            log.exception("model %s failed a request", name)
            raise ServeError(f"model {name} failed: {type(exc).__name__}: {exc}") from None
        finally:
            self.metrics.count(mv, protocol, outcome)
            if log.isEnabledFor(logging.DEBUG):
                log.debug(json.dumps({"event": "request", "protocol": protocol, "model": name, "version": version,
                                      "served_version": mv.version if mv else None, "outcome": outcome,
                                      "ms": round((time.perf_counter() - start) * 1e3, 3)}))

    # -- running
    async def run(self, on_ready: Callable | None = None) -> None:
        """Serve until :meth:`stop` (or SIGTERM/SIGINT when run from the command line)."""
        self._stop = asyncio.Event()
        try:
            await self._start_network()
            await self.registry.sync(initial=True)
            log.info("ready: %s", ", ".join(f"{mv.name}/{mv.version}" for mv in self.registry.all_versions()))
            if on_ready is not None:
                on_ready(self)
            poller = asyncio.ensure_future(self._poll()) if self.config.poll_seconds > 0 else None
            await self._stop.wait()
            if poller is not None:
                poller.cancel()
        finally:
            await self._shutdown()

    def stop(self) -> None:
        """Ask the server to shut down gracefully; call it on the server's event loop (from another
        thread: ``loop.call_soon_threadsafe(server.stop)``)."""
        if self._stop is not None:
            self._stop.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_seconds)
            try:
                await self.registry.sync()
            except NeuronkitError as exc:
                log.error("reading the model repository failed: %s", exc)

    async def _start_network(self) -> None:
        from .grpc_server import make_grpc_server
        from .rest import make_app

        c = self.config
        if c.grpc_port is not None:
            self._grpc, self.grpc_port = make_grpc_server(self, c.host, c.grpc_port)
            await self._grpc.start()
        if c.rest_port is not None:
            import uvicorn

            config = uvicorn.Config(make_app(self), host=c.host, port=c.rest_port, log_level="warning",
                                    access_log=False, lifespan="off", timeout_graceful_shutdown=c.grace_seconds)
            # startup/main_loop/shutdown rather than serve(): serve() takes over SIGTERM, and ours must
            # stop both servers together
            rest = uvicorn.Server(config)
            config.load()
            rest.lifespan = config.lifespan_class(config)
            try:
                await rest.startup()
            except SystemExit:  # uvicorn exits when it cannot bind
                raise NeuronkitError(f"cannot listen on {c.host}:{c.rest_port} for REST (is another server "
                                     f"using it?); pick another --rest-port") from None
            self.rest_port = rest.servers[0].sockets[0].getsockname()[1]
            self._uvicorn, self._uvicorn_loop = rest, asyncio.ensure_future(rest.main_loop())
        log.info("listening: REST http://%s:%s  gRPC %s:%s", c.host, self.rest_port, c.host, self.grpc_port)

    async def _shutdown(self) -> None:
        """Stop accepting, let requests in flight finish, unload every model."""
        log.info("shutting down: finishing requests in flight")
        self.registry.ready = False
        closing = []
        if self._grpc is not None:
            closing.append(self._grpc.stop(self.config.grace_seconds))
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            await self._uvicorn_loop
            closing.append(self._uvicorn.shutdown())
        await asyncio.gather(*closing, return_exceptions=True)
        await self.registry.close()
        log.info("stopped")


def _url_host(host: str) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    return f"[{host}]" if ":" in host else host

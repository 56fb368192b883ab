"""The REST port: a Starlette app with TensorFlow Serving's ``/v1``, KServe v2's ``/v2`` and ``/metrics``.

Every error is answered as ``{"error": "..."}`` with the status of its code (see
:mod:`neuronkit.serve.errors`); nothing a client sends can stop the server.
"""

from __future__ import annotations

import functools
import logging

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from . import kserve, tfserving
from .errors import ServeError
from .http import json_response

log = logging.getLogger("neuronkit.serve")


def make_app(server) -> Starlette:
    def endpoint(handler):
        @functools.wraps(handler)
        async def answer(request):
            try:
                return await handler(server, request)
            except ServeError as exc:
                return json_response({"error": str(exc)}, exc.http_status)
            except Exception as exc:  # never a crashed server or a bare 500 page
                log.exception("unexpected error answering %s %s", request.method, request.url.path)
                return json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)

        return answer

    async def metrics(_server, request):
        return Response(server.metrics.render(), media_type=server.metrics.content_type)

    get, both = ["GET"], ["GET", "POST"]
    routes = [
        Route("/v1/models/{path:path}", endpoint(tfserving.rest), methods=both),
        Route("/v2", endpoint(kserve.rest_server_metadata), methods=get),
        Route("/v2/health/live", endpoint(kserve.rest_live), methods=get),
        Route("/v2/health/ready", endpoint(kserve.rest_ready), methods=get),
        Route("/v2/models/{name}", endpoint(kserve.rest_model), methods=get),
        Route("/v2/models/{name}/{tail:str}", endpoint(kserve.rest_model), methods=both),
        Route("/v2/models/{name}/versions/{version}", endpoint(kserve.rest_model), methods=get),
        Route("/v2/models/{name}/versions/{version}/{tail:str}", endpoint(kserve.rest_model), methods=both),
        Route("/metrics", endpoint(metrics), methods=get),
    ]
    async def no_route(request, exc):
        return json_response({"error": f"no such endpoint: {request.method} {request.url.path}"}, exc.status_code)

    return Starlette(routes=routes, exception_handlers={404: no_route, 405: no_route})

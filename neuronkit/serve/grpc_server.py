"""The gRPC port: ``tensorflow.serving.PredictionService``/``ModelService`` and
``inference.GRPCInferenceService`` on one ``grpc.aio`` server.

Handlers are registered by service name with the message classes of :mod:`neuronkit.serve.protos`,
so no generated service code (and no TensorFlow) is needed. RPCs neuronkit does not implement
(TF Serving's Classify, Regress, MultiInference...) answer UNIMPLEMENTED, as grpc does for any
method it has no handler for.
"""

from __future__ import annotations

import functools
import logging

from ..errors import NeuronkitError
from . import kserve, protos, tfserving
from .errors import ServeError

log = logging.getLogger("neuronkit.serve")


def make_grpc_server(server, host: str, port: int) -> tuple:
    """A ``grpc.aio`` server bound to ``host:port`` (0: any free port), and the port it got."""
    import grpc

    options = [("grpc.max_receive_message_length", server.max_body_bytes), ("grpc.max_send_message_length", -1)]
    grpc_server = grpc.aio.server(options=options)
    services = {"tensorflow.serving.PredictionService": tfserving.PredictionService(server),
                "tensorflow.serving.ModelService": tfserving.ModelService(server),
                "inference.GRPCInferenceService": kserve.GRPCInferenceService(server)}
    for service, implementation in services.items():
        handlers = {}
        for method, (request_cls, response_cls) in protos.SERVICES[service].items():
            function = getattr(implementation, method, None)
            if function is not None:
                handlers[method] = grpc.unary_unary_rpc_method_handler(
                    _answering_errors(function), request_deserializer=request_cls.FromString,
                    response_serializer=response_cls.SerializeToString)
        grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        bound = grpc_server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise NeuronkitError(f"cannot listen on {address} for gRPC (is another server using it?); pick another "
                             f"--grpc-port")
    return grpc_server, bound


def _answering_errors(function):
    """Turn a :class:`ServeError` into the RPC's status; anything else is INTERNAL and logged."""

    @functools.wraps(function)
    async def handler(request, context):
        import grpc

        try:
            return await function(request, context)
        except ServeError as exc:
            await context.abort(exc.grpc_status(), str(exc))
        except Exception as exc:
            log.exception("unexpected error in %s", function.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")

    return handler

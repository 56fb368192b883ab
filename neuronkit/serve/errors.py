"""Errors a served request can end in, with the status each protocol answers.

The names are gRPC's canonical codes, which both TensorFlow Serving and KServe v2 use; the HTTP
statuses follow TensorFlow Serving's mapping (``model_servers/http_server.cc``, ToHTTPStatusCode).
"""

from __future__ import annotations

from ..errors import NeuronkitError

HTTP_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409, "ABORTED": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "DEADLINE_EXCEEDED": 504,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "CANCELLED": 499,
    "INTERNAL": 500,
}


class ServeError(NeuronkitError):
    """A request the server answers with an error; ``code`` is a gRPC canonical code name."""

    code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def grpc_status(self):
        import grpc

        return getattr(grpc.StatusCode, self.code)


class InvalidArgument(ServeError):
    code = "INVALID_ARGUMENT"


class NotFound(ServeError):
    code = "NOT_FOUND"


class Unavailable(ServeError):
    """The model is not ready, or its queue is full: try again later."""

    code = "UNAVAILABLE"

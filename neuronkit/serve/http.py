"""HTTP answers and request bodies, shared by the REST endpoints of both protocols (and Ray Serve's)."""

from __future__ import annotations

import json

from starlette.responses import Response

from .errors import ServeError


class BodyTooLarge(ServeError):
    code = "RESOURCE_EXHAUSTED"
    http_status = 413


def json_response(data, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


async def read_body(request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(_too_large(int(declared), limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_too_large(size, limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return (f"the request body ({size:,} bytes so far) is over the server's limit of {limit:,} bytes; send less "
            f"per request, or start the server with a larger --max-body-mb")

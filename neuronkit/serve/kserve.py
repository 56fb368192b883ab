"""KServe v2 / Open Inference Protocol over REST (``/v2/...``) and gRPC (``inference.GRPCInferenceService``).

Facts followed (kserve/open-inference-protocol ``inference_rest.md`` and ``open_inference_grpc.proto``,
Triton's ``extension_binary_data.md``): health answers 200 for true and 400 for false; versions are
strings; tensors are row-major, nested or flat; with the binary-data extension the JSON header's
length is ``Inference-Header-Content-Length`` and each tensor's bytes follow it in order
(``binary_data_size``); over gRPC ``raw_input_contents`` holds one entry per input.
"""

from __future__ import annotations

import json

from .. import __version__
from . import protos, tensors
from .errors import InvalidArgument, NotFound, ServeError
from .http import json_response, read_body
from .tfserving import check_outputs, parse_version

SERVER_METADATA = {"name": "neuronkit", "version": __version__, "extensions": ["binary_tensor_data"]}
HEADER_LENGTH = "Inference-Header-Content-Length"


def model_metadata(server, mv) -> dict:
    def describe(specs):
        return [{"name": s.name, "datatype": tensors.v2_datatype(s.dtype),
                 "shape": [-1 if d is None else d for d in s.shape]} for s in specs]

    versions = [str(v.version) for v in server.registry.statuses(mv.name) if v.state != "END"]
    return {"name": mv.name, "versions": versions, "platform": f"neuronkit_{mv.artifact.backend}",
            "inputs": describe(mv.inputs), "outputs": describe(mv.outputs)}


def decoder(named_arrays: list, requested: list = ()):
    """``decode(mv)`` for :meth:`Server.infer`: check input names and datatypes, and the names of
    the requested outputs, against the model, before it runs."""

    def decode(mv):
        check_outputs(mv, requested)
        specs = {s.name: s for s in mv.inputs}
        inputs = {}
        for name, datatype, array in named_arrays:
            spec = specs.get(name)
            if spec is None:
                raise InvalidArgument(f"model {mv.name} has no input {name!r}; its inputs are {list(specs)}")
            expected = tensors.v2_datatype(spec.dtype)
            if datatype != expected:
                raise InvalidArgument(f"input {name!r} has datatype {datatype}; model {mv.name} expects {expected} "
                                      f"({spec.describe()})")
            if name in inputs:
                raise InvalidArgument(f"input {name!r} is given twice")
            inputs[name] = array
        return inputs

    return decode


# -- REST
async def rest_server_metadata(server, request):

    return json_response(SERVER_METADATA)


async def rest_live(server, request):

    return json_response({})


async def rest_ready(server, request):

    if not server.registry.ready:
        raise InvalidArgument("not ready: models are still loading")
    return json_response({})


async def rest_model(server, request):
    """``GET /v2/models/NAME[/versions/V][/ready]`` and ``POST .../infer``."""

    p = request.path_params
    name, version, tail = p["name"], parse_version(p.get("version")), p.get("tail", "")
    if request.method == "GET" and tail == "":
        return json_response(model_metadata(server, server.registry.get(name, version)))
    if request.method == "GET" and tail == "ready":
        try:
            server.registry.get(name, version)
        except ServeError as exc:
            raise InvalidArgument(f"not ready: {exc}") from None
        return json_response({})
    if request.method == "POST" and tail == "infer":
        return await rest_infer(server, request, name, version)
    raise NotFound(f"no such endpoint: {request.method} {request.url.path}")


async def rest_infer(server, request, name, version):
    from starlette.responses import Response


    body = await read_body(request, server.max_body_bytes)
    header, binary = _split(body, request.headers.get(HEADER_LENGTH))
    try:
        req = json.loads(header)
    except ValueError as exc:
        raise InvalidArgument(f"the request's JSON is not valid ({exc})") from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list) or not req["inputs"]:
        raise InvalidArgument('the request must be a JSON object with a non-empty "inputs" list')
    named, offset = [], 0
    for tensor in req["inputs"]:
        if not isinstance(tensor, dict) or not {"name", "datatype", "shape"} <= tensor.keys():
            raise InvalidArgument('each input needs "name", "datatype" and "shape"')
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            array = tensors.from_json_v2(tensor)
        else:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise InvalidArgument(f"input {tensor['name']!r} declares binary_data_size {size!r}, but only "
                                      f"{len(binary) - offset} bytes of binary data are left in the body")
            array = tensors.from_binary(tensor["datatype"], tensor["shape"], binary[offset:offset + size],
                                        tensor["name"])
            offset += size
        named.append((tensor["name"], tensor["datatype"], array))
    if offset != len(binary):
        raise InvalidArgument(f"the body has {len(binary)} bytes after the JSON header, but the inputs' "
                              f"binary_data_size add up to {offset}")
    asked = req.get("outputs") or []
    if not isinstance(asked, list) or not all(isinstance(o, dict) and "name" in o for o in asked):
        raise InvalidArgument('"outputs" must be a list of {"name": ...} objects')
    mv, outputs = await server.infer("kserve-rest", name, version, decoder(named, [o["name"] for o in asked]))
    binary_default = bool((req.get("parameters") or {}).get("binary_data_output", False))
    wants_binary = {o["name"]: bool((o.get("parameters") or {}).get("binary_data", binary_default)) for o in asked}
    response = {"model_name": mv.name, "model_version": str(mv.version), "outputs": []}
    if "id" in req:
        response["id"] = req["id"]
    chunks = []
    for out_name in [o["name"] for o in asked] or outputs:
        array = outputs[out_name]
        if wants_binary.get(out_name, binary_default):
            chunk = tensors.to_binary(array)
            chunks.append(chunk)
            response["outputs"].append({"name": out_name, "datatype": tensors.v2_datatype(array.dtype.name),
                                        "shape": list(array.shape), "parameters": {"binary_data_size": len(chunk)}})
        else:
            response["outputs"].append(tensors.to_json_v2(out_name, array))
    if not chunks:
        return json_response(response)
    head = json.dumps(response).encode()
    return Response(head + b"".join(chunks), media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(head))})


def _split(body: bytes, header_length: str | None) -> tuple:
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise InvalidArgument(f"{HEADER_LENGTH} is {header_length[:20]!r}, but the body has {len(body)} bytes; it "
                              f"must be the length of the JSON part")
    n = int(header_length)
    return body[:n], body[n:]


# -- gRPC
class GRPCInferenceService:
    """``inference.GRPCInferenceService``."""

    def __init__(self, server):
        self.server = server

    async def ServerLive(self, request, context):
        return protos.kserve.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return protos.kserve.ServerReadyResponse(ready=self.server.registry.ready)

    async def ModelReady(self, request, context):
        try:
            self.server.registry.get(request.name, parse_version(request.version or None))
        except ServeError:
            return protos.kserve.ModelReadyResponse(ready=False)
        return protos.kserve.ModelReadyResponse(ready=True)

    async def ServerMetadata(self, request, context):
        return protos.kserve.ServerMetadataResponse(**SERVER_METADATA)

    async def ModelMetadata(self, request, context):
        from google.protobuf import json_format

        mv = self.server.registry.get(request.name, parse_version(request.version or None))
        return json_format.ParseDict(model_metadata(self.server, mv), protos.kserve.ModelMetadataResponse())

    async def ModelInfer(self, request, context):
        raw = list(request.raw_input_contents)
        if raw and len(raw) != len(request.inputs):
            raise InvalidArgument(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
                                  f"give one per input, in order")
        named = [(t.name, t.datatype, tensors.from_infer_input(t, raw[i] if raw else None))
                 for i, t in enumerate(request.inputs)]
        asked = [o.name for o in request.outputs]
        mv, outputs = await self.server.infer("kserve-grpc", request.model_name,
                                              parse_version(request.model_version or None), decoder(named, asked))
        response = protos.kserve.ModelInferResponse(model_name=mv.name, model_version=str(mv.version), id=request.id)
        for out_name in asked or outputs:
            tensor, data = tensors.to_infer_output(out_name, outputs[out_name])
            response.outputs.append(tensor)
            response.raw_output_contents.append(data)
        return response

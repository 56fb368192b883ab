"""TensorFlow Serving's API over REST (``/v1/models/...``) and gRPC (``tensorflow.serving.*``).

Facts followed (tensorflow/serving ``g3doc/api_rest.md`` and ``apis/*.proto``): a model has one
signature, ``serving_default``, with method ``tensorflow/serving/predict``; ``instances`` (row)
or ``inputs`` (columnar), never both; a row request answers ``predictions``, a columnar one
``outputs``; errors are ``{"error": "..."}``. Version labels are not supported.
"""

from __future__ import annotations

import json
import re

from . import protos, tensors
from .errors import InvalidArgument, NotFound, ServeError
from .http import json_response, read_body
from .models import AVAILABLE, END, LOADING, UNLOADING

SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
_STATE = {LOADING: "LOADING", AVAILABLE: "AVAILABLE", UNLOADING: "UNLOADING", END: "END"}

#: ``NAME[/versions/N|/labels/L][/metadata|:predict|:classify|:regress]`` after ``/v1/models/``.
REST_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                       r"(?P<tail>/metadata|:predict|:classify|:regress)?$")


def parse_version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidArgument(f"version {text[:40]!r} is not a version number; versions are whole numbers")
    return int(text)


def check_outputs(mv, requested) -> None:
    """Refuse unknown output names before the model runs."""
    names = [s.name for s in mv.outputs]
    unknown = [n for n in requested if n not in names]
    if unknown:
        raise InvalidArgument(f"model {mv.name} has no output {unknown[0]!r}; its outputs are {names}")


def check_signature(name: str) -> None:
    if name not in ("", SIGNATURE):
        raise InvalidArgument(f"signature {name[:80]!r} not found; this model has one signature, {SIGNATURE!r}")


# -- messages shared by REST and gRPC
def signature_def_map(mv):
    sig = protos.tf.SignatureDef(method_name=PREDICT_METHOD)
    for specs, side in ((mv.inputs, sig.inputs), (mv.outputs, sig.outputs)):
        for spec in specs:
            info = side[spec.name]
            info.name = f"{spec.name}:0"
            info.dtype = tensors.tf_datatype(spec.dtype)
            for d in spec.shape:
                info.tensor_shape.dim.add(size=-1 if d is None else d)
    result = protos.tfs.SignatureDefMap()
    result.signature_def[SIGNATURE].CopyFrom(sig)
    return result


def model_status(versions):
    response = protos.tfs.GetModelStatusResponse()
    for mv in versions:
        status = response.model_version_status.add(version=mv.version, state=_STATE[mv.state])
        status.status.SetInParent()  # TF Serving always reports the status, "OK" included
        if mv.error:
            status.status.error_code = 13  # INTERNAL, as TF Serving reports a version that failed to load
            status.status.error_message = mv.error
    return response


def model_spec(mv, spec=None):
    spec = spec if spec is not None else protos.tfs.ModelSpec()
    spec.name = mv.name
    spec.version.value = mv.version
    spec.signature_name = SIGNATURE
    return spec


# -- REST
async def rest(server, request):
    """Every ``/v1/models/...`` request."""

    match = REST_PATH.match(request.path_params["path"])
    if match is None:
        raise NotFound("no such endpoint; TensorFlow Serving's are /v1/models/NAME[/versions/N][/metadata|:predict]")
    if match["label"] is not None:
        raise InvalidArgument("version labels are not supported; address a version as /versions/N")
    name, version, tail = match["name"], parse_version(match["version"]), match["tail"]
    if request.method == "GET":
        if tail is None:
            return json_response(_to_dict(model_status(server.registry.statuses(name, version))))
        if tail == "/metadata":
            mv = server.registry.get(name, version)
            return json_response({"model_spec": _to_dict(model_spec(mv)),
                                  "metadata": {"signature_def": _to_dict(signature_def_map(mv))}})
    elif tail == ":predict":
        try:
            body = json.loads(await read_body(request, server.max_body_bytes))
        except ValueError as exc:
            raise InvalidArgument(f"the request body is not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise InvalidArgument('the request body must be a JSON object: {"instances": [...]} or {"inputs": ...}')
        check_signature(str(body.get("signature_name", "")))
        row_format = "instances" in body

        def decode(mv):
            return tensors.from_tfs_json(body, mv.inputs)[0]

        _, outputs = await server.infer("tfserving-rest", name, version, decode)
        return json_response(tensors.to_tfs_json(outputs, row_format))
    elif tail in (":classify", ":regress"):
        raise ServeError(f"{tail[1:]} is not supported: neuronkit models have a predict signature only; use :predict",
                         "UNIMPLEMENTED")
    raise ServeError(f"{request.method} is not allowed here", "UNIMPLEMENTED")


def _to_dict(message) -> dict:
    from google.protobuf import json_format

    try:  # TF Serving prints fields left at their defaults too
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)
    except TypeError:  # protobuf < 5.26 names the option differently
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         including_default_value_fields=True)


# -- gRPC
class PredictionService:
    """``tensorflow.serving.PredictionService``: Predict and GetModelMetadata."""

    def __init__(self, server):
        self.server = server

    async def Predict(self, request, context):
        spec = request.model_spec
        name, version = _name_version(spec)
        check_signature(spec.signature_name)

        def decode(mv):
            check_outputs(mv, request.output_filter)
            return {key: tensors.from_tensor_proto(value, key) for key, value in request.inputs.items()}

        mv, outputs = await self.server.infer("tfserving-grpc", name, version, decode)
        response = protos.tfs.PredictResponse()
        model_spec(mv, response.model_spec)
        for key, value in outputs.items():
            if not request.output_filter or key in request.output_filter:
                response.outputs[key].CopyFrom(tensors.to_tensor_proto(value))
        return response

    async def GetModelMetadata(self, request, context):
        name, version = _name_version(request.model_spec)
        if list(request.metadata_field) != ["signature_def"]:
            raise InvalidArgument(f"metadata_field must be ['signature_def'] (the only one TF Serving supports), "
                                  f"got {list(request.metadata_field)}")
        mv = self.server.registry.get(name, version)
        response = protos.tfs.GetModelMetadataResponse()
        model_spec(mv, response.model_spec)
        packed = response.metadata["signature_def"]  # Any, packed by hand: no well-known-type helpers needed
        packed.type_url = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
        packed.value = signature_def_map(mv).SerializeToString()
        return response


class ModelService:
    """``tensorflow.serving.ModelService``: GetModelStatus."""

    def __init__(self, server):
        self.server = server

    async def GetModelStatus(self, request, context):
        name, version = _name_version(request.model_spec)
        return model_status(self.server.registry.statuses(name, version))


def _name_version(spec) -> tuple:
    if spec.WhichOneof("version_choice") == "version_label":
        raise InvalidArgument("version labels are not supported; set model_spec.version")
    if not spec.name:
        raise InvalidArgument("model_spec.name is empty; name the model to use")
    return spec.name, spec.version.value if spec.HasField("version") else None

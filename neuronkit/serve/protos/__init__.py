"""The protocol messages of TensorFlow Serving and KServe v2, without TensorFlow or tritonclient.

``messages.binpb`` is a FileDescriptorSet compiled by ``tools/gen_protos.py`` from the ``.proto``
files beside it. It is loaded into a private descriptor pool, so that TensorFlow's or tritonclient's
own registrations of the same names in the same process never clash with ours, and message classes
are built from it at run time: no generated ``_pb2`` modules, whose gencode version checks break
across protobuf releases. Works with protobuf 4.21 through 7.x.

- ``tf``: TensorFlow core (TensorProto, TensorShapeProto, TensorInfo, SignatureDef, DataType and
  its values as ints, e.g. ``tf.DT_FLOAT``, and ErrorCode).
- ``tfs``: TensorFlow Serving (ModelSpec, PredictRequest, ..., ModelVersionStatus, StatusProto).
- ``kserve``: KServe v2 / Open Inference Protocol (ServerLiveRequest, ..., ModelInferResponse).
- ``SERVICES``: ``{service full name: {method: (request class, response class)}}``, read from the
  ``service`` blocks of the .proto files; a method's gRPC path is ``/{service}/{method}``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal import enum_type_wrapper

__all__ = ["pool", "tf", "tfs", "kserve", "Any", "Int64Value", "SERVICES", "message_class"]

pool = descriptor_pool.DescriptorPool()
_descriptor_set = descriptor_pb2.FileDescriptorSet.FromString((Path(__file__).parent / "messages.binpb").read_bytes())
for _file in _descriptor_set.file:  # written dependencies first (protoc --include_imports)
    pool.AddSerializedFile(_file.SerializeToString())


def message_class(full_name: str) -> type:
    """The message class of ``full_name`` (e.g. ``"tensorflow.TensorProto"``) in the private pool."""
    descriptor = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)  # protobuf 4.21


def _enum(full_name: str) -> enum_type_wrapper.EnumTypeWrapper:
    return enum_type_wrapper.EnumTypeWrapper(pool.FindEnumTypeByName(full_name))


def _namespace(package: str, names: list[str]) -> SimpleNamespace:
    return SimpleNamespace(**{name: message_class(f"{package}.{name}") for name in names})


Any = message_class("google.protobuf.Any")
Int64Value = message_class("google.protobuf.Int64Value")

tf = _namespace("tensorflow", ["TensorProto", "TensorShapeProto", "TensorInfo", "SignatureDef"])
tf.DataType = _enum("tensorflow.DataType")
tf.ErrorCode = _enum("tensorflow.error.Code")
for _name, _number in tf.DataType.items():
    setattr(tf, _name, _number)

tfs = _namespace(
    "tensorflow.serving",
    [
        "ModelSpec", "PredictRequest", "PredictResponse", "SignatureDefMap",
        "GetModelMetadataRequest", "GetModelMetadataResponse",
        "GetModelStatusRequest", "GetModelStatusResponse", "ModelVersionStatus", "StatusProto",
    ],
)

kserve = _namespace(
    "inference",
    [
        "ServerLiveRequest", "ServerLiveResponse", "ServerReadyRequest", "ServerReadyResponse",
        "ModelReadyRequest", "ModelReadyResponse", "ServerMetadataRequest", "ServerMetadataResponse",
        "ModelMetadataRequest", "ModelMetadataResponse", "InferParameter", "InferTensorContents",
        "ModelInferRequest", "ModelInferResponse",
    ],
)
# The nested classes, by the names tritonclient's users know them (looked up by full name: the pure-Python
# protobuf runtime does not hang them on their parent class).
kserve.InferInputTensor = message_class("inference.ModelInferRequest.InferInputTensor")
kserve.InferRequestedOutputTensor = message_class("inference.ModelInferRequest.InferRequestedOutputTensor")
kserve.InferOutputTensor = message_class("inference.ModelInferResponse.InferOutputTensor")
kserve.TensorMetadata = message_class("inference.ModelMetadataResponse.TensorMetadata")

SERVICES = {
    service.full_name: {
        method.name: (message_class(method.input_type.full_name), message_class(method.output_type.full_name))
        for method in service.methods
    }
    for service in (
        pool.FindServiceByName(name)
        for name in ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService",
                     "inference.GRPCInferenceService")
    )
}

del _file, _name, _number

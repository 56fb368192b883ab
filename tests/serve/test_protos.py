"""neuronkit's own KServe v2 messages against tritonclient's: same descriptors, same bytes, and a real
``tritonclient.grpc`` client talking to a gRPC server built from ``protos.SERVICES``."""

from concurrent import futures

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tritongrpc
from google.protobuf import json_format
from tritonclient.grpc import service_pb2
from tritonclient.utils import np_to_triton_dtype

from neuronkit.serve import protos, tensors

KSERVE = "inference.GRPCInferenceService"


def field_signature(field):
    """What decides a field's wire form and API: number, type, cardinality, referenced type, oneof."""
    referenced = field.message_type or field.enum_type
    repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
    return (field.number, field.type, repeated, referenced.full_name if referenced else None,
            field.containing_oneof.name if field.containing_oneof else None)


def differences(ours, theirs, path=""):
    """Fields whose signature differs, and fields only one side has, recursively through nested messages."""
    path = path or ours.full_name
    found = []
    for field in ours.fields:
        other = theirs.fields_by_name.get(field.name)
        if other is None:
            found.append(f"only ours: {path}.{field.name}")
        elif field_signature(field) != field_signature(other):
            found.append(f"differs: {path}.{field.name} {field_signature(field)} != {field_signature(other)}")
    found += [f"only theirs: {path}.{f.name}" for f in theirs.fields if f.name not in ours.fields_by_name]
    for nested in ours.nested_types:
        if nested.name in theirs.nested_types_by_name:
            found += differences(nested, theirs.nested_types_by_name[nested.name], f"{path}.{nested.name}")
    return found


def test_every_kserve_message_matches_tritonclient():
    service = protos.pool.FindServiceByName(KSERVE)
    theirs = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    messages = set()
    for method in service.methods:
        other = theirs.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            other.input_type.full_name, other.output_type.full_name)
        messages |= {method.input_type.full_name, method.output_type.full_name}
    messages |= {"inference.InferParameter", "inference.InferTensorContents"}
    found = []
    for full_name in sorted(messages):
        short = full_name.split(".", 1)[1]
        theirs_message = service_pb2.DESCRIPTOR.message_types_by_name[short]
        found += differences(protos.pool.FindMessageTypeByName(full_name), theirs_message)
    # The Open Inference Protocol's properties map, which Triton's proto does not have.
    assert found == ["only ours: inference.ModelMetadataResponse.properties"]


def test_services_table_lists_the_rpcs_with_their_classes():
    assert set(protos.SERVICES) == {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService", KSERVE}
    assert set(protos.SERVICES[KSERVE]) == {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata",
                                            "ModelMetadata", "ModelInfer"}
    assert protos.SERVICES[KSERVE]["ModelInfer"] == (protos.kserve.ModelInferRequest, protos.kserve.ModelInferResponse)
    assert protos.SERVICES["tensorflow.serving.PredictionService"]["Predict"] == (
        protos.tfs.PredictRequest, protos.tfs.PredictResponse)
    assert protos.SERVICES["tensorflow.serving.ModelService"]["GetModelStatus"] == (
        protos.tfs.GetModelStatusRequest, protos.tfs.GetModelStatusResponse)


def test_enums_and_type_urls():
    assert (protos.tf.DT_FLOAT, protos.tf.DT_STRING, protos.tf.DT_BFLOAT16, protos.tf.DT_HALF) == (1, 7, 14, 19)
    assert protos.tf.DataType.Name(9) == "DT_INT64"
    assert protos.tf.ErrorCode.Value("NOT_FOUND") == 5 and protos.tf.ErrorCode.Value("UNAUTHENTICATED") == 16
    state = protos.tfs.ModelVersionStatus
    assert [state.UNKNOWN, state.START, state.LOADING, state.AVAILABLE, state.UNLOADING, state.END] == [
        0, 10, 20, 30, 40, 50]
    response = protos.tfs.GetModelMetadataResponse()
    response.metadata["signature_def"].Pack(protos.tfs.SignatureDefMap())
    assert response.metadata["signature_def"].type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"


def test_our_classes_live_beside_tritonclients_own():
    # Same full name, separate pools: both import, and bytes cross between them.
    assert protos.kserve.ModelInferRequest is not service_pb2.ModelInferRequest
    assert protos.kserve.ModelInferRequest.DESCRIPTOR.full_name == service_pb2.ModelInferRequest.DESCRIPTOR.full_name


def test_infer_request_and_response_bytes_cross_both_ways():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    theirs = service_pb2.ModelInferRequest(model_name="m", model_version="2", id="r1")
    theirs.parameters["priority"].int64_param = 3
    tensor = theirs.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    tensor.parameters["binary_data_size"].int64_param = 24
    theirs.inputs.add(name="n", datatype="INT64", shape=[2]).contents.int64_contents.extend([7, -8])
    theirs.outputs.add(name="y").parameters["classification"].int64_param = 5
    theirs.raw_input_contents.append(x.tobytes())

    ours = protos.kserve.ModelInferRequest.FromString(theirs.SerializeToString())
    assert json_format.MessageToDict(ours) == json_format.MessageToDict(theirs)
    assert ours.raw_input_contents[0] == x.tobytes() and ours.inputs[1].contents.int64_contents == [7, -8]
    assert service_pb2.ModelInferRequest.FromString(ours.SerializeToString()) == theirs

    response = protos.kserve.ModelInferResponse(model_name="m", model_version="2", id="r1")
    output, raw = tensors.to_infer_output("y", x)
    response.outputs.append(output)
    response.raw_output_contents.append(raw)
    parsed = service_pb2.ModelInferResponse.FromString(response.SerializeToString())
    assert (parsed.outputs[0].name, parsed.outputs[0].datatype, list(parsed.outputs[0].shape)) == ("y", "FP32", [2, 3])
    assert parsed.raw_output_contents[0] == x.tobytes()


def test_model_metadata_properties_survive_tritons_parser():
    ours = protos.kserve.ModelMetadataResponse(name="m", versions=["1"], platform="neuronkit_onnx")
    ours.inputs.add(name="x", datatype="FP32", shape=[-1, 3])
    ours.properties["target"] = "cpu"
    theirs = service_pb2.ModelMetadataResponse.FromString(ours.SerializeToString())
    assert (theirs.name, list(theirs.inputs[0].shape)) == ("m", [-1, 3])
    # Kept as an unknown field, so it comes back whole.
    assert protos.kserve.ModelMetadataResponse.FromString(theirs.SerializeToString()).properties["target"] == "cpu"


class EchoModel:
    """A v2 gRPC service from protos.SERVICES: model "echo" answers each input X as output X_out."""

    def ServerLive(self, request, context):
        return protos.kserve.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return protos.kserve.ServerReadyResponse(ready=True)

    def ModelReady(self, request, context):
        return protos.kserve.ModelReadyResponse(ready=request.name == "echo")

    def ServerMetadata(self, request, context):
        return protos.kserve.ServerMetadataResponse(name="neuronkit", version="0", extensions=["binary_tensor_data"])

    def ModelMetadata(self, request, context):
        response = protos.kserve.ModelMetadataResponse(name=request.name, versions=["1"], platform="neuronkit_onnx")
        response.inputs.add(name="x", datatype="FP32", shape=[-1, 3])
        return response

    def ModelInfer(self, request, context):
        raw = list(request.raw_input_contents)
        response = protos.kserve.ModelInferResponse(model_name=request.model_name, model_version="1", id=request.id)
        for i, tensor in enumerate(request.inputs):
            array = tensors.from_infer_input(tensor, raw[i] if raw else None)
            output, data = tensors.to_infer_output(tensor.name + "_out", array)
            response.outputs.append(output)
            response.raw_output_contents.append(data)
        return response


@pytest.fixture(scope="module")
def kserve_target():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    model = EchoModel()
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(getattr(model, method), request_deserializer=request.FromString,
                                                    response_serializer=response.SerializeToString)
        for method, (request, response) in protos.SERVICES[KSERVE].items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(KSERVE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_tritonclient_grpc_health_and_metadata(kserve_target):
    client = tritongrpc.InferenceServerClient(kserve_target)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("echo") and not client.is_model_ready("other")
    assert client.get_server_metadata().extensions == ["binary_tensor_data"]
    metadata = client.get_model_metadata("echo")
    assert (metadata.name, metadata.inputs[0].datatype, list(metadata.inputs[0].shape)) == ("echo", "FP32", [-1, 3])


@pytest.mark.parametrize("array", [
    np.arange(6, dtype=np.float32).reshape(2, 3),
    np.array([[1, -2], [3, 2**40]], dtype=np.int64),
    np.array([0.5, -1.25, 65504], dtype=np.float16),
    np.array([True, False, True]),
    np.array([[0, 255]], dtype=np.uint8),
    np.array([b"a", b"", "naïve".encode(), b"\x00\xff"], dtype=object),
], ids=lambda a: str(a.dtype))
def test_tritonclient_grpc_infer_round_trip(kserve_target, array):
    client = tritongrpc.InferenceServerClient(kserve_target)
    infer_input = tritongrpc.InferInput("x", list(array.shape), np_to_triton_dtype(array.dtype))
    infer_input.set_data_from_numpy(array)
    result = client.infer("echo", [infer_input], request_id="r7")
    got = result.as_numpy("x_out")
    assert result.get_response().id == "r7"
    assert got.dtype == array.dtype and got.shape == array.shape
    assert (got == array).all()

"""neuronkit's own TensorFlow Serving messages against TensorFlow's and tensorflow-serving-api's: same
descriptors, same bytes both ways, and the stock gRPC stubs talking to a server built from protos.SERVICES."""

from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from neuronkit.serve import protos, tensors

# What our .proto files leave out on purpose (each file's comments say why); nothing else may differ.
LEFT_OUT = {
    "tensorflow.TensorProto.resource_handle_val", "tensorflow.TensorProto.variant_val",
    "tensorflow.TensorInfo.composite_tensor",
    "tensorflow.serving.PredictRequest.predict_streamed_options", "tensorflow.serving.PredictRequest.client_id",
    "tensorflow.serving.PredictRequest.request_options",
}


def field_signature(field):
    """What decides a field's wire form and API: number, type, cardinality, referenced type, oneof, JSON name."""
    referenced = field.message_type or field.enum_type
    repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
    return (field.number, field.type, repeated, referenced.full_name if referenced else None,
            field.containing_oneof.name if field.containing_oneof else None, field.json_name)


def differences(ours, theirs):
    found = []
    for field in ours.fields:
        other = theirs.fields_by_name.get(field.name)
        if other is None:
            found.append(f"only ours: {field.full_name}")
        elif field_signature(field) != field_signature(other):
            found.append(f"differs: {field.full_name} {field_signature(field)} != {field_signature(other)}")
    found += [f"only theirs: {f.full_name}" for f in theirs.fields
              if f.name not in ours.fields_by_name and f.full_name not in LEFT_OUT]
    for nested in ours.nested_types:
        found += differences(nested, theirs.nested_types_by_name[nested.name])
    for enum in ours.enum_types:
        found += enum_differences(enum, theirs.enum_types_by_name[enum.name])
    return found


def enum_differences(ours, theirs):
    values = {(v.name, v.number) for v in ours.values} ^ {(v.name, v.number) for v in theirs.values}
    return [f"enum {ours.full_name}: {sorted(values)}"] if values else []


def test_every_message_enum_and_method_matches_upstream():
    import tensorflow_serving.apis.model_service_pb2  # noqa: F401  (registers ModelService)
    import tensorflow_serving.apis.prediction_service_pb2  # noqa: F401
    from google.protobuf import descriptor_pool

    upstream = descriptor_pool.Default()
    found = []
    for name in ["TensorShapeProto", "TensorProto", "TensorInfo", "SignatureDef"]:
        found += differences(getattr(protos.tf, name).DESCRIPTOR, upstream.FindMessageTypeByName(f"tensorflow.{name}"))
    for name in ["ModelSpec", "PredictRequest", "PredictResponse", "SignatureDefMap", "GetModelMetadataRequest",
                 "GetModelMetadataResponse", "GetModelStatusRequest", "GetModelStatusResponse", "ModelVersionStatus",
                 "StatusProto"]:
        full_name = f"tensorflow.serving.{name}"
        found += differences(getattr(protos.tfs, name).DESCRIPTOR, upstream.FindMessageTypeByName(full_name))
    for enum in ["tensorflow.DataType", "tensorflow.error.Code"]:
        found += enum_differences(protos.pool.FindEnumTypeByName(enum), upstream.FindEnumTypeByName(enum))
    for service in ["tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"]:
        theirs = upstream.FindServiceByName(service)
        for method in protos.pool.FindServiceByName(service).methods:
            other = theirs.methods_by_name[method.name]
            if (method.input_type.full_name, method.output_type.full_name) != (
                    other.input_type.full_name, other.output_type.full_name):
                found.append(f"differs: {service}.{method.name}")
    assert found == []


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    np.array([[-(2**40), 5]], dtype=np.int64),
    np.array([0.5, -1.5, 65504], dtype=np.float16),
    np.array([[b"cat", b""], ["naïve".encode(), b"\x00\xff"]], dtype=object),
    np.array([True, False]),
    np.array([0, 255], dtype=np.uint8),
    np.array([1.5, -2, 3], dtype=tf.bfloat16.as_numpy_dtype),
    np.float32(3.25),
], ids=lambda a: str(a.dtype))
def test_make_tensor_proto_bytes_read_by_ours_and_back(array):
    theirs = tf.make_tensor_proto(array)
    got = tensors.from_tensor_proto(protos.tf.TensorProto.FromString(theirs.SerializeToString()))
    assert got.dtype == array.dtype and got.shape == np.shape(array) and (got == array).all()

    ours = tensors.to_tensor_proto(array)
    back = tf.make_ndarray(tensor_pb2.TensorProto.FromString(ours.SerializeToString()))
    assert back.shape == np.shape(array) and (back == array).all()


def test_make_tensor_proto_typed_values_and_fill():
    # A scalar broadcast to a shape travels as one typed value that fills it.
    theirs = tf.make_tensor_proto(2.5, shape=[2, 3])
    assert tensors.from_tensor_proto(protos.tf.TensorProto.FromString(theirs.SerializeToString())).tolist() == [
        [2.5] * 3] * 2
    half = tf.make_tensor_proto(np.float16(1.5), shape=[2])  # half_val
    assert tensors.from_tensor_proto(protos.tf.TensorProto.FromString(half.SerializeToString())).tolist() == [1.5] * 2


def ours_predict_request():
    request = protos.tfs.PredictRequest(output_filter=["probabilities"])
    request.model_spec.name = "resnet50"
    request.model_spec.version.value = 3
    request.model_spec.signature_name = "serving_default"
    request.inputs["image"].CopyFrom(tensors.to_tensor_proto(np.ones((1, 2, 2, 3), np.float32)))
    return request


def test_predict_request_and_response_both_ways():
    theirs = predict_pb2.PredictRequest.FromString(ours_predict_request().SerializeToString())
    assert (theirs.model_spec.name, theirs.model_spec.version.value) == ("resnet50", 3)
    assert theirs.model_spec.WhichOneof("version_choice") == "version" and list(theirs.output_filter) == [
        "probabilities"]
    assert (tf.make_ndarray(theirs.inputs["image"]) == 1).all()

    stock = predict_pb2.PredictRequest()  # as the seed's client builds it
    stock.model_spec.name = "resnet50"
    stock.model_spec.version_label = "stable"
    stock.inputs["image"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 4), np.float32)))
    ours = protos.tfs.PredictRequest.FromString(stock.SerializeToString())
    assert ours.model_spec.WhichOneof("version_choice") == "version_label" and ours.model_spec.version_label == "stable"
    assert tensors.from_tensor_proto(ours.inputs["image"]).shape == (1, 4)

    response = protos.tfs.PredictResponse()
    response.model_spec.name = "resnet50"
    response.outputs["probabilities"].CopyFrom(tensors.to_tensor_proto(np.eye(2, dtype=np.float32)))
    theirs = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    assert (tf.make_ndarray(theirs.outputs["probabilities"]) == np.eye(2)).all()


def ours_signature_def_map():
    signatures = protos.tfs.SignatureDefMap()
    signature = signatures.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    image = signature.inputs["image"]
    image.name, image.dtype = "image:0", protos.tf.DT_FLOAT
    for size in (-1, 224, 224, 3):
        image.tensor_shape.dim.add(size=size)
    signature.outputs["probabilities"].dtype = protos.tf.DT_FLOAT
    return signatures


def test_metadata_any_unpacks_into_the_real_signature_def_map():
    response = protos.tfs.GetModelMetadataResponse()
    response.model_spec.name = "resnet50"
    response.model_spec.version.value = 1
    response.metadata["signature_def"].Pack(ours_signature_def_map())

    theirs = get_model_metadata_pb2.GetModelMetadataResponse.FromString(response.SerializeToString())
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert theirs.metadata["signature_def"].Unpack(signatures)
    image = signatures.signature_def["serving_default"].inputs["image"]
    assert (image.name, image.dtype, [d.size for d in image.tensor_shape.dim]) == (
        "image:0", tf.float32.as_datatype_enum, [-1, 224, 224, 3])
    assert signatures.signature_def["serving_default"].method_name == "tensorflow/serving/predict"
    # And TensorFlow Serving's JSON (the REST metadata answer) reads the same from both.
    assert json_format.MessageToDict(signatures) == json_format.MessageToDict(ours_signature_def_map())


def test_model_status_both_ways_and_as_json():
    response = protos.tfs.GetModelStatusResponse()
    available = response.model_version_status.add(version=2, state=protos.tfs.ModelVersionStatus.AVAILABLE)
    available.status.error_code = protos.tf.ErrorCode.Value("OK")
    failed = response.model_version_status.add(version=1, state=protos.tfs.ModelVersionStatus.END)
    failed.status.error_code = protos.tf.ErrorCode.Value("NOT_FOUND")
    failed.status.error_message = "gone"

    theirs = get_model_status_pb2.GetModelStatusResponse.FromString(response.SerializeToString())
    assert [(s.version, s.state, s.status.error_code) for s in theirs.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0), (1, get_model_status_pb2.ModelVersionStatus.END, 5)]
    assert json_format.MessageToDict(theirs) == json_format.MessageToDict(response)
    assert "model_version_status" in json_format.MessageToDict(response)  # json_name, as TF Serving's REST writes it
    assert protos.tfs.GetModelStatusResponse.FromString(theirs.SerializeToString()) == response


@pytest.fixture(scope="module")
def tfs_target():
    """A gRPC server from protos.SERVICES: Predict doubles its inputs, metadata and status are fixed."""

    def predict(request, context):
        response = protos.tfs.PredictResponse(model_spec=request.model_spec)
        for name, proto in request.inputs.items():
            response.outputs[name + "_doubled"].CopyFrom(tensors.to_tensor_proto(tensors.from_tensor_proto(proto) * 2))
        return response

    def metadata(request, context):
        response = protos.tfs.GetModelMetadataResponse(model_spec=request.model_spec)
        response.metadata["signature_def"].Pack(ours_signature_def_map())
        return response

    def status(request, context):
        response = protos.tfs.GetModelStatusResponse()
        response.model_version_status.add(version=1, state=protos.tfs.ModelVersionStatus.AVAILABLE)
        return response

    implementations = {"Predict": predict, "GetModelMetadata": metadata, "GetModelStatus": status}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    for service, methods in protos.SERVICES.items():
        if service.startswith("tensorflow.serving."):
            handlers = {name: grpc.unary_unary_rpc_method_handler(implementations[name], request.FromString,
                                                                  response.SerializeToString)
                        for name, (request, response) in methods.items()}
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_stock_tensorflow_serving_stubs(tfs_target):
    with grpc.insecure_channel(tfs_target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "resnet50"
        request.model_spec.signature_name = "serving_default"
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(np.arange(6, dtype=np.float32).reshape(2, 3)))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
        assert (tf.make_ndarray(response.outputs["image_doubled"]) == np.arange(6).reshape(2, 3) * 2).all()

        metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        metadata_request.model_spec.name = "resnet50"
        metadata = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(metadata_request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        assert metadata.metadata["signature_def"].Unpack(signatures)
        assert "image" in signatures.signature_def["serving_default"].inputs

        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "resnet50"
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request)
        assert status.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE

"""Tensor codecs against the real clients' encoders and decoders: tritonclient's byte and dtype
utilities, its HTTP request builder and response parser, and its gRPC messages."""

import base64
import json
import sys

import numpy as np
import pytest
import tritonclient.grpc as tritongrpc
import tritonclient.http as tritonhttp
from tritonclient.grpc import service_pb2
from tritonclient.utils import deserialize_bytes_tensor, np_to_triton_dtype, serialize_byte_tensor, triton_to_np_dtype

from neuronkit import TensorSpec
from neuronkit.serve import protos, tensors
from neuronkit.serve.errors import InvalidArgument

NUMERIC = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
           "float16", "float32", "float64"]
STRINGS = np.array([[b"a", b""], ["naïve".encode(), b"\x00\xff\x01"]], dtype=object)


def sample(dtype: str, shape=(2, 3)) -> np.ndarray:
    return (np.arange(np.prod(shape)).reshape(shape) % 2 if dtype == "bool" else
            np.arange(np.prod(shape)).reshape(shape) * 3 + 1).astype(dtype)


@pytest.fixture
def no_ml_dtypes(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # import ml_dtypes now raises ImportError


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", NUMERIC + ["object"])
def test_v2_datatype_names_agree_with_tritonclient(dtype):
    assert tensors.v2_datatype(dtype) == np_to_triton_dtype(np.dtype(dtype))
    assert tensors.numpy_dtype_of_v2(tensors.v2_datatype(dtype)) == np.dtype(triton_to_np_dtype(
        tensors.v2_datatype(dtype)))


def test_bf16_datatype_agrees_with_tritonclient():
    import ml_dtypes

    assert tensors.v2_datatype(ml_dtypes.bfloat16) == tensors.v2_datatype("bfloat16") == "BF16"
    assert np_to_triton_dtype(np.dtype(ml_dtypes.bfloat16)) == "BF16"
    assert tensors.numpy_dtype_of_v2("BF16") == np.dtype(triton_to_np_dtype("BF16"))


def test_bf16_is_refused_clearly_without_ml_dtypes(no_ml_dtypes):
    with pytest.raises(InvalidArgument, match="ml_dtypes"):
        tensors.numpy_dtype_of_v2("BF16", "x")
    proto = protos.tf.TensorProto(dtype=protos.tf.DT_BFLOAT16, half_val=[0x3F80])
    with pytest.raises(InvalidArgument, match="'x'.*ml_dtypes"):
        tensors.from_tensor_proto(proto, "x")


def test_unknown_datatypes_are_named():
    with pytest.raises(InvalidArgument, match="'x' has datatype 'FLOAT32'; expected one of BOOL"):
        tensors.numpy_dtype_of_v2("FLOAT32", "x")
    with pytest.raises(InvalidArgument, match="'q' has dtype DT_QINT8"):
        tensors.numpy_dtype_of_tf(protos.tf.DT_QINT8, "q")
    assert tensors.tf_datatype("float32") == protos.tf.DT_FLOAT and tensors.tf_datatype(object) == protos.tf.DT_STRING
    assert tensors.numpy_dtype_of_tf(protos.tf.DT_HALF) == np.float16


# ---------------------------------------------------------------- TensorProto


@pytest.mark.parametrize("dtype", NUMERIC + ["complex64", "complex128"])
def test_tensor_proto_round_trip(dtype):
    array = sample(dtype)
    proto = protos.tf.TensorProto.FromString(tensors.to_tensor_proto(array).SerializeToString())
    assert proto.dtype == tensors.tf_datatype(dtype) and proto.tensor_content
    got = tensors.from_tensor_proto(proto)
    assert got.dtype == array.dtype and (got == array).all()
    got[0, 0] = 1  # writable: not a view on the message's bytes


def test_tensor_proto_is_little_endian_whatever_the_input():
    big = np.arange(4, dtype=">i4")
    proto = tensors.to_tensor_proto(big)
    assert proto.tensor_content == np.arange(4, dtype="<i4").tobytes()
    assert tensors.from_tensor_proto(proto).dtype == np.dtype("int32")


def test_tensor_proto_strings_scalars_and_empty():
    proto = tensors.to_tensor_proto(STRINGS)
    assert proto.dtype == protos.tf.DT_STRING and list(proto.string_val) == list(STRINGS.ravel())
    got = tensors.from_tensor_proto(proto)
    assert got.dtype == object and got.shape == (2, 2) and (got == STRINGS).all()
    assert tensors.from_tensor_proto(tensors.to_tensor_proto(np.array(["text"]))).tolist() == [b"text"]
    assert tensors.from_tensor_proto(tensors.to_tensor_proto(np.float32(2.5))).shape == ()
    assert tensors.from_tensor_proto(tensors.to_tensor_proto(np.zeros((0, 3), np.int64))).shape == (0, 3)


def tensor_proto(dtype, shape, **values):
    proto = protos.tf.TensorProto(dtype=dtype, **values)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def test_typed_values_one_fills_the_shape_fewer_repeat_the_last():
    assert tensors.from_tensor_proto(tensor_proto(protos.tf.DT_FLOAT, [2, 2], float_val=[1.5])).tolist() == [
        [1.5, 1.5], [1.5, 1.5]]
    assert tensors.from_tensor_proto(tensor_proto(protos.tf.DT_INT32, [4], int_val=[1, 2])).tolist() == [1, 2, 2, 2]
    assert tensors.from_tensor_proto(tensor_proto(protos.tf.DT_STRING, [3], string_val=[b"s"])).tolist() == [b"s"] * 3
    assert tensors.from_tensor_proto(tensor_proto(protos.tf.DT_INT64, [], int64_val=[-5])).tolist() == -5


@pytest.mark.parametrize("dtype, field, values, expected", [
    ("DT_DOUBLE", "double_val", [0.25, 2], [0.25, 2.0]),
    ("DT_UINT8", "int_val", [0, 255], [0, 255]),
    ("DT_INT16", "int_val", [-300, 300], [-300, 300]),
    ("DT_UINT32", "uint32_val", [0, 2**32 - 1], [0, 2**32 - 1]),
    ("DT_UINT64", "uint64_val", [0, 2**64 - 1], [0, 2**64 - 1]),
    ("DT_BOOL", "bool_val", [True, False], [True, False]),
    ("DT_HALF", "half_val", [0x3C00, 0xC000], [1.0, -2.0]),  # float16 bit patterns
    ("DT_COMPLEX64", "scomplex_val", [1, 2, 3, -4], [1 + 2j, 3 - 4j]),
])
def test_typed_values_of_each_dtype(dtype, field, values, expected):
    proto = tensor_proto(protos.tf.DataType.Value(dtype), [2], **{field: values})
    got = tensors.from_tensor_proto(proto)
    assert got.dtype == tensors.numpy_dtype_of_tf(proto.dtype) and got.tolist() == expected


def test_bfloat16_half_val():
    import ml_dtypes

    got = tensors.from_tensor_proto(tensor_proto(protos.tf.DT_BFLOAT16, [2], half_val=[0x3F80, 0xC040]))
    assert got.dtype == ml_dtypes.bfloat16 and got.astype(np.float32).tolist() == [1.0, -3.0]


@pytest.mark.parametrize("proto, message", [
    (tensor_proto(1, [2, 3], float_val=[1.0] * 7), r"'t': shape \[2, 3\] holds 6 values; float_val has 7"),
    (tensor_proto(1, [2]), "holds 2 values; float_val has 0"),
    (tensor_proto(1, [2], tensor_content=b"\0" * 7), "needs 8 bytes, got 7"),
    (tensor_proto(1, [-1, 2], float_val=[1.0]), "unknown"),
    (tensor_proto(6, [1], int_val=[128]), "out of range for int8"),
    (tensor_proto(7, [1], tensor_content=b"abc"), "string_val"),
    (tensor_proto(0, [1]), "DT_INVALID"),
])
def test_bad_tensor_protos_are_refused_by_name(proto, message):
    with pytest.raises(InvalidArgument, match=message):
        tensors.from_tensor_proto(proto, "t")


# ---------------------------------------------------------------- KServe v2 binary and gRPC


def test_bytes_elements_agree_with_tritonclient():
    assert tensors.to_binary(STRINGS) == serialize_byte_tensor(STRINGS).item()  # a 0-d object array
    assert (deserialize_bytes_tensor(tensors.to_binary(STRINGS)) == STRINGS.ravel()).all()
    got = tensors.from_binary("BYTES", [2, 2], serialize_byte_tensor(STRINGS).item(), "s")
    assert got.dtype == object and (got == STRINGS).all()


@pytest.mark.parametrize("chunk, message", [
    (b"\x05\x00\x00\x00abc", "declares 5 bytes, but only 3 are left"),
    (b"\x01\x00\x00\x00a\x01\x00", "4-byte length prefix"),
    (b"\x01\x00\x00\x00a", "holds 2 elements; the BYTES data has 1"),
])
def test_bad_bytes_elements(chunk, message):
    with pytest.raises(InvalidArgument, match=message):
        tensors.from_binary("BYTES", [2], chunk, "s")


@pytest.mark.parametrize("dtype", NUMERIC)
def test_raw_input_contents_from_tritonclient(dtype):
    array = sample(dtype)
    infer_input = tritongrpc.InferInput("x", list(array.shape), np_to_triton_dtype(array.dtype))
    infer_input.set_data_from_numpy(array)
    # The message and raw bytes tritonclient puts in a ModelInferRequest, parsed as our message.
    request = service_pb2.ModelInferRequest(inputs=[infer_input._get_tensor()],
                                            raw_input_contents=[infer_input._get_content()])
    ours = protos.kserve.ModelInferRequest.FromString(request.SerializeToString())
    got = tensors.from_infer_input(ours.inputs[0], ours.raw_input_contents[0])
    assert got.dtype == array.dtype and (got == array).all()


@pytest.mark.parametrize("datatype, field, values, expected", [
    ("FP32", "fp32_contents", [0.5, -1], [0.5, -1.0]),
    ("FP64", "fp64_contents", [0.1, 2], [0.1, 2.0]),
    ("INT8", "int_contents", [-128, 127], [-128, 127]),
    ("INT64", "int64_contents", [-(2**40), 3], [-(2**40), 3]),
    ("UINT16", "uint_contents", [0, 65535], [0, 65535]),
    ("UINT64", "uint64_contents", [2**64 - 1, 0], [2**64 - 1, 0]),
    ("BOOL", "bool_contents", [True, False], [True, False]),
    ("BYTES", "bytes_contents", [b"x", b"yz"], [b"x", b"yz"]),
])
def test_typed_contents(datatype, field, values, expected):
    theirs = service_pb2.ModelInferRequest.InferInputTensor(name="x", datatype=datatype, shape=[2])
    getattr(theirs.contents, field).extend(values)
    ours = protos.kserve.InferInputTensor.FromString(theirs.SerializeToString())
    got = tensors.from_infer_input(ours)
    assert got.dtype == tensors.numpy_dtype_of_v2(datatype) and got.tolist() == expected


def infer_input(datatype="FP32", shape=(2,), **contents):
    return protos.kserve.InferInputTensor(name="x", datatype=datatype, shape=list(shape),
                                          contents=protos.kserve.InferTensorContents(**contents))


@pytest.mark.parametrize("tensor, raw, message", [
    (infer_input(shape=[2, 2]), b"\0" * 12, r"'x': shape \[2, 2\] of float32 needs 16 bytes, got 12"),
    (infer_input(fp32_contents=[1.0]), None, r"shape \[2\] holds 2 values; contents.fp32_contents has 1"),
    (infer_input(fp32_contents=[1.0, 2.0]), b"\0" * 8, "both raw_input_contents and contents"),
    (infer_input("FP16", fp32_contents=[1.0, 2.0]), None, "FP16 tensors must be sent as raw_input_contents"),
    (infer_input("INT8", int_contents=[1, 300]), None, "out of range for int8"),
    (infer_input("FLOAT", fp32_contents=[1.0, 2.0]), None, "'x' has datatype 'FLOAT'"),
    (infer_input(shape=[-1]), b"", "non-negative"),
])
def test_bad_infer_inputs_are_refused_by_name(tensor, raw, message):
    with pytest.raises(InvalidArgument, match=message):
        tensors.from_infer_input(tensor, raw)


@pytest.mark.parametrize("array", [sample("float32"), sample("int64", (3,)), sample("float16"), STRINGS,
                                   np.arange(3, dtype=">f8")], ids=lambda a: a.dtype.str)
def test_infer_output_read_by_tritonclient(array):
    tensor, raw = tensors.to_infer_output("y", array)
    response = protos.kserve.ModelInferResponse(model_name="m", outputs=[tensor], raw_output_contents=[raw])
    result = tritongrpc.InferResult(service_pb2.ModelInferResponse.FromString(response.SerializeToString()))
    got = result.as_numpy("y")
    assert got.shape == array.shape and (got == array).all()


# ---------------------------------------------------------------- KServe v2 JSON and the binary extension


def split_body(body: bytes, json_size: int | None):
    header = json.loads(body[:json_size] if json_size else body)
    return header, body[json_size:] if json_size else b""


@pytest.mark.parametrize("array", [sample(d) for d in NUMERIC] + [STRINGS[:, :1]], ids=lambda a: str(a.dtype))
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_http_request_bodies(array, binary):
    if array.dtype == object and not binary:
        array = np.array([[b"a"], ["naïve".encode()]], dtype=object)  # JSON carries text
    infer_input = tritonhttp.InferInput("x", list(array.shape), np_to_triton_dtype(array.dtype))
    infer_input.set_data_from_numpy(array, binary_data=binary)
    body, json_size = tritonhttp.InferenceServerClient.generate_request_body([infer_input])
    header, chunks = split_body(body, json_size)
    tensor = header["inputs"][0]
    if binary:
        got = tensors.from_binary(tensor["datatype"], tensor["shape"], chunks, tensor["name"])
        assert len(chunks) == tensor["parameters"]["binary_data_size"]
    else:
        got = tensors.from_json_v2(tensor)
    assert got.dtype == array.dtype and got.shape == array.shape and (got == array).all()


def test_response_body_parsed_by_tritonclient():
    probabilities, labels = np.random.default_rng(0).random((2, 5), dtype=np.float32), STRINGS
    as_json, as_binary = tensors.to_json_v2("probabilities", probabilities), tensors.to_binary(labels)
    header = {"model_name": "m", "outputs": [
        as_json, {"name": "labels", "datatype": tensors.v2_datatype(labels.dtype), "shape": list(labels.shape),
                  "parameters": {"binary_data_size": len(as_binary)}}]}
    head = json.dumps(header).encode()
    result = tritonhttp.InferenceServerClient.parse_response_body(head + as_binary, header_length=len(head))
    assert (result.as_numpy("probabilities") == probabilities).all()
    assert (result.as_numpy("labels") == labels).all()


def test_json_v2_nested_flat_and_every_type():
    flat = {"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]}
    nested = dict(flat, data=[[1, 2], [3, 4]])
    assert tensors.from_json_v2(flat).tolist() == tensors.from_json_v2(nested).tolist() == [[1, 2], [3, 4]]
    assert tensors.from_json_v2({"name": "b", "shape": [2], "datatype": "BOOL", "data": [True, False]}).dtype == bool
    assert tensors.from_json_v2({"name": "f", "shape": [1], "datatype": "FP64", "data": [1]}).tolist() == [1.0]
    wide = tensors.from_json_v2({"name": "u", "shape": [2], "datatype": "UINT64", "data": [0, 2**64 - 1]})
    assert wide.dtype == np.uint64 and wide.tolist() == [0, 2**64 - 1]
    text = tensors.from_json_v2({"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", "é"]})
    assert text.tolist() == [b"a", "é".encode()]
    assert tensors.from_json_v2({"name": "e", "shape": [0, 3], "datatype": "FP32", "data": []}).shape == (0, 3)
    bf16 = tensors.from_json_v2({"name": "h", "shape": [2], "datatype": "BF16", "data": [1.5, -2]})
    assert tensors.v2_datatype(bf16.dtype) == "BF16" and bf16.astype(np.float32).tolist() == [1.5, -2.0]
    assert tensors.to_json_v2("s", np.array([b"a", b"\xff"], dtype=object))["data"] == ["a", {"b64": "/w=="}]
    assert tensors.to_json_v2("h", np.array([0.5], np.float16)) == {
        "name": "h", "datatype": "FP16", "shape": [1], "data": [0.5]}


@pytest.mark.parametrize("tensor, message", [
    ({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}, r"'x': shape \[2, 2\] holds 4 values"),
    ({"name": "x", "shape": [2], "datatype": "FP32", "data": [[1, 2], [3]]}, "unequal lengths"),
    ({"name": "x", "shape": [2], "datatype": "INT32", "data": [1.5, 2]}, "expected INT32 values, got fractional"),
    ({"name": "x", "shape": [2], "datatype": "FP32", "data": ["1", "2"]}, "expected FP32 values, got strings"),
    ({"name": "x", "shape": [2], "datatype": "BOOL", "data": [1, 0]}, "expected BOOL values"),
    ({"name": "x", "shape": [1], "datatype": "BYTES", "data": [3]}, "expected strings"),
    ({"name": "x", "shape": [1], "datatype": "UINT8", "data": [256]}, "out of range for uint8"),
    ({"name": "x", "shape": [1], "datatype": "INT64", "data": [2**64]}, "out of range for int64"),
    ({"name": "x", "shape": [2], "datatype": "INT64", "data": [-1, 2**63]}, "out of range for int64"),
    ({"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}, "'x' has datatype 'FP99'"),
    ({"name": "x", "shape": "2", "datatype": "FP32", "data": [1]}, "shape must be a list"),
    ({"name": "x", "datatype": "FP32"}, "'x' lacks 'shape', 'data'"),
    ({"shape": [1]}, '"name" must be a string'),
])
def test_bad_json_v2_tensors_are_refused_by_name(tensor, message):
    with pytest.raises(InvalidArgument, match=message):
        tensors.from_json_v2(tensor)


# ---------------------------------------------------------------- TensorFlow Serving REST

IMAGE = TensorSpec("image", "float32", (None, 2))
KEYS = TensorSpec("key", "object", (None,))


def test_tfs_row_format_single_and_named_inputs():
    inputs, row = tensors.from_tfs_json({"instances": [[1, 2], [3, 4]]}, [IMAGE])
    assert row and inputs["image"].dtype == np.float32 and inputs["image"].tolist() == [[1, 2], [3, 4]]
    body = {"instances": [{"image": [1, 2], "key": "a"}, {"image": [3, 4], "key": {"b64": "AAE="}}]}
    inputs, row = tensors.from_tfs_json(body, [IMAGE, KEYS])
    assert row and inputs["key"].tolist() == [b"a", b"\x00\x01"] and inputs["image"].shape == (2, 2)


def test_tfs_columnar_single_and_named_inputs():
    inputs, row = tensors.from_tfs_json({"inputs": [[1, 2]]}, [IMAGE])
    assert not row and inputs["image"].tolist() == [[1, 2]]
    inputs, row = tensors.from_tfs_json({"inputs": {"image": [[1, 2]], "key": [{"b64": "eA=="}]}}, [IMAGE, KEYS])
    assert not row and inputs["key"].tolist() == [b"x"]
    inputs, _ = tensors.from_tfs_json({"inputs": {"b64": base64.b64encode(b"raw").decode()}},
                                      [TensorSpec("blob", "object", ())])
    assert inputs["blob"].item() == b"raw"


@pytest.mark.parametrize("body, specs, message", [
    ({"instances": [[1, 2]], "inputs": [[1, 2]]}, [IMAGE], "exactly one of .* got both"),
    ({"signature_name": "serving_default"}, [IMAGE], "exactly one of .* got neither"),
    ({"instances": []}, [IMAGE], "non-empty list"),
    ({"instances": [{"image": [1, 2]}, {"key": "a"}]}, [IMAGE, KEYS], "must name the same inputs"),
    ({"instances": [{"image": [1, 2]}, [3, 4]]}, [IMAGE], "mixes"),
    ({"instances": [[1, 2]]}, [IMAGE, KEYS], "takes 2 inputs .*name each"),
    ({"inputs": {"image": [[1, 2]]}}, [IMAGE, KEYS], "missing input 'key'"),
    ({"inputs": {"imag": [[1, 2]]}}, [IMAGE], "unknown input 'imag'; the model takes image: float32"),
    ({"inputs": [[1, 2, 3]]}, [IMAGE], r"'image' has shape \[1, 3\]; expected float32\[N, 2\]"),
    ({"inputs": [1, 2]}, [IMAGE], r"'image' has shape \[2\]"),
    ({"instances": [[1, 2], [3]]}, [IMAGE], "unequal lengths"),
    ({"inputs": [["a", "b"]]}, [IMAGE], "got strings"),
    ({"inputs": [{"b64": "!!"}]}, [KEYS], "not valid base64"),
    ({"inputs": [1]}, [KEYS], "expected strings"),
    ({"inputs": {"key": [{"a": 1}]}}, [KEYS], "got an object"),
    ([1, 2], [IMAGE], "JSON object"),
])
def test_bad_tfs_bodies_are_refused(body, specs, message):
    with pytest.raises(InvalidArgument, match=message):
        tensors.from_tfs_json(body, specs)


def test_tfs_answers():
    scores = np.array([[0.5, 0.25], [1, 0]], dtype=np.float32)
    assert tensors.to_tfs_json({"scores": scores}, row_format=True) == {"predictions": [[0.5, 0.25], [1.0, 0.0]]}
    assert tensors.to_tfs_json({"scores": scores}, row_format=False) == {"outputs": [[0.5, 0.25], [1.0, 0.0]]}
    both = {"scores": scores, "ids_bytes": np.array([b"a", b"b"], dtype=object)}
    assert tensors.to_tfs_json(both, row_format=True) == {"predictions": [
        {"scores": [0.5, 0.25], "ids_bytes": {"b64": "YQ=="}}, {"scores": [1.0, 0.0], "ids_bytes": {"b64": "Yg=="}}]}
    assert tensors.to_tfs_json(both, row_format=False) == {"outputs": {
        "scores": [[0.5, 0.25], [1.0, 0.0]], "ids_bytes": [{"b64": "YQ=="}, {"b64": "Yg=="}]}}
    assert tensors.to_tfs_json({"label": np.array([b"cat"], dtype=object)}, True) == {"predictions": ["cat"]}
    json.dumps(tensors.to_tfs_json({"h": np.array([1.5], np.float16)}, True))  # plain floats, JSON-ready


def test_tfs_rows_need_a_shared_batch_dimension():
    from neuronkit.serve.errors import ServeError

    with pytest.raises(ServeError, match="do not share a batch dimension"):
        tensors.to_tfs_json({"a": np.zeros((2, 1)), "b": np.zeros((3,))}, row_format=True)

"""Bad requests get a 4xx / INVALID_ARGUMENT or NOT_FOUND that names what was expected, and the
server goes on serving."""

import json

import grpc
import httpx
import numpy as np
import pytest
from conftest import config, rows

from neuronkit.serve import background


def post(served, path, **kwargs):
    return httpx.post(f"{served.rest_url}{path}", **kwargs)


V2 = "/v2/models/two/infer"
TFS = "/v1/models/two:predict"


def v2_body(**override):
    data = rows(2)
    inputs = [{"name": n, "shape": list(a.shape), "datatype": "FP32", "data": a.ravel().tolist()}
              for n, a in data.items()]
    for i, changes in override.items():
        inputs[int(i[1:])].update(changes)
    return {"inputs": inputs}


@pytest.mark.parametrize("path, kwargs, status, message", [
    (TFS, {"content": b"{not json"}, 400, "not valid JSON"),
    (TFS, {"json": [1, 2]}, 400, "JSON object"),
    (TFS, {"json": {"instances": [], "inputs": {}}}, 400, "instances"),
    (TFS, {"json": {"inputs": {"x": [[1, 2, 3, 4]]}}}, 400, "scale"),
    (TFS, {"json": {"inputs": {"x": [[1, 2, 3]], "scale": [[1]]}}}, 400, "float32[N, 4]"),
    (TFS, {"json": {"inputs": {"x": [[1, 2, 3, 4]], "scale": [[1]]}, "signature_name": "other"}}, 400,
     "serving_default"),
    ("/v1/models/nope:predict", {"json": {"inputs": {}}}, 404, "served models: two"),
    ("/v1/models/..%2F..%2Ftmp:predict", {"json": {"inputs": {}}}, 404, "no such endpoint"),
    ("/v2/models/..%2Fetc/infer", {"json": v2_body()}, 404, "no such endpoint"),
    ("/v1/models/two/versions/9:predict", {"json": {"inputs": {}}}, 404, "versions served: [1]"),
    ("/v1/models/two/versions/x:predict", {"json": {"inputs": {}}}, 400, "version number"),
    ("/v1/models/two/labels/stable:predict", {"json": {"inputs": {}}}, 400, "labels are not supported"),
    ("/v1/models/two:classify", {"json": {"examples": []}}, 501, "use :predict"),
    (V2, {"content": b"[[["}, 400, "not valid"),
    (V2, {"json": {"inputs": []}}, 400, '"inputs"'),
    (V2, {"json": v2_body(i0={"name": "z"})}, 400, "no input 'z'; its inputs are ['x', 'scale']"),
    (V2, {"json": v2_body(i0={"datatype": "FP64"})}, 400, "expects FP32"),
    (V2, {"json": v2_body(i0={"datatype": "FLOAT"})}, 400, "FLOAT"),
    (V2, {"json": v2_body(i0={"shape": [2, 3]})}, 400, "x"),
    (V2, {"json": v2_body(i1={"shape": [2, 2]})}, 400, "scale"),
    (V2, {"json": {**v2_body(), "outputs": [{"name": "q"}]}}, 400, "no output 'q'"),
    ("/v2/models/nope/infer", {"json": v2_body()}, 404, "not served"),
    ("/v2/models/two/versions/3/infer", {"json": v2_body()}, 404, "no version 3"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None)
def test_bad_rest_requests(served, path, kwargs, status, message):
    r = post(served, path, **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert httpx.get(f"{served.rest_url}/v2/health/ready").status_code == 200


@pytest.mark.parametrize("header, extra, message", [
    ("10", b"", "not valid"),               # the header length cuts the JSON short
    (None, b"\0" * 8, "not valid"),         # binary bytes but no header
    ("abc", b"", "Inference-Header-Content-Length"),
    ("999999", b"", "Inference-Header-Content-Length"),
    ("LEN", b"\0" * 4, "only 4 bytes"),     # fewer bytes than the inputs declare
    ("LEN", b"\0" * 44, "add up to 40"),    # more bytes than they declare
])
def test_binary_extension_lengths_must_agree(served, header, extra, message):
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}},
                       {"name": "scale", "shape": [2, 1], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    head = json.dumps(body).encode()
    length = str(len(head)) if header == "LEN" else header
    headers = {} if length is None else {"Inference-Header-Content-Length": length}
    r = post(served, V2, content=head + extra, headers=headers)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


def test_a_body_over_the_limit_is_refused(model_path):
    with background(config({"two": model_path}, max_body_mb=0.001)) as server:
        big = {"inputs": {"x": [[0.0] * 4] * 200, "scale": [[1.0]] * 200}}
        r = httpx.post(f"{server.rest_url}{TFS}", json=big)
        assert r.status_code == 413 and "--max-body-mb" in r.json()["error"]
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        client = grpcclient.InferenceServerClient(server.grpc_target)
        tensor = grpcclient.InferInput("x", [400, 4], "FP32")
        tensor.set_data_from_numpy(np.zeros((400, 4), np.float32))
        with pytest.raises(InferenceServerException, match="RESOURCE_EXHAUSTED|larger than max"):
            client.infer("two", [tensor])
        small = {"inputs": {"x": [[0.0] * 4], "scale": [[1.0]]}}
        assert httpx.post(f"{server.rest_url}{TFS}", json=small).status_code == 200


def test_bad_grpc_requests(served):
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(served.grpc_target)
    x = grpcclient.InferInput("x", [1, 4], "FP64")
    x.set_data_from_numpy(np.zeros((1, 4), np.float64))
    scale = grpcclient.InferInput("scale", [1, 1], "FP32")
    scale.set_data_from_numpy(np.ones((1, 1), np.float32))
    with pytest.raises(InferenceServerException, match="INVALID_ARGUMENT.*expects FP32") as info:
        client.infer("two", [x, scale])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException, match="NOT_FOUND"):
        client.infer("nope", [x, scale])
    with pytest.raises(InferenceServerException, match="NOT_FOUND"):
        client.get_model_metadata("nope")
    assert client.is_server_ready()


def test_unknown_rest_paths_answer_json(served):
    r = httpx.get(f"{served.rest_url}/v3/what")
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
    r = httpx.delete(f"{served.rest_url}/v2/models/two")
    assert r.status_code == 405 and "error" in r.json()


def test_unimplemented_grpc_methods(served):
    channel = grpc.insecure_channel(served.grpc_target)
    classify = channel.unary_unary("/tensorflow.serving.PredictionService/Classify")
    with pytest.raises(grpc.RpcError) as info:
        classify(b"")
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED

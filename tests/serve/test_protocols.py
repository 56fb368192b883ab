"""Each protocol answered as its own client library expects, with the in-process answer."""

import httpx
import numpy as np
import pytest
from conftest import rows


def check_same(outputs, reference, inputs):
    y, label = reference(inputs)
    np.testing.assert_allclose(outputs["y"], y, rtol=1e-6)
    np.testing.assert_array_equal(outputs["label"], label)


# -- KServe v2 with tritonclient, the client Triton and KServe users have
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_rest_with_tritonclient(served, reference, binary):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(served.rest_url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("two")
    assert client.get_server_metadata()["name"] == "neuronkit"
    meta = client.get_model_metadata("two")
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]},
                              {"name": "scale", "datatype": "FP32", "shape": [-1, 1]}]
    assert meta["outputs"][1] == {"name": "label", "datatype": "INT64", "shape": [-1]}
    data = rows(5)
    inputs = []
    for name, array in data.items():
        tensor = httpclient.InferInput(name, list(array.shape), "FP32")
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("y", "label")]
    result = client.infer("two", inputs, outputs=outputs, request_id="r1")
    assert result.get_response()["id"] == "r1"
    check_same({n: result.as_numpy(n) for n in ("y", "label")}, reference, data)


def test_kserve_grpc_with_tritonclient(served, reference):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(served.grpc_target)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("two")
    assert not client.is_model_ready("two", "7")
    assert client.get_server_metadata().name == "neuronkit"
    meta = client.get_model_metadata("two", as_json=True)
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [("x", "FP32", ["-1", "4"]),
                                                                                ("scale", "FP32", ["-1", "1"])]
    data = rows(3, seed=1)
    inputs = []
    for name, array in data.items():
        tensor = grpcclient.InferInput(name, list(array.shape), "FP32")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    result = client.infer("two", inputs, model_version="1")
    check_same({n: result.as_numpy(n) for n in ("y", "label")}, reference, data)
    only = client.infer("two", inputs, outputs=[grpcclient.InferRequestedOutput("label")])
    assert only.as_numpy("y") is None
    np.testing.assert_array_equal(only.as_numpy("label"), reference(data)[1])


# -- TensorFlow Serving REST, as curl or requests users call it
def test_tfserving_rest_row_and_columnar(served, reference):
    data = rows(2, seed=2)
    instances = [{"x": data["x"][i].tolist(), "scale": data["scale"][i].tolist()} for i in range(2)]
    r = httpx.post(f"{served.rest_url}/v1/models/two:predict", json={"instances": instances})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    check_same({"y": np.array([p["y"] for p in predictions], np.float32),
                "label": np.array([p["label"] for p in predictions])}, reference, data)

    r = httpx.post(f"{served.rest_url}/v1/models/two/versions/1:predict",
                   json={"signature_name": "serving_default",
                         "inputs": {k: v.tolist() for k, v in data.items()}})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    check_same({k: np.asarray(v) for k, v in outputs.items()}, reference, data)


def test_tfserving_rest_status_and_metadata(served):
    status = httpx.get(f"{served.rest_url}/v1/models/two").json()
    assert status == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                "status": {"error_code": "OK", "error_message": ""}}]}
    meta = httpx.get(f"{served.rest_url}/v1/models/two/versions/1/metadata").json()
    assert meta["model_spec"] == {"name": "two", "version": "1", "signature_name": "serving_default"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "4"]
    assert sig["outputs"]["label"]["dtype"] == "DT_INT64"


def test_metrics_count_requests_and_batches(served):
    httpx.post(f"{served.rest_url}/v1/models/two:predict", json={"inputs": {k: v.tolist() for k, v in rows(1).items()}})
    httpx.post(f"{served.rest_url}/v1/models/nope:predict", json={"inputs": {}})
    text = httpx.get(f"{served.rest_url}/metrics").text
    assert 'neuronkit_requests_total{model="two",outcome="ok",protocol="tfserving-rest",version="1"}' in text
    assert 'neuronkit_requests_total{model="",outcome="not_found",protocol="tfserving-rest",version=""}' in text
    assert 'neuronkit_batch_size_count{model="two",version="1"}' in text
    assert 'neuronkit_replicas_busy{model="two",version="1"} 0.0' in text

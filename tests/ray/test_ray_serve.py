"""neuronkit.serve.ray on a local Ray: KServe v2 over Serve's HTTP proxy, batching, placement, bad input."""

import asyncio
import json
import time

import httpx
import numpy as np
import pytest
from ray import serve

import neuronkit
from neuronkit.serve.ray import build_app, resources_for
from neuronkit.testing import make_fake_host
from neuronkit.testing.models import two_input_onnx


def rows(n, seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((n, 4)).astype(np.float32),
            "scale": rng.uniform(0.5, 2, (n, 1)).astype(np.float32)}


def v2_body(inputs):
    return {"inputs": [{"name": k, "shape": list(v.shape), "datatype": "FP32", "data": v.ravel().tolist()}
                       for k, v in inputs.items()]}


async def post_all(url, bodies):
    async with httpx.AsyncClient(timeout=60) as client:
        return await asyncio.gather(*(client.post(url, json=b) for b in bodies))


@pytest.fixture(scope="module")
def cpu_app(serve_url, tmp_path_factory):
    """The ONNX model on the cpu target, served as ``two`` under ``/two``; its infer URL, handle and path."""
    path = tmp_path_factory.mktemp("models") / "two.nk"
    neuronkit.compile(two_input_onnx(), "onnx").save(path)
    handle = serve.run(build_app(path, name="two", batch_wait_timeout_s=0.05), name="two", route_prefix="/two")
    yield f"{serve_url}/two/v2/models/two/infer", handle, path
    serve.delete("two")


def test_cpu_replica_answers_v2_json_as_in_process_and_merges_requests(cpu_app):
    url, handle, path = cpu_app
    requests = [rows(1 + i % 3, seed=i) for i in range(24)]
    answers = asyncio.run(post_all(url, [v2_body(r) for r in requests]))
    with neuronkit.load(path) as rt:
        for request, answer in zip(requests, answers):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["model_name"] == "two" and body["model_version"] == "1"
            got = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in body["outputs"]}
            assert [o["datatype"] for o in body["outputs"]] == ["FP32", "INT64"]
            y, label = rt(request)
            np.testing.assert_allclose(got["y"], y, rtol=1e-6)
            np.testing.assert_array_equal(got["label"], label)
    # 24 requests sent at once, one replica: @serve.batch merged some of them.
    sizes = handle.stats.remote().result()["batch_sizes"]  # {batch size: count}
    assert sum(size * n for size, n in sizes.items()) >= 24 and max(sizes) > 1, sizes


def test_binary_tensor_extension_passes_through_serve(cpu_app):
    url, _, path = cpu_app
    request = rows(2, seed=7)
    header = {"inputs": [{"name": k, "shape": list(v.shape), "datatype": "FP32",
                          "parameters": {"binary_data_size": v.nbytes}} for k, v in request.items()],
              "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}
    head = json.dumps(header).encode()
    answer = httpx.post(url, content=head + b"".join(v.tobytes() for v in request.values()), timeout=60,
                        headers={"Inference-Header-Content-Length": str(len(head))})
    assert answer.status_code == 200, answer.text
    n = int(answer.headers["Inference-Header-Content-Length"])
    assert json.loads(answer.content[:n])["outputs"][0]["parameters"]["binary_data_size"] == 2 * 3 * 4
    with neuronkit.load(path) as rt:
        np.testing.assert_allclose(np.frombuffer(answer.content[n:], np.float32).reshape(2, 3), rt(request)[0],
                                   rtol=1e-6)


def test_handle_callers_get_named_arrays(cpu_app):
    _, handle, path = cpu_app
    request = rows(5, seed=99)
    got = handle.predict.remote(request).result()
    with neuronkit.load(path) as rt:
        y, label = rt(request)
    assert list(got) == ["y", "label"]
    np.testing.assert_allclose(got["y"], y, rtol=1e-6)
    np.testing.assert_array_equal(got["label"], label)


@pytest.mark.parametrize("mutate, status, message", [
    (lambda b: b["inputs"][0].update(name="z"), 400, "no input 'z'"),
    (lambda b: b["inputs"][0].update(datatype="FP64"), 400, "expects FP32"),
    (lambda b: b["inputs"][0].update(shape=[2, 5]), 400, "shape"),
    (lambda b: b.update(outputs=[{"name": "nope"}]), 400, "no output 'nope'"),
    (lambda b: b["inputs"].pop(), 400, "input names"),
])
def test_bad_input_is_refused_with_a_message(cpu_app, mutate, status, message):
    url, _, _ = cpu_app
    body = v2_body(rows(2, seed=1))
    mutate(body)
    answer = httpx.post(url, json=body, timeout=60)
    assert answer.status_code == status and message in answer.json()["error"], answer.text


def test_malformed_requests_and_unknown_models_then_the_app_keeps_serving(cpu_app):
    url, _, _ = cpu_app
    malformed = httpx.post(url, content=b'{"inputs": [', headers={"content-type": "application/json"}, timeout=60)
    assert malformed.status_code == 400 and "JSON" in malformed.json()["error"]
    unknown = httpx.post(url.replace("/models/two/", "/models/three/"), json=v2_body(rows(1, 0)), timeout=60)
    assert unknown.status_code == 404 and "two" in unknown.json()["error"]
    version = httpx.post(url.replace("/two/infer", "/two/versions/7/infer"), json=v2_body(rows(1, 0)), timeout=60)
    assert version.status_code == 404 and "version" in version.json()["error"]
    ok = httpx.post(url.replace("/two/infer", "/two/versions/1/infer"), json=v2_body(rows(3, 0)), timeout=60)
    assert ok.status_code == 200 and ok.json()["outputs"][0]["shape"] == [3, 3]


def test_an_artifact_with_a_fixed_batch_runs_every_request_alone(serve_url, tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "fixed",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                              [numpy_helper.from_array(np.ones((4, 3), np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "fixed.nk"
    neuronkit.compile(model, "onnx").save(path)
    handle = serve.run(build_app(path, batch_wait_timeout_s=0.05), name="fixed", route_prefix="/fixed")
    try:
        bodies = [{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [i] * 8}]} for i in range(8)]
        answers = asyncio.run(post_all(f"{serve_url}/fixed/v2/models/fixed/infer", bodies))
        assert [a.json()["outputs"][0]["data"] for a in answers] == [[4 * i] * 6 for i in range(8)]
        assert list(handle.stats.remote().result()["batch_sizes"]) == [1]
    finally:
        serve.delete("fixed")


def test_resources_follow_the_target(tmp_path, fake_neuron_host):
    cpu = neuronkit.compile(np.eye(2, dtype=np.float32), "echo")
    assert resources_for(cpu.manifest) == ({"num_cpus": 1}, 1)
    assert resources_for(cpu.manifest, group_size=2) == ({"num_cpus": 2}, 2)
    fake_neuron_host(1, 2, "NCv2", "inf2.xlarge")
    inf2 = neuronkit.compile(np.eye(2, dtype=np.float32), "echo", target="inf2")
    assert resources_for(inf2.manifest) == ({"resources": {"neuron_cores": 1}}, None)
    assert resources_for(inf2.manifest, group_size=2) == ({"resources": {"neuron_cores": 2}}, None)


@pytest.fixture(scope="module")
def neuron_app(serve_url, tmp_path_factory, cpu_app):
    """An inf2 echo artifact on two replicas of one NeuronCore each, on a fake inf2.xlarge."""
    serve.delete("two")  # its replica holds a CPU this app's replicas need
    root = make_fake_host(tmp_path_factory.mktemp("sysroot"), devices=1, cores_per_device=2, arch="NCv2",
                          instance_type="inf2.xlarge")
    env = {"NEURONKIT_SYSROOT": str(root)}
    path = tmp_path_factory.mktemp("models") / "echo.nk"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEURONKIT_SYSROOT", str(root))
        neuronkit.compile(np.eye(2, dtype=np.float32), "echo", target="inf2").save(path)
    app = build_app(path, name="echo", num_replicas=2,
                    ray_actor_options={"num_cpus": 0.5, "runtime_env": {"env_vars": env}})
    handle = serve.run(app, name="echo", route_prefix="/echo")
    yield f"{serve_url}/echo/v2/models/echo/infer", handle
    serve.delete("echo")


def replica_stats(handle, replicas=2, timeout=30):
    """``stats()`` of every replica, by pid (the router picks the replica, so ask until all answered)."""
    seen, deadline = {}, time.monotonic() + timeout
    while len(seen) < replicas and time.monotonic() < deadline:
        for s in [r.result() for r in [handle.stats.remote() for _ in range(8)]]:
            seen[s["pid"]] = s
    return list(seen.values())


def test_neuron_replicas_load_on_the_cores_ray_assigned(neuron_app):
    url, handle = neuron_app
    bodies = [{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [i, 1]}]} for i in range(40)]
    answers = asyncio.run(post_all(url, bodies))
    for i, answer in enumerate(answers):
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [i, 1]
    stats = replica_stats(handle)
    assert sorted(s["visible_cores"] for s in stats) == ["0", "1"]
    assert all(s["batch_sizes"] for s in stats), "both replicas served requests"
    np.testing.assert_array_equal(handle.predict.remote({"x": np.ones((3, 2), np.float32)}).result()["y"],
                                  np.ones((3, 2)))


def test_core_output_names_both_physical_cores(neuron_app):
    url, _ = neuron_app
    bodies = [{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [i, 1]}]} for i in range(40)]
    answers = asyncio.run(post_all(url, bodies))
    cores = {a.json()["outputs"][1]["data"][0] for a in answers}
    assert cores == {0, 1}

"""The seed's serving step: a compiled ResNet50 served by `neuronkit serve`, queried with the stock
TensorFlow Serving gRPC client (tensorflow-serving-api, installed with --no-deps beside
tensorflow-cpu), gives the in-process top 5."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuronkit
from neuronkit.images import load_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_stock_tf_serving_client_gets_the_in_process_top5(resnet50, tmp_path):
    pytest.importorskip("tensorflow_serving", reason="the tf env installs tensorflow-serving-api --no-deps")
    _, preprocess, path = resnet50
    art = neuronkit.open_artifact(path)
    x = load_image(ROOT / "examples" / "data" / "cat.png", art.inputs[0], preprocess)
    np.save(tmp_path / "cat.npy", x)
    with neuronkit.load(art) as rt:
        want = rt(x)[0]

    server = subprocess.Popen([sys.executable, "-m", "neuronkit.cli", "serve", str(path), "--rest-port", "0",
                               "--grpc-port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        target = None
        for line in server.stderr:
            match = re.search(r"serving resnet50/1 on REST \S+ and gRPC (\S+)", line)
            if match:
                target = match.group(1)
                break
        assert target, "the server never said it was ready"
        client = subprocess.run([sys.executable, str(ROOT / "examples" / "serving" / "tfserving_client.py"),
                                 str(tmp_path / "cat.npy"), "--model", "resnet50", "--server", target, "--json"],
                                capture_output=True, text=True, timeout=300)
        assert client.returncode == 0, client.stderr
        got = json.loads(client.stdout.strip().splitlines()[-1])
        assert got["version"] == 1
        assert got["top5"] == [int(i) for i in np.argsort(-want)[:5]]
        np.testing.assert_allclose(got["scores"], want, rtol=1e-5, atol=1e-6)

        import grpc
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "resnet50"
        status = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(target)).GetModelStatus(status_request)
        assert [(s.version, get_model_status_pb2.ModelVersionStatus.State.Name(s.state))
                for s in status.model_version_status] == [(1, "AVAILABLE")]
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
    finally:
        server.kill()
        server.wait()

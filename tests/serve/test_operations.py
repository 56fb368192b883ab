"""Batching, a bounded queue, a load test, a model repository that changes, and a graceful stop."""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from conftest import config, rows

from neuronkit.serve import background


def v2(name, x):
    return {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}],
            "outputs": [{"name": "y"}]}


def answer_y(response):
    out = response.json()["outputs"][0]
    return np.asarray(out["data"], np.float32).reshape(out["shape"])


def metric(text, name, **labels):
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{name}{{{selector}}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_concurrent_requests_are_merged_and_split_back(slow_path):
    with background(config({"slow": slow_path}, max_batch_size=8)) as server:
        xs = [np.full((1, 2), i, np.float32) for i in range(16)]

        async def send_all():
            async with httpx.AsyncClient(base_url=server.rest_url, timeout=30) as client:
                return await asyncio.gather(*(client.post("/v2/models/slow/infer", json=v2("slow", x)) for x in xs))

        responses = asyncio.run(send_all())
        for x, r in zip(xs, responses):
            assert r.status_code == 200, r.text
            np.testing.assert_array_equal(answer_y(r), 2 * x)  # each request got its own rows back
        text = httpx.get(f"{server.rest_url}/metrics").text
        batches = metric(text, "neuronkit_batch_size_count", model="slow", version="1")
        rows_run = metric(text, "neuronkit_batch_size_sum", model="slow", version="1")
        assert rows_run == 16 and batches <= 8   # 16 one-row requests ran in at most 8 batches (2 or 3, typically)


def test_a_full_queue_answers_503_at_once_and_recovers(slow_path):
    with background(config({"slow": slow_path}, max_batch_size=1, max_queue=2)) as server:
        x = np.ones((1, 2), np.float32)

        async def burst(n):
            async with httpx.AsyncClient(base_url=server.rest_url, timeout=30) as client:
                async def one():
                    start = time.perf_counter()
                    r = await client.post("/v2/models/slow/infer", json=v2("slow", x))
                    return r, time.perf_counter() - start
                return await asyncio.gather(*(one() for _ in range(n)))

        results = asyncio.run(burst(24))
        refused = [(r, s) for r, s in results if r.status_code == 503]
        served = [r for r, _ in results if r.status_code == 200]
        assert len(refused) + len(served) == 24 and refused and served
        assert all("queue is full" in r.json()["error"] for r, _ in refused)
        assert max(s for _, s in refused) < 24 * 0.05  # refused without waiting for the queue to drain
        assert all(r.status_code == 200 for r, _ in asyncio.run(burst(2)))  # and it recovers


def test_load_with_malformed_requests_mixed_in(model_path, reference):
    """2,000 requests at concurrency 32, every tenth malformed: every valid one answered correctly,
    every malformed one refused, none lost, and the server still ready (loopback, bounded)."""
    with background(config({"two": model_path})) as server:
        async def run():
            limit = asyncio.Semaphore(32)
            async with httpx.AsyncClient(base_url=server.rest_url, timeout=60,
                                         limits=httpx.Limits(max_connections=32)) as client:
                async def one(i):
                    data = rows(1 + i % 3, seed=i)
                    body = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": "FP32",
                                        "data": a.ravel().tolist()} for n, a in data.items()]}
                    if i % 10 == 0:
                        body["inputs"][i % 2]["shape"] = [7, 7]   # malformed: wrong shape
                    async with limit:
                        r = await client.post("/v2/models/two/infer", json=body)
                    return i, data, r
                return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(2000))), 240)

        results = asyncio.run(run())
        assert len(results) == 2000
        for i, data, r in results:
            if i % 10 == 0:
                assert r.status_code == 400, r.text
            else:
                assert r.status_code == 200, r.text
                got = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in r.json()["outputs"]}
                y, label = reference(data)
                np.testing.assert_allclose(got["y"], y, rtol=1e-5)
                np.testing.assert_array_equal(got["label"], label)
        assert httpx.get(f"{server.rest_url}/v2/health/ready").status_code == 200


def add_version(repo, name, version, source):
    """Copy an artifact into the repository the safe way: write aside, then rename into place."""
    staging = repo / f".{name}-{version}.tmp"
    staging.mkdir()
    shutil.copy(source, staging / "model.nk")
    (repo / name).mkdir(exist_ok=True)
    os.rename(staging, repo / name / str(version))


def test_repository_swaps_versions_without_failing_requests(tmp_path, slow_path):
    import neuronkit

    triple = tmp_path / "triple.nk"
    neuronkit.compile(3 * np.eye(2, dtype=np.float32), "echo", delay=0.02).save(triple)
    repo = tmp_path / "repo"
    repo.mkdir()
    add_version(repo, "m", 1, slow_path)
    with background(config(repository=repo, poll_seconds=0.1)) as server:
        failures, factors, stop = [], set(), threading.Event()

        def keep_asking():
            with httpx.Client(base_url=server.rest_url, timeout=30) as client:
                while not stop.is_set():
                    r = client.post("/v2/models/m/infer", json=v2("m", np.ones((1, 2), np.float32)))
                    if r.status_code != 200:
                        failures.append(r.text)
                    else:
                        factors.add(float(answer_y(r)[0, 0]))

        callers = [threading.Thread(target=keep_asking) for _ in range(4)]
        for t in callers:
            t.start()
        try:
            time.sleep(0.3)
            add_version(repo, "m", 2, triple)
            deadline = time.time() + 30
            while time.time() < deadline and httpx.get(f"{server.rest_url}/v1/models/m/versions/1").json()[
                    "model_version_status"][0]["state"] != "END":
                time.sleep(0.1)
            time.sleep(0.3)
        finally:
            stop.set()
            for t in callers:
                t.join()
        assert failures == []
        assert factors == {2.0, 3.0}   # version 1 answered, then version 2, and no request failed between
        status = httpx.get(f"{server.rest_url}/v1/models/m").json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [("2", "AVAILABLE"), ("1", "END")]

        shutil.rmtree(repo / "m" / "2")  # removing the newest brings the one before back
        deadline = time.time() + 30
        while time.time() < deadline and httpx.get(f"{server.rest_url}/v1/models/m/versions/2").json()[
                "model_version_status"][0]["state"] != "END":
            time.sleep(0.1)
        r = httpx.post(f"{server.rest_url}/v2/models/m/infer", json=v2("m", np.ones((1, 2), np.float32)))
        assert r.status_code == 200 and answer_y(r)[0, 0] == 2.0


def test_sigterm_finishes_requests_in_flight_then_exits_0(slow_path):
    process = subprocess.Popen([sys.executable, "-m", "neuronkit.cli", "serve", str(slow_path), "--rest-port", "0",
                                "--grpc-port", "0", "--max-batch-size", "1"], stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in process.stderr:
            match = re.search(r"serving slow/1 on REST (\S+) and gRPC", line)
            if match:
                url = match.group(1)
                break
        assert url, "the server never said it was ready"

        async def in_flight():
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                calls = [asyncio.ensure_future(client.post("/v2/models/slow/infer",
                                                           json=v2("slow", np.ones((1, 2), np.float32))))
                         for _ in range(8)]
                await asyncio.sleep(0.15)   # 8 runs of 50 ms each, one at a time: most still queued
                process.send_signal(signal.SIGTERM)
                return await asyncio.gather(*calls)

        responses = asyncio.run(in_flight())
        assert [r.status_code for r in responses] == [200] * 8
        assert process.wait(30) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/v2/health/live")
    finally:
        process.kill()
        process.wait()


def test_models_never_wait_for_each_other(slow_path, model_path):
    with background(config({"slow": slow_path, "two": model_path}, max_batch_size=1)) as server:
        async def run():
            async with httpx.AsyncClient(base_url=server.rest_url, timeout=30) as client:
                slow = [asyncio.ensure_future(client.post("/v2/models/slow/infer",
                                                          json=v2("slow", np.ones((1, 2), np.float32))))
                        for _ in range(20)]                       # one second of work queued for "slow"
                await asyncio.sleep(0.05)
                start = time.perf_counter()
                fast = await client.post("/v1/models/two:predict",
                                         json={"inputs": {k: v.tolist() for k, v in rows(1).items()}})
                fast_seconds = time.perf_counter() - start
                slow_done = sum(t.done() for t in slow)
                await asyncio.gather(*slow)
                return fast, fast_seconds, slow_done

        fast, fast_seconds, slow_done = asyncio.run(run())
        assert fast.status_code == 200
        assert slow_done < 20   # "two" answered while "slow" still had requests waiting


def test_repository_version_policies(tmp_path, slow_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for version in (1, 2, 3):
        add_version(repo, "m", version, slow_path)
    (repo / "m" / "notes").mkdir()          # not a version: ignored
    for policy, served in (("latest", ["3"]), ("all", ["3", "2", "1"]), (frozenset({1, 3}), ["3", "1"])):
        with background(config(repository=repo, versions=policy)) as server:
            status = httpx.get(f"{server.rest_url}/v1/models/m").json()["model_version_status"]
            assert [s["version"] for s in status] == served
            assert httpx.get(f"{server.rest_url}/v2/models/m").json()["versions"] == served


def test_a_request_log_line_at_debug_level(served, caplog):
    import json
    import logging

    with caplog.at_level(logging.DEBUG, logger="neuronkit.serve"):
        body = {"inputs": {k: v.tolist() for k, v in rows(1).items()}}
        httpx.post(f"{served.rest_url}/v1/models/two:predict", json=body)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert {"event": "request", "protocol": "tfserving-rest", "model": "two", "version": None, "served_version": 1,
            "outcome": "ok"}.items() <= lines[-1].items()


def test_serving_needs_no_tensorflow():
    import importlib.util

    assert importlib.util.find_spec("tensorflow") is None   # this env serves TF Serving clients without it

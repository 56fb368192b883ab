"""Scale-out on Ray Serve: one deployment whose replicas each load an artifact.

    from ray import serve
    from neuronkit.serve.ray import build_app

    serve.run(build_app("resnet50.nk", num_replicas=4), route_prefix="/")
    # POST http://127.0.0.1:8000/v2/models/resnet50/infer  (KServe v2 JSON, as `neuronkit serve`)

On a Neuron target each replica asks Ray for ``neuron_cores`` (Ray's resource name) and loads on
exactly the cores Ray gives it: Ray sets ``NEURON_RT_VISIBLE_CORES`` in the replica, and
``neuronkit.load(cores=None)`` takes every core that variable allows. On ``cpu`` a replica asks for
``num_cpus`` and runs that many threads. Requests are merged with ``@serve.batch``. Ray is imported
only here, so ``import neuronkit.serve`` never needs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..artifact import open_artifact
from ..errors import InputError, NeuronkitError
from ..targets import get_target
from .errors import InvalidArgument, NotFound, ServeError
from .models import ModelVersion, ServeOptions

__all__ = ["build_app", "resources_for"]

log = logging.getLogger("neuronkit.serve")

#: ``.../v2/models/NAME[/versions/V]/TAIL`` anywhere under the application's route prefix.
_V2_PATH = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?:/(?P<tail>infer|ready))?$")


def resources_for(manifest, group_size: int | None = None) -> tuple[dict, object]:
    """``(ray_actor_options, cores)`` for one replica: what to ask Ray for, and what to load on."""
    if get_target(manifest.target).is_neuron:
        # cores=None: the replica takes every core in the NEURON_RT_VISIBLE_CORES Ray set for it.
        return {"resources": {"neuron_cores": int(group_size or manifest.pipeline_cores or 1)}}, None
    cpus = int(group_size or 1)
    return {"num_cpus": cpus}, cpus


def build_app(artifact, *, name: str | None = None, num_replicas: int = 1, group_size: int | None = None,
              max_batch_size: int | None = None, batch_wait_timeout_s: float = 0.005,
              ray_actor_options: dict | None = None):
    """A Ray Serve application serving ``artifact`` (a path every replica can open) as ``name``.

    :param group_size: cores per replica (NeuronCores on Neuron targets, threads on ``cpu``);
        default: the artifact's pipeline cores, or 1 CPU.
    :param max_batch_size: requests merged per batch; default: the compiled batch, or 8 when the
        artifact takes any batch. An artifact that only takes its compiled batch runs requests alone.
    :param ray_actor_options: merged over the resources chosen here (``resources`` key by key).
    """
    try:
        from ray import serve
    except ImportError:
        raise NeuronkitError('scale-out on Ray Serve needs Ray; install it: pip install "neuronkit[ray]"') from None

    path = str(Path(artifact).resolve())
    probe = ModelVersion(name or Path(path).stem, 1, Path(path))  # read here for resources and batching only
    probe.artifact = open_artifact(path)
    name = probe.name
    actor_options, cores = resources_for(probe.artifact.manifest, group_size)
    user = dict(ray_actor_options or {})
    if "resources" in user:
        user["resources"] = {**actor_options.get("resources", {}), **user["resources"]}
    actor_options.update(user)
    options = ServeOptions(cores=cores, group_size=group_size, max_batch_size=max_batch_size)
    batch = probe.max_batch_size(options) if probe.mergeable() else 1  # the rule `neuronkit serve` follows

    @serve.deployment(name=name, num_replicas=num_replicas, ray_actor_options=actor_options,
                      max_ongoing_requests=max(2 * batch, 8))  # room to queue the next batch while one runs
    class NeuronkitModel:
        def __init__(self):
            # Load and warm up here: Ray routes to a replica only once its constructor returned.
            self.model = ModelVersion(name, 1, Path(path))
            self.model.load(options)
            self.visible_cores = os.environ.get("NEURON_RT_VISIBLE_CORES")
            if cores is None and self.visible_cores is None:
                log.warning("Ray set no NEURON_RT_VISIBLE_CORES for this replica (is RAY_EXPERIMENTAL_NOSET_NEURON_"
                            "RT_VISIBLE_CORES set?): it takes every NeuronCore it can see")
            self.batch_sizes: Counter = Counter()  # batch size (requests) -> how many ran

        async def __call__(self, request):
            from .http import json_response
            from .kserve import rest_infer

            try:
                match = _V2_PATH.search(request.url.path)
                if match is None or match["name"] != name:
                    raise NotFound(f"no such endpoint: {request.method} {request.url.path}; this application "
                                   f"serves model {name!r} at /v2/models/{name}/infer")
                version = _version(match["version"])
                if request.method == "POST" and match["tail"] == "infer":
                    return await rest_infer(self, request, name, version)
                if request.method == "GET" and match["tail"] == "ready":
                    return json_response({})
                raise NotFound(f"no such endpoint: {request.method} {request.url.path}")
            except ServeError as exc:
                return json_response({"error": str(exc)}, exc.http_status)
            except Exception as exc:  # never a bare 500 page
                log.exception("unexpected error answering %s %s", request.method, request.url.path)
                return json_response({"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)

        # -- what kserve.rest_infer needs of a server
        max_body_bytes = 64 * 2**20

        async def infer(self, protocol, model_name, version, decode):
            try:
                return self.model, await self.predict(decode(self.model))
            except InputError as exc:
                raise InvalidArgument(f"model {name}: {exc}") from None

        # -- Python callers (DeploymentHandle)
        async def predict(self, inputs: dict) -> dict:
            """``{input name: array}`` -> ``{output name: array}``, batched with other requests."""
            outputs = await self._run_batch(self.model.runtime.check_inputs(dict(inputs)))
            return {spec.name: value for spec, value in zip(self.model.outputs, outputs)}

        def stats(self) -> dict:
            """This replica's cores, and how many batches of each size (in requests) it ran."""
            return {"pid": os.getpid(), "visible_cores": self.visible_cores, "batch_sizes": dict(self.batch_sizes)}

        @serve.batch(max_batch_size=batch, batch_wait_timeout_s=batch_wait_timeout_s)
        async def _run_batch(self, requests: list) -> list:
            self.batch_sizes[len(requests)] += 1
            # In a thread: the replica's event loop keeps taking requests for the next batch.
            return await asyncio.to_thread(_run_merged, self.model._predict, requests)

    return NeuronkitModel.bind()


def _version(text: str | None) -> int | None:
    if text is None or text == "1":
        return None
    raise NotFound(f"version {text!r} is not served; this application serves version 1")


def _run_merged(predict, requests: list) -> list:
    """Run requests (lists of arrays) as few batches as their shapes allow; outputs per request."""
    if len(requests) == 1:
        return [predict(requests[0])]
    results: list = [None] * len(requests)
    groups: dict = {}
    for i, arrays in enumerate(requests):  # rows merge when every input agrees beyond the batch axis
        groups.setdefault(tuple(a.shape[1:] for a in arrays), []).append(i)
    for members in groups.values():
        merged = [np.concatenate([requests[i][k] for i in members]) for k in range(len(requests[members[0]]))]
        outputs, offset = predict(merged), 0
        for i in members:
            rows = requests[i][0].shape[0]
            results[i] = [o[offset:offset + rows] for o in outputs]
            offset += rows
    return results

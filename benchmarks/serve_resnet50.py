"""ResNet50 served by `neuronkit serve`, next to the same artifact called in process.

How the load is generated: this script starts ``neuronkit serve ART`` in a child process (default
batching: up to 8 rows, no delay) and drives it from its own process with tritonclient's asyncio
clients (``tritonclient.grpc.aio`` for KServe v2 gRPC with raw tensors, ``tritonclient.http.aio``
for KServe v2 REST with binary tensors): ``c`` coroutines each send one image at a time, back to
back, for ``--seconds`` after a warm-up. Both processes share this machine's cores, so the
client's own work counts against the server, as it would for a sidecar client.

The in-process configuration calls ``Runtime.predict`` at batch 1 and 8 from two threads per
replica (``neuronkit.bench.measure``), and is the peer in ``neuronkit.bench``'s peer-ratio table:
each served row is compared with it at the batch the server can form (batch 1 at concurrency 1,
batch 8 above). Rounds interleave every configuration, so a noisy machine disturbs them alike;
throughput is the median over rounds (min-max beside it), latencies are percentiles over all
rounds' requests.

    python benchmarks/serve_resnet50.py --framework tf            # needs neuronkit[tf,serve] + tritonclient
    python benchmarks/serve_resnet50.py --artifact resnet50.nk --seconds 5 --rounds 2
    python benchmarks/serve_resnet50.py --seconds 0.2 --rounds 1 --concurrency 1     # smoke run
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit import bench  # noqa: E402


def compile_resnet50(framework: str, out: Path) -> Path:
    import importlib

    import neuronkit

    zoo = importlib.import_module(f"zoo.{neuronkit.plugins.find_backend(framework).name}")
    model, preprocess = zoo.resnet50(seed=0)
    shape = (1, 3, 224, 224) if preprocess.layout == "NCHW" else (1, 224, 224, 3)
    art = neuronkit.compile(model, framework, example_inputs=np.zeros(shape, np.float32), preprocess=preprocess)
    return art.save(out)


def start_server(artifact: Path) -> tuple:
    server = subprocess.Popen([sys.executable, "-m", "neuronkit.cli", "serve", str(artifact), "--name", "resnet50",
                               "--rest-port", "0", "--grpc-port", "0", "--max-queue", "4096"],
                              stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        match = re.search(r"on REST http://(\S+) and gRPC (\S+)", line)
        if match:
            return server, match.group(1), match.group(2)
    raise SystemExit(f"the server did not start (exit {server.wait()})")


async def drive(protocol: str, address: str, image: np.ndarray, spec, concurrency: int, seconds: float,
                warmup: float) -> bench.BenchResult:
    """``concurrency`` callers sending one image each, back to back, for ``seconds`` after ``warmup``."""
    if protocol == "grpc":
        import tritonclient.grpc.aio as lib
    else:
        import tritonclient.http.aio as lib
    client = lib.InferenceServerClient(address, **({"conn_limit": concurrency} if protocol == "rest" else {}))
    tensor = lib.InferInput(spec["name"], list(image.shape), spec["datatype"])
    tensor.set_data_from_numpy(image)
    latencies: list = []
    try:
        async def caller(until: float, record: bool):
            while time.perf_counter() < until:
                start = time.perf_counter()
                await client.infer("resnet50", [tensor])
                if record:
                    latencies.append((time.perf_counter() - start) * 1e3)

        await asyncio.gather(*(caller(time.perf_counter() + warmup, False) for _ in range(concurrency)))
        begin = time.perf_counter()
        await asyncio.gather(*(caller(begin + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - begin
    finally:
        await client.close()
    return bench.BenchResult(f"served {protocol} c{concurrency}", 1, len(latencies), elapsed, concurrency,
                             tuple(latencies))


def main(argv=None) -> int:
    parser = bench.argument_parser(__doc__, seconds=10.0, batches=None)
    parser.add_argument("--framework", default="tf", help="backend whose zoo ResNet50 to compile (tf, torch, mxnet)")
    parser.add_argument("--artifact", type=Path, help="benchmark this artifact instead of compiling one")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)

    import neuronkit
    from neuronkit.serve.tensors import v2_datatype

    with tempfile.TemporaryDirectory(prefix="neuronkit-serve-bench-") as workdir:
        artifact = args.artifact or compile_resnet50(args.framework, Path(workdir, "resnet50.nk"))
        m = neuronkit.open_artifact(artifact).manifest
        rng = np.random.default_rng(0)
        rt = neuronkit.load(artifact)
        spec = rt.inputs[0]
        shape = [1 if d is None else d for d in spec.shape]
        images = {b: rng.standard_normal([b, *shape[1:]]).astype(spec.dtype) for b in (1, 8)}
        v2_spec = {"name": spec.name, "datatype": v2_datatype(spec.dtype)}

        def served(protocol, address, concurrency):
            return lambda: (lambda seconds: asyncio.run(
                drive(protocol, address, images[1], v2_spec, concurrency, seconds, 2.0)))

        server, rest, grpc_target = start_server(artifact)
        threads = 2 * len(rt.groups)
        configurations = [bench.Configuration(f"in-process (Runtime.predict, {threads} threads)", m.precision,
                                              "peer", lambda: rt, threads=threads)]
        for protocol, address in (("grpc", grpc_target), ("rest", rest)):
            for c in args.concurrency:
                configurations.append(bench.Configuration(
                    f"served {protocol} c{c} (1 image per request)", m.precision, "neuronkit",
                    served(protocol, address, c), batches=(1 if c == 1 else 8,), self_timed=True))
        model = args.artifact.name if args.artifact else f"{m.framework.name} ResNet50"
        title = (f"{model} -> {m.target}/{m.engine} {m.precision}, served by neuronkit serve "
                 f"(batches of up to 8, no delay) and called in process")
        try:
            comparison = bench.run(configurations, images, args, title)
        finally:
            server.terminate()
            server.wait(60)
            rt.close()
    return 0 if comparison.ok else 1


if __name__ == "__main__":
    sys.exit(main())

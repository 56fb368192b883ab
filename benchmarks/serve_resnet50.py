"""ResNet50 served by `neuronkit serve`, next to the same artifact called in process.

How the load is generated: this script starts ``neuronkit serve ART`` in a child process (default
batching: up to 8 rows, no delay) and drives it from its own process with tritonclient's asyncio
clients (``tritonclient.grpc.aio`` for KServe v2 gRPC with raw tensors, ``tritonclient.http.aio``
for KServe v2 REST with binary tensors): ``c`` coroutines each send one image at a time, back to
back, for ``--seconds`` after a warm-up. Both processes share this machine's cores, so the
client's own work counts against the server, as it would for a sidecar client.

The in-process rows call ``Runtime.predict`` at batch 1 and 8 from two threads per replica
(``neuronkit.bench.measure``). Each served row is compared with the in-process row at the batch
the server can form: batch 1 at concurrency 1, batch 8 above. Rounds interleave every
configuration, so a noisy machine disturbs them alike; throughput is the median over rounds
(min-max beside it), latencies are percentiles over all rounds' requests.

    python benchmarks/serve_resnet50.py --framework tf            # needs neuronkit[tf,serve] + tritonclient
    python benchmarks/serve_resnet50.py --artifact resnet50.nk --seconds 5 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", text).group(1)
        flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split())
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
        return f"{model} ({', '.join(f for f in wanted if f in flags) or 'no AVX2'})"
    except (OSError, AttributeError):
        return platform.processor() or "unknown CPU"


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
                warmup: float) -> tuple:
    """``concurrency`` callers sending one image each, back to back: (requests/s, latencies in ms)."""
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
    return len(latencies) / elapsed, latencies


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", default="tf", help="backend whose zoo ResNet50 to compile (tf, torch, mxnet)")
    parser.add_argument("--artifact", type=Path, help="benchmark this artifact instead of compiling one")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per configuration and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args(argv)

    import neuronkit
    from neuronkit.bench import measure

    workdir = Path(tempfile.mkdtemp(prefix="neuronkit-serve-bench-"))
    artifact = args.artifact or compile_resnet50(args.framework, workdir / "resnet50.nk")
    rng = np.random.default_rng(0)
    rt = neuronkit.load(artifact)
    spec = rt.inputs[0]
    shape = [1 if d is None else d for d in spec.shape]
    images = {b: rng.standard_normal([b, *shape[1:]]).astype(spec.dtype) for b in (1, 8)}
    from neuronkit.serve.tensors import v2_datatype

    server, rest, grpc_target = start_server(artifact)
    v2_spec = {"name": spec.name, "datatype": v2_datatype(spec.dtype)}
    speeds: dict = {}      # configuration -> [img/s per round]
    latencies: dict = {}   # configuration -> [ms]
    try:
        for round_ in range(args.rounds):
            for batch in (1, 8):
                result = measure(f"in-process b{batch}", rt, images[batch], batch, args.seconds,
                                 threads=2 * len(rt.groups))
                speeds.setdefault(result.name, []).append(result.items_per_s)
                latencies.setdefault(result.name, []).extend(result.latencies_ms)
            for protocol, address in (("grpc", grpc_target), ("rest", rest)):
                for c in args.concurrency:
                    name = f"served {protocol} c{c}"
                    rate, lat = asyncio.run(drive(protocol, address, images[1], v2_spec, c, args.seconds, 2.0))
                    speeds.setdefault(name, []).append(rate)
                    latencies.setdefault(name, []).extend(lat)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(60)
        rt.close()

    m = neuronkit.open_artifact(artifact).manifest
    print(f"\n{m.framework.name} ResNet50 -> {m.target}/{m.engine} {m.precision}; CPU: {cpu_model()}; "
          f"{args.rounds} rounds of {args.seconds:.0f} s\n")
    print("| configuration | img/s (median) | min-max | p50 ms | p99 ms | p99/p50 | vs in-process |")
    print("|---|---|---|---|---|---|---|")
    for name, rates in speeds.items():
        batch = 1 if name.endswith(("b1", "c1")) else 8
        base = statistics.median(speeds[f"in-process b{batch}"])
        p50, p99 = np.percentile(latencies[name], [50, 99])
        ratio = f"{statistics.median(rates) / base:.2f}x (b{batch})" if name.startswith("served") else "-"
        print(f"| {name} | {statistics.median(rates):.1f} | {min(rates):.1f}-{max(rates):.1f} | {p50:.1f} | "
              f"{p99:.1f} | {p99 / p50:.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

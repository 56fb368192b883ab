"""The ResNet50 workflow, the same for every framework: change --framework and nothing else.

    python examples/resnet50.py --framework torch     # or tf, mxnet
    python examples/resnet50.py --target trn2 --simulate   # a dry run against SIMULATED Neuron SDKs

1. build ResNet50 (seeded random weights, or --weights FILE),
2. compile it with neuronkit (target cpu by default) and save one artifact file,
3. in a NEW process, load the artifact on two replicas (cores=2, group_size=1),
4. classify a photo of a cat with the preprocessing recorded in the artifact, and print the top 5.

Without a Neuron instance, ``--simulate`` runs a Neuron target's path against neuronkit's simulated
SDK modules and a fake one-chip machine (neuronkit.testing.sim): the calls, flags and runtime
variables are the documented ones, the model runs on this host, and nothing runs on Inferentia or
Trainium.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import neuronkit
from neuronkit.images import imagenet_labels, load_image, top_k

HERE = Path(__file__).resolve().parent


def build_and_compile(args) -> Path:
    zoo = importlib.import_module(f"zoo.{neuronkit.plugins.find_backend(args.framework).name}")
    model, preprocess = zoo.resnet50(args.weights, seed=0)
    shape = (1, 3, 224, 224) if preprocess.layout == "NCHW" else (1, 224, 224, 3)
    example = np.zeros(shape, np.float32)
    start = time.perf_counter()
    art = neuronkit.compile(model, args.framework, example_inputs=example, target=args.target,
                            precision=args.precision, engine=args.engine, preprocess=preprocess,
                            progress=lambda stage: print(f"  {stage} ...", flush=True))
    path = art.save(args.out)
    m = art.manifest
    how = m.engine if m.target == "cpu" else ", ".join(filter(None, (m.compiler.name, m.engine)))
    print(f"compiled {m.framework.name} {m.framework.version} -> {m.target} ({how}, "
          f"{m.precision}) in {time.perf_counter() - start:.1f} s; saved {path} "
          f"({path.stat().st_size / 1e6:.0f} MB)")
    return path


def simulation(simulate: bool, framework: str, target: str, engine: str | None):
    """The simulated Neuron SDK and machine for ``--simulate`` (nothing at all without it)."""
    if not simulate or target == "cpu":
        return contextlib.nullcontext()
    from neuronkit.testing.sim import simulated

    print(f"SIMULATED Neuron SDK and {target} machine (neuronkit.testing.sim): the model runs on this host")
    return simulated(neuronkit.plugins.find_backend(framework).name, target, engine or "")


def classify(artifact: Path, image: Path, cores: int, group_size: int, random_weights: bool) -> list:
    """Load the artifact on core groups and print the top-5 ImageNet classes of ``image``."""
    art = neuronkit.open_artifact(artifact)
    x = load_image(image, art.inputs[0], art.manifest.preprocess)
    with neuronkit.load(art, cores=cores, group_size=group_size) as rt:
        logits = rt(x)
        groups = ", ".join(str(g) for g in rt.groups)
    print(f"loaded {artifact.name} on {len(rt.replicas)} replica(s), core groups [{groups}]; {image.name}:")
    best = top_k(logits[0], 5, imagenet_labels())
    for index, label, prob in best:
        print(f"  {prob:6.3f}  {label} ({index})")
    if random_weights:
        print("  (random weights: these labels are meaningless; pass --weights FILE for trained ones)")
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", default="torch", help="torch, tf or mxnet")
    parser.add_argument("--weights", help="a local weights file (default: seeded random weights)")
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--engine", help="host engine for the cpu target (default: the backend's fastest), or "
                                         "trace/native for torch on trn2")
    parser.add_argument("--image", type=Path, default=HERE / "data" / "cat.png")
    parser.add_argument("--out", type=Path, help="artifact path (default: resnet50-<framework>.nk)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=1)
    parser.add_argument("--simulate", action="store_true",
                        help="run a Neuron target against SIMULATED SDKs on a fake machine (no hardware needed)")
    parser.add_argument("--classify", type=Path, help=argparse.SUPPRESS)  # the fresh-process half
    args = parser.parse_args(argv)
    if args.classify:
        m = neuronkit.open_artifact(args.classify).manifest
        with simulation(args.simulate, m.backend.name, m.target, m.engine):
            classify(args.classify, args.image, args.cores, args.group_size, args.weights is None)
        return
    args.out = args.out or Path(f"resnet50-{args.framework}{'' if args.target == 'cpu' else '-' + args.target}.nk")
    with simulation(args.simulate, args.framework, args.target, args.engine):
        path = build_and_compile(args)
    # A new interpreter: the artifact must load without the model's Python code or framework state.
    command = [sys.executable, __file__, "--classify", str(path), "--image", str(args.image),
               "--cores", str(args.cores), "--group-size", str(args.group_size)] + ["--simulate"] * args.simulate
    if args.weights:
        command += ["--weights", args.weights]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()

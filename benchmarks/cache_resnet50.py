"""The compile cache on ResNet50: a cold compile, then the same compile again (a cache hit), in one run.

    python benchmarks/cache_resnet50.py [--framework torch] [--precision fp32|int8] [--repeat 3]

In an environment with the framework (neuronkit[torch] + torchvision by default). Each round
compiles into a fresh cache folder (cold: the backend compiles and the artifact is stored), then
compiles the same model again (warm: the model is fingerprinted and the stored artifact read back
and verified). Prints both times and their ratio per round, and the median ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from neuronkit.bench import cpu_model  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", default="torch", choices=["torch", "tf", "mxnet"])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the rounds to this JSON file")
    args = parser.parse_args(argv)

    import importlib

    import neuronkit

    model, _ = importlib.import_module(f"zoo.{args.framework}").resnet50()
    shape = (1, 224, 224, 3) if args.framework == "tf" else (1, 3, 224, 224)
    example = np.zeros(shape, np.float32)
    rng = np.random.default_rng(0)  # int8 calibration: the same 32 images each time (speed is what is measured)
    calibration = [rng.standard_normal(shape).astype(np.float32) for _ in range(32)] if args.precision == "int8" \
        else None
    print(f"ResNet50 ({args.framework}, {args.precision}) compile cache, CPU: {cpu_model()}")
    ratios, rounds = [], []
    for round_ in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="neuronkit-cache-bench-") as folder:
            os.environ["NEURONKIT_CACHE_DIR"] = folder
            times = []
            for expected in ("stored", "hit"):
                start = time.perf_counter()
                art = neuronkit.compile(model, args.framework, example_inputs=example, precision=args.precision,
                                        calibration=calibration, calibration_size=32, cache=True)
                times.append(time.perf_counter() - start)
                if art.cache != expected:
                    print(f"round {round_}: expected a cache {expected}, got {art.cache!r}")
                    return 1
        ratios.append(times[1] / times[0])
        rounds.append({"cold_s": round(times[0], 3), "warm_s": round(times[1], 3)})
        print(f"round {round_}: cold {times[0]:.2f} s, warm (cache hit) {times[1]:.3f} s = {ratios[-1]:.1%} of cold")
    print(f"median warm / cold: {statistics.median(ratios):.1%} (target <= 2%)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "title": f"ResNet50 ({args.framework}, {args.precision}) compile cache", "cpu": cpu_model(),
            "framework": args.framework, "precision": args.precision, "rounds": rounds,
            "median_warm_over_cold": round(statistics.median(ratios), 4)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A test backend for serving: ``y = x @ W`` plus ``core``, the first core of the replica's group.

Compile with ``delay=SECONDS`` to make every run take that long (queue and drain tests); an
``inf2`` artifact loads only where neuronkit sees NeuronCores (a fake host in tests), and its
``core`` output tells which core group served each row (Ray placement tests).
"""

import time

import numpy as np

import neuronkit


@neuronkit.hookimpl
def neuronkit_backends():
    return [neuronkit.BackendSpec(
        name="echo", framework="NumPy", compiler="neuronkit_echo:EchoCompiler", replica="neuronkit_echo:EchoReplica",
        targets=("cpu", "inf2"), engines=("numpy",), capabilities={"dynamic_batch"}, requires=("numpy",),
        compile_options=(neuronkit.Option("delay", float, 0.0, "seconds every run sleeps"),),
    )]


class EchoCompiler(neuronkit.Compiler):
    def compile(self, model, request):
        weights = np.asarray(model, np.float32)
        np.save(request.workdir / "weights.npy", weights)
        return neuronkit.CompileResult(
            inputs=(neuronkit.TensorSpec("x", "float32", (None, weights.shape[0])),),
            outputs=(neuronkit.TensorSpec("y", "float32", (None, weights.shape[1])),
                     neuronkit.TensorSpec("core", "int64", (None,))),
            framework=neuronkit.Component("numpy", np.__version__),
            compiler=neuronkit.Component("neuronkit-echo", "0.1.0"),
            dynamic_batch=True,
            load={"weights": "weights.npy", "delay": float(request.options.get("delay", 0.0))},
        )


class EchoReplica(neuronkit.Replica):
    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        self.weights = np.load(artifact.file(artifact.manifest.load["weights"]))
        self.delay = artifact.manifest.load["delay"]

    def run(self, inputs):
        if self.delay:
            time.sleep(self.delay)
        x = inputs[0]
        return [x @ self.weights, np.full(x.shape[0], self.group.start, np.int64)]

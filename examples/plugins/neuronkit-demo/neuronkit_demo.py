"""A complete neuronkit backend in one file: ``y = x @ W`` for a NumPy weight matrix ``W``.

Real backends wrap a framework the same way: import it inside ``compile`` and ``__init__``,
never at module level, so ``import neuronkit`` stays fast and framework-free.
"""

import numpy as np

import neuronkit


@neuronkit.hookimpl
def neuronkit_backends():
    return [neuronkit.BackendSpec(
        name="demo",
        framework="NumPy",
        compiler="neuronkit_demo:DemoCompiler",
        replica="neuronkit_demo:DemoReplica",
        targets=("cpu",),
        engines=("numpy",),
        precisions=("fp32",),
        capabilities={"dynamic_batch"},
        requires=("numpy",),
    )]


@neuronkit.hookimpl
def neuronkit_claim_model(model):
    return "demo" if isinstance(model, np.ndarray) and model.ndim == 2 else None


@neuronkit.hookimpl
def neuronkit_register_commands(cli):
    @cli.command(name="demo-info")
    def demo_info():
        """Say hello from the demo plugin."""
        print("neuronkit-demo: y = x @ W on NumPy")


class DemoCompiler(neuronkit.Compiler):
    def compile(self, model, request):
        request.progress("saving the weights")
        weights = np.asarray(model, np.float32)
        np.save(request.workdir / "weights.npy", weights)
        return neuronkit.CompileResult(
            inputs=(neuronkit.TensorSpec("x", "float32", (None, weights.shape[0])),),
            outputs=(neuronkit.TensorSpec("y", "float32", (None, weights.shape[1])),),
            framework=neuronkit.Component("numpy", np.__version__),
            compiler=neuronkit.Component("neuronkit-demo", "0.1.0"),
            dynamic_batch=True,
            report=neuronkit.CompileReport(ops_total=1, ops_on_target=1),
            load={"weights": "weights.npy"},
        )


class DemoReplica(neuronkit.Replica):
    def __init__(self, artifact, group, options):
        super().__init__(artifact, group, options)
        self.weights = np.load(artifact.file(artifact.manifest.load["weights"]))

    def run(self, inputs):
        return [inputs[0] @ self.weights]

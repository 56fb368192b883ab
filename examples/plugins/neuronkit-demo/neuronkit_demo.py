"""A complete neuronkit backend in one file: ``y = x @ W`` for a NumPy weight matrix ``W``.

Two cpu engines: its own ``numpy`` (compile and replica written here), and neuronkit's
``onnxruntime``, had for free: the compiler exports an ONNX graph and hands it to the engine's
``finish`` step, and the core loads what it wrote with the engine's own replica.
Real backends wrap a framework the same way: import it inside ``compile`` and ``__init__``,
never at module level, so ``import neuronkit`` stays fast and framework-free.
"""

import numpy as np

import neuronkit
from neuronkit.engines import onnxruntime


@neuronkit.hookimpl
def neuronkit_backends():
    return [neuronkit.BackendSpec(
        name="demo",
        framework="NumPy",
        compiler="neuronkit_demo:DemoCompiler",
        replica="neuronkit_demo:DemoReplica",
        targets=("cpu",),
        engines=("numpy", "onnxruntime"),  # its own, then the core's (compile(..., engine="onnxruntime"))
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
        weights = np.asarray(model, np.float32)
        if request.engine == "onnxruntime":  # export; the core's engine optimises, saves and loads it
            return onnxruntime.finish(_as_onnx(weights), request,
                                      framework=neuronkit.Component("numpy", np.__version__))
        request.progress("saving the weights")
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


def _as_onnx(weights):
    """``y = x @ W`` as an ONNX graph with a free batch axis."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "demo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", weights.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", weights.shape[1]])],
        [numpy_helper.from_array(weights, "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)

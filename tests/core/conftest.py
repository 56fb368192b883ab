import numpy as np
import pytest


def mlp(batch="N", seed=0, in_dim=4, out_dim=3):
    """A small ONNX model: y = relu(x @ W + b), optionally with a free batch axis."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((in_dim, out_dim)).astype(np.float32)
    b = rng.standard_normal(out_dim).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["z"]),
         helper.make_node("Relu", ["z"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, in_dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, out_dim])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def mlp_reference(model, inputs):
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [np.maximum(inputs[0] @ weights["W"] + weights["b"], 0)]


@pytest.fixture
def onnx_model():
    return mlp()


@pytest.fixture
def artifact(onnx_model):
    import neuronkit

    return neuronkit.compile(onnx_model)


class NumpyCompiler:
    """Compiler of the in-process test backend: y = x @ W for an (in, out) weight matrix."""

    def __init__(self, spec):
        self.spec = spec

    def compile(self, model, request):
        from neuronkit import CompileReport, CompileResult, Component, TensorSpec

        np.save(request.workdir / "w.npy", model)
        batch = request.batch_size
        dims = (None if request.dynamic_batch is not False and batch is None else batch or 1, model.shape[0])
        return CompileResult(
            inputs=(TensorSpec("x", "float32", dims),),
            outputs=(TensorSpec("y", "float32", (dims[0], model.shape[1])),),
            framework=Component("numpy", np.__version__), compiler=Component("matmul", "1"),
            flags=(f"--target={request.target.name}",), batch_size=dims[0], dynamic_batch=bool(request.dynamic_batch),
            report=CompileReport(ops_total=1, ops_on_target=1), load={"weights": "w.npy"},
        )


class NumpyReplica:
    calls: list = []   # (replica group, batch) of every run, across replicas

    def __init__(self, artifact, group, options):
        import threading

        self.group, self.options = group, options
        self.w = np.load(artifact.file(artifact.manifest.load["weights"]))
        self.busy = threading.Lock()
        self.closed = False

    def run(self, inputs):
        assert self.busy.acquire(blocking=False), "a replica was called from two threads at once"
        try:
            NumpyReplica.calls.append((str(self.group), inputs[0].shape[0]))
            delay = self.options.get("delay", 0)
            if delay:
                import time
                time.sleep(delay)
            return [inputs[0] @ self.w]
        finally:
            self.busy.release()

    def close(self):
        self.closed = True


class NumpyPlugin:
    @staticmethod
    def _spec():
        from neuronkit import BackendSpec, Option

        return BackendSpec(name="numpy-test", framework="NumPy", compiler="conftest:NumpyCompiler",
                           replica="conftest:NumpyReplica", targets=("cpu", "inf1", "inf2"),
                           selftest="conftest:numpy_tiny",
                           load_options=(Option("delay", float, 0.0, "seconds each run sleeps"),),
                           capabilities={"dynamic_batch", "pipeline"}, aliases=("np-test",))

    from neuronkit import hookimpl

    @hookimpl
    def neuronkit_backends(self):
        return [self._spec()]

    @hookimpl
    def neuronkit_claim_model(self, model):
        return "numpy-test" if isinstance(model, np.ndarray) else None


def numpy_tiny():
    rng = np.random.default_rng(7)
    return rng.standard_normal((4, 3)).astype(np.float32), (rng.standard_normal((2, 4)).astype(np.float32),)


@pytest.fixture
def numpy_backend():
    """Registers the in-process numpy test backend for one test."""
    from neuronkit import plugins

    plugins.register(NumpyPlugin(), name="numpy-test-plugin")
    NumpyReplica.calls = []
    yield "numpy-test"
    plugins.unregister("numpy-test-plugin")


@pytest.fixture
def weights():
    return np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)

import numpy as np
import pytest
from conftest import mlp, mlp_reference

import neuronkit
from neuronkit import CompileError
from neuronkit.testing import BackendConformance, ConformanceCase, relative_error

ort = pytest.importorskip("onnxruntime")


class TestOnnxConformance(BackendConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def case(cls):
        return ConformanceCase(
            framework="onnx",
            make_model=mlp,
            make_inputs=lambda batch: (np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32),),
            reference=mlp_reference,
        )


def test_free_batch_axis_stays_free(artifact):
    assert artifact.manifest.dynamic_batch and artifact.manifest.batch_size is None
    with neuronkit.load(artifact) as rt:
        for batch in (1, 3, 17):
            assert rt(np.ones((batch, 4), np.float32)).shape == (batch, 3)


def test_dynamic_batch_false_fixes_the_batch(onnx_model):
    art = neuronkit.compile(onnx_model, "onnx", batch_size=4, dynamic_batch=False)
    assert art.manifest.batch_size == 4 and not art.manifest.dynamic_batch
    assert art.inputs[0].shape == (4, 4)
    with neuronkit.load(art) as rt, pytest.raises(neuronkit.InputError, match="without dynamic batch"):
        rt(np.ones((3, 4), np.float32))


def test_matches_onnxruntime_directly_with_two_replicas_from_eight_threads(onnx_model, tmp_path):
    """The issue's done-when: compile, save as one file, copy, inspect, load twice, 8 threads."""
    import shutil
    import threading

    saved = neuronkit.compile(onnx_model).save(tmp_path / "a" / "mlp.nk")
    copied = tmp_path / "b" / "mlp.nk"
    copied.parent.mkdir()
    shutil.copy(saved, copied)
    assert neuronkit.open_artifact(copied).manifest.backend.name == "onnx"
    direct = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((5, 4)).astype(np.float32) for _ in range(32)]
    results = {}
    with neuronkit.load(copied, cores=2, group_size=1) as rt:
        assert len(rt.replicas) == 2

        def work(i):
            for j in range(i, len(batches), 8):
                results[j] = rt(batches[j])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    for j, x in enumerate(batches):
        (want,) = direct.run(None, {"x": x})
        assert relative_error(results[j], want) < 1e-6


def test_weights_listed_as_inputs_are_not_inputs(tmp_path):
    model = mlp()
    from onnx import TensorProto, helper
    model.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3]))
    art = neuronkit.compile(model)
    assert [t.name for t in art.inputs] == ["x"]


def test_invalid_model_is_a_compile_error():
    model = mlp()
    model.graph.node[0].input[1] = "missing"
    with pytest.raises(CompileError, match="invalid"):
        neuronkit.compile(model, "onnx")


def test_unsupported_precision_and_target_are_refused(onnx_model):
    with pytest.raises(CompileError, match="precision"):
        neuronkit.compile(onnx_model, "onnx", precision="bf16")
    with pytest.raises(CompileError, match="inf1"):
        neuronkit.compile(onnx_model, "onnx", target="inf1")
    with pytest.raises(CompileError, match="engine"):
        neuronkit.compile(onnx_model, "onnx", engine="tensorrt")
